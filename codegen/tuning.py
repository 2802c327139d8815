"""Kernel configurations chosen by measurement: the questions codegen asks a tuner.

A kernel family with several good configurations (the CPU GEMM's register blocks, the GPU
GEMM's tiles) asks ``decide(d, Question(...))``. The question names a *shape class* (the
family, the operand layout and each size rounded to a power of two), lists the candidate
configurations with the family's own rule's pick first, and carries a *probe*: a small
unfused graph of the same shape that the tuner compiles once per candidate and times.

Without a tuner (``Dialect.tuner`` is None: tests of a static dialect, the reference
runtime, ``GRAPHNN_TUNE=0``) or for products too small to repay a measurement, the rule's
pick is the answer, so codegen stays deterministic: the same graph, dialect and tuning
record give byte-identical source. The tuner (``runtime/tune.py``) times each candidate
once per device and shape class and records the winner on disk next to the build cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from graphnn.codegen.dialect import Dialect
from graphnn.ir.graph import Graph
from graphnn.ir.symbolic import is_symbolic
from graphnn.ir.types import DType, TensorType

# products below this many floating-point operations keep the rule's pick: a 256^3 GEMM
# runs in about 0.1 ms on two CPU cores, while timing four candidates costs a second or two
# of device builds
MIN_FLOPS = 1 << 25
Config = tuple   # a candidate: a tuple of ints (stored as JSON lists by the tuner)


@dataclass(frozen=True)
class Question:
    """Which of ``candidates`` to use for ``key``; ``candidates[0]`` is the rule's pick."""
    key: str
    candidates: tuple[Config, ...]
    probe: Callable[[], Graph]      # an unfused graph whose lowering asks the same key
    flops: int = 0                  # the work at stake, to skip tuning small products


def decide(d: Dialect, q: Question) -> Config:
    """The configuration for ``q`` on ``d``: the tuner's, or the rule's pick."""
    if d.tuner is None or len(q.candidates) < 2 or q.flops < MIN_FLOPS:
        return q.candidates[0]
    pick = d.tuner(d, q)
    return pick if pick in q.candidates else q.candidates[0]


def size_class(size) -> str:
    """A size for a shape-class key: ``*`` for a symbolic one (a batch), else its nearest
    power of two (``2^10``), exact below 16 (where blocks are clipped to the size)."""
    if is_symbolic(size):
        return "*"
    size = int(size)
    if size < 16:
        return str(size)
    return f"2^{round(size.bit_length() - 1 + (size / (1 << (size.bit_length() - 1)) > 1.5))}"


def matmul_probe(m: int, n: int, k: int, batch: int, ta: bool, tb: bool,
                 dtype: DType) -> Callable[[], Graph]:
    """A graph of one ``matmul`` of these sizes and layout (``ta``: A stored K x M; ``tb``:
    B stored N x K), inputs of the stored shapes. Symbolic sizes stay symbolic: the kernel
    of a symbolic M (a batch) is another text than that of its value (static sizes are
    folded into the loop bounds and guards), and the probe must time the kernel that runs
    (a 4096 x 768 @ 768 x 3072 product on AVX2 took 0.36 s with a static M and 0.11 s with a
    symbolic one, for the same 4 x 3 register block)."""

    def build() -> Graph:
        g = Graph()
        lead = (batch,) if batch else ()
        a = g.add_input(TensorType(lead + ((k, m) if ta else (m, k)), dtype), "a")
        b = g.add_input(TensorType(lead + ((n, k) if tb else (k, n)), dtype), "b")
        g.outputs.append(g.add("matmul", [a, b], {"ta": ta, "tb": tb}))
        return g

    return build
