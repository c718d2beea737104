"""Shared fixtures: a small valid program and a writer of ``.arch`` files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays a fixed set of examples so that a run cannot fail on a newly drawn
# one; local runs keep exploring (and store what they find in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

#: A two-block residual network that uses most of the language: a block with
#: an int parameter and a default, keyword and positional arguments, nested
#: calls, rebinding, integer arithmetic and a comment.
TINY_RESNET = """\
# a tiny resnet
block basic(x, c: int, s: int = 1) {
  y = relu(batchnorm(conv2d(x, c, k=3, s=s, p=1, bias=false)))
  y = batchnorm(conv2d(y, c, k=3, p=1, bias=false))
  return relu(add(x, y))
}
model resnet_tiny(x: [3, 32, 32]) {
  h = relu(batchnorm(conv2d(x, 16, k=3, p=1, bias=false)))
  h = basic(h, 16)
  h = basic(h, c=8 * 2)
  return dense(mean(h, [1, 2]), 10)
}
"""


@pytest.fixture
def tiny_resnet() -> str:
    return TINY_RESNET


@pytest.fixture
def write_arch(tmp_path: Path) -> Callable[..., Path]:
    """``write_arch(text, name="t")`` writes ``tmp_path/name.arch``; returns its path."""

    def write(text: str, name: str = "t") -> Path:
        path = tmp_path / f"{name}.arch"
        path.write_text(text)
        return path

    return write
