"""The language: text to IR and back, and what a program computes.

- :mod:`~alphanas.lang.ir` — the typed graph IR (SSA; frozen values);
- :mod:`~alphanas.lang.parse` — text to IR (Lark, the grammar in ``grammars/``);
- :mod:`~alphanas.lang.printer` — IR to canonical text;
- :mod:`~alphanas.lang.errors` — located errors with hints, for every stage;
- :mod:`~alphanas.lang.analysis` — shape inference and costs (memoised per program);
- :mod:`~alphanas.lang.canonical` — canonical hashing;
- :mod:`~alphanas.lang.regions` — regions of a graph: growth, extraction;
- :mod:`~alphanas.lang.checked` — a program checked once, handed on to every later stage;
- :mod:`~alphanas.lang.summary` — the per-statement report of ``alphanas check``.

May import: :mod:`alphanas.ops` and ``grammars`` only.
"""
