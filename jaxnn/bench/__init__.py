"""jaxnn.bench: the benchmark application -- which initialization makes a network converge fastest, and why.

Built on the library (``jaxnn``), never imported by it. The flow is one way:

* :mod:`jaxnn.bench.config` -- the :class:`~jaxnn.bench.config.Config` of one benchmark, the named presets, and its
  single validation;
* :mod:`jaxnn.bench.specs` -- the ``name(arg, key=value)`` spec grammar and its resolution into initializers,
  schemes, losses and optimizers;
* :mod:`jaxnn.bench.experiment` -- a validated Config resolved into data, model, losses, optimizer and schemes;
* :mod:`jaxnn.bench.sweep` -- the engine: K schemes x S seeds trained by one compiled program;
  :mod:`jaxnn.bench.program` (that program), :mod:`jaxnn.bench.execution` (chunks, devices, threads, memory);
* :mod:`jaxnn.bench.summary` and :mod:`jaxnn.bench.stats` -- per-run metrics, medians, CIs and the ranking;
* :mod:`jaxnn.bench.results` -- the resumable results directory; :mod:`jaxnn.bench.plot` -- the figures;
* :mod:`jaxnn.bench.cli` -- ``jaxnn-bench``.

Needs the ``bench`` extra (scikit-learn datasets, matplotlib, tqdm).
"""
