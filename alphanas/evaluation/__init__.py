"""How a candidate is scored, and where the scoring runs.

- :mod:`~alphanas.evaluation.evaluator` — the :class:`Evaluator` protocol, metrics
  and their directions, the analytic evaluator, the :data:`EVALUATORS` registry;
- :mod:`~alphanas.evaluation.pareto` — objectives, Pareto fronts, hypervolume;
- :mod:`~alphanas.evaluation.data`, :mod:`~alphanas.evaluation.train`,
  :mod:`~alphanas.evaluation.metrics` — data sets, training, measured metrics;
- :mod:`~alphanas.evaluation.training` — the training evaluator;
- :mod:`~alphanas.evaluation.table` — scores looked up in a benchmark table;
- :mod:`~alphanas.evaluation.executors` — serial, process and Ray executors
  (the :data:`EXECUTORS` registry).

May import every stage below it: ops, lang, registry, pytorch, zoo,
benchmarks, properties, synth, variation.
"""
