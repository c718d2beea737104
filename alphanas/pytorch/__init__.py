"""Programs as PyTorch, and PyTorch models as programs.

- :mod:`~alphanas.pytorch.codegen` — a program as ``nn.Module`` source and module;
- :mod:`~alphanas.pytorch.fx` — a torchvision or PyTorch model (with its
  weights) as a program, through torch.fx.

May import: :mod:`alphanas.ops`, :mod:`alphanas.lang`.
"""
