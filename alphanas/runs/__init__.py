"""Reading a finished (or running) search: show, diff, render, report and
export its candidates.

- :mod:`~alphanas.runs.inspection` — a run folder read for inspection;
- :mod:`~alphanas.runs.show`, :mod:`~alphanas.runs.diff`, :mod:`~alphanas.runs.render`,
  :mod:`~alphanas.runs.report`, :mod:`~alphanas.runs.export` — one module per view;
- :mod:`~alphanas.runs.commands` — their subcommands of the CLI.

May import every stage below it, the search included; nothing imports it but
the CLI and ``alphanas.bench``.
"""
