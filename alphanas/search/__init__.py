"""The search: the loop, parent selection, the run's store and its config.

- :mod:`~alphanas.search.loop` — the steady-state loop (:class:`Search`),
  :func:`run_search` and :func:`resume`;
- :mod:`~alphanas.search.ask_tell` — the same search, driven by the caller:
  ``ask()`` a candidate, evaluate it anywhere, ``tell()`` its metrics;
- :mod:`~alphanas.search.selection` — parent selection (the :data:`SELECTIONS` registry);
- :mod:`~alphanas.search.store` — ``run.sqlite``: every candidate, written as it happens;
- :mod:`~alphanas.search.config` — the TOML search config, checked before any work;
- :mod:`~alphanas.search.tensorboard_log` — optional TensorBoard events.

May import every stage below it: ops, lang, registry, pytorch, zoo,
benchmarks, properties, synth, variation, evaluation.
"""

from alphanas.search.ask_tell import AskTell, Trial
from alphanas.search.config import SearchConfig, load_config
from alphanas.search.loop import (
           Search,
           SearchResult,
           reopen_search,
           resume,
           run_search,
           start_search,
)

__all__ = ["AskTell", "Search", "SearchConfig", "SearchResult", "Trial", "load_config", "reopen_search", "resume",
           "run_search", "start_search"]
