"""Search configuration: a TOML file, checked before any work starts.

```toml
seed_program = "zoo:resnet18_cifar"   # a .arch path, zoo:NAME or torchvision:NAME
seed_params = { width = 16 }          # the model's int parameters (optional)
input_shape = [3, 32, 32]             # required for torchvision:NAME; else overrides the program's
seed = 0
run_dir = "runs/r18"                  # relative paths are relative to this file's folder
population = 32
objectives = ["accuracy", { name = "params", worst = 2e6 }]
tensorboard = false                   # log the hypervolume and best objectives to RUN_DIR/tensorboard
                                      # (needs the tensorboard package: pip install 'alphanas[tensorboard]')

[constraints]                         # budgets, passed to the variation
max_params = 1_000_000
max_flops = 5e8

[strategy]
variation = "alphanas"                # alphanas | random_edit | random_sample | module:Class
selection = "pareto_weighted"         # nsga2 | pareto_weighted | aging | module:Class
variation_options = {}                # the fields of the variation's settings
selection_options = { min_accuracy = 0.5 }   # the fields of the selection's settings

[budget]
children = 500                        # evaluated children (the seed not counted)
wall_seconds = 3600                   # optional
max_variation_failures = 5000         # optional; default 10 x children

[executor]
kind = "process"                      # serial | process | ray | module:Class
workers = 1                           # 1: exactly reproducible; more: asynchronous
timeout_seconds = 600                 # per candidate (the worker is killed)
# address = "auto"                    # kind = "ray" only: a cluster to join

[evaluator]
kind = "training"                     # analytic | training | nb201 | module:Class
fidelity = { epochs = 1 }
keep_checkpoints = false              # give each evaluation a folder for its weights
inherit_weights = false               # pass the parent's checkpoint (needs keep_checkpoints)

[evaluator.options]                   # keyword arguments of the evaluator's constructor;
data = { name = "cifar10" }           # a nested table becomes the dataclass the argument
config = { batch_size = 128 }         # is annotated with (DataSpec, TrainConfig)
```

With ``kind = "nb201"`` and ``options = { table = "nb201.csv" }`` (a
NAS-Bench-201 table, :mod:`alphanas.evaluation.table`), objectives are named
by the table's columns — ``*_acc`` maximised, ``latency_ms_*`` minimised —
or ``params`` and ``flops``.

Variations, selections, evaluators and executors are plug-ins, named by
their registered name or by ``module:Class`` (:mod:`alphanas.registry`;
docs/extending.md says how to write one). The configuration asks their
registries what exists and which options each takes; the values of the
options are each plug-in's own to check.

The package is split by responsibility: :mod:`.schema` (the dataclasses
and the form stored with a run), :mod:`.reading` (the TOML reader, every
error located at its key), :mod:`.building` (the seed program and the
plug-ins, built from their registries).

Every mistake — an unknown key (with the closest known one), a wrong type,
an unknown objective, an unknown plug-in (with the closest known name), an
option a plug-in does not take (with its options), a value its settings
reject, a budget the variation does not take or the seed program already
breaks — raises an
:class:`~alphanas.lang.errors.AlphanasError` pointing at the file and line of the
key (found in the TOML text), with a hint. TOML is read with the standard
library's ``tomllib`` (Python 3.11+), or the ``tomli`` package on 3.10.
"""

from alphanas.search.config.building import (
    build_evaluator,
    build_executor,
    build_selection,
    build_variation,
    check_plugins,
    load_seed_program,
)
from alphanas.search.config.reading import load_config, tomllib
from alphanas.search.config.schema import (
    BudgetConfig,
    ConfigError,
    Constraints,
    EvaluatorConfig,
    ExecutorConfig,
    ObjectiveSpec,
    SearchConfig,
    SpaceConfig,
    StrategyConfig,
)

__all__ = [
    "BudgetConfig",
    "ConfigError",
    "Constraints",
    "EvaluatorConfig",
    "ExecutorConfig",
    "ObjectiveSpec",
    "SearchConfig",
    "SpaceConfig",
    "StrategyConfig",
    "build_evaluator",
    "build_executor",
    "build_selection",
    "build_variation",
    "check_plugins",
    "load_config",
    "load_seed_program",
    "tomllib",
]
