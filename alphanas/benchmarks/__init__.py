"""NAS benchmarks written in the language: their networks, cells, layers and
architecture strings (NAS-Bench-201: :mod:`~alphanas.benchmarks.nb201`;
NAS-Bench-Macro: :mod:`~alphanas.benchmarks.nbmacro`). The tables that score
them are read by :mod:`alphanas.evaluation.table`; their search spaces are
grammars in ``grammars/spaces/``.

May import: :mod:`alphanas.ops`, :mod:`alphanas.lang`, ``grammars``.
"""
