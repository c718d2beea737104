"""One-shot and reinforcement-learning search over grammar spaces.

- ``choices``: a space grammar read as a fixed body with choice points;
- ``supernet``: every alternative of every choice in one ``nn.Module``,
  built through codegen; a path's program and module with its weights;
- ``controller``: the REINFORCE controller, a variation (``reinforce``);
- ``single_path``: single-path weight-sharing training and the ``oneshot``
  evaluator that scores any program of the space with the supernet's weights;
- ``gradient``: DARTS (first order) and GDAS on the supernet;
- ``command``: ``alphanas oneshot CONFIG.toml``.

Floor: above ``alphanas.evaluation``, below ``alphanas.search``: it may import
ops, lang, registry, pytorch, zoo, benchmarks, properties, synth, variation,
surrogate and evaluation, never search, runs, bench or the CLI.
"""
