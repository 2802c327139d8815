"""What codegen hands to the runtime: one OpenCL source and an ordered launch plan."""
from __future__ import annotations

from dataclasses import dataclass, field

from graphnn.ir.types import TensorType


@dataclass
class Launch:
    """One kernel enqueue. ``args`` are node ids of materialised values, in argument order;
    ``sizes`` the (C type, value) of the kernel's size arguments that follow them."""

    kernel: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    args: list[int]
    group: int
    ops: list[str]
    scope: str
    flops: int = 0
    bytes: int = 0
    sizes: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Program:
    source: str
    launches: list[Launch]
    buffers: dict[int, TensorType]          # values the plan allocates (stores, not inputs)
    inputs: list[int]                       # graph inputs, in order
    outputs: list[tuple[int, TensorType]]   # per graph output: (buffer node, output type)
    options: tuple[str, ...] = ("-cl-denorms-are-zero",)
    notes: dict = field(default_factory=dict)
