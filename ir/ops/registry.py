"""The op registry: every primitive is one ``OpDef`` holding all of its rules.

A rule set (after JAX's ``lax`` primitives and PyTorch's ``derivatives.yaml``):

- ``shape``/``dtype``: type inference from argument types and static attributes;
- ``vjp``: the vector-Jacobian product written with IR ops (``graphnn.ir.builder.Sym``),
  returning one cotangent per argument (``None`` where the argument is not differentiable);
  un-broadcasting is done once, by the autodiff driver;
- ``ref``: a numpy implementation, used by the reference interpreter (the test oracle);
- ``cl``: the OpenCL lowering: a C expression template for elementwise ops (``{0}`` is the
  first argument) or the name of a kernel family in ``graphnn.codegen`` for the others.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable, Optional, Sequence

import numpy as np

from graphnn.ir.types import DType, TensorType
from graphnn.ir.symbolic import as_size


class Kind(Enum):
    """Fusion kinds (TVM's classification)."""

    ELEMWISE = "elemwise"            # one output element from the same index of each input
    BROADCAST = "broadcast"          # like ELEMWISE, reading inputs with broadcast indexing
    INJECTIVE = "injective"          # each output element reads one input element (views)
    REDUCE = "reduce"
    OUT_EWISE_FUSABLE = "out_ewise"  # matmul, conv, pool: elementwise consumers join the epilogue
    OPAQUE = "opaque"


NOT_DIFFERENTIABLE = "not differentiable"   # marker for ops whose outputs carry no gradient
EVERY_ARG = range(1 << 16)       # ``indexed_reads`` of an op that reads every argument so


@dataclass(frozen=True)
class Reducer:
    """How the reduce family folds the values of a reduced run: C statements over ``acc``
    (the running result), ``v`` (the value at position ``r`` of the run), ``best`` (a kept
    position) and ``run_max`` (a running maximum, for log-sum-exp)."""

    step: str                  # folds ``v`` into ``acc``
    float_step: str = ""       # the step for floating-point values, when NaN needs its own
    finish: str = ""           # runs once after the loop
    index: bool = False        # the result is the kept position ``best``, not ``acc``
    sums: bool = False         # a sum: vectorised loads and blocked summation apply
    # partial results over pieces of the run fold with the same op (two-stage reductions)
    splits: bool = False


@dataclass(frozen=True)
class OpDef:
    name: str
    kind: Kind
    nargs: int
    shape: Callable[[list[TensorType], dict], tuple]
    dtype: Callable[[list[TensorType], dict], DType]
    vjp: Callable | str                      # callable(ctx, g) -> list[Sym | None], or marker
    ref: Callable[[list[np.ndarray], dict], np.ndarray]
    cl: str                                  # C expression template or kernel family name
    doc: str = ""
    # the type arguments are converted to before the C template applies: "out" (the result
    # type, for arithmetic) or "promote" (the common argument type, for comparisons)
    operand_dtype: str = "out"
    # row-vectorised epilogues (codegen/vepi.py): the C template on a vector of outputs, whose
    # operands that are the same for every lane are widened to vectors; ``{zero}`` is zero of
    # the row's type. None: scalar epilogues only. A bool result is a lane mask, usable only
    # as a ``where`` condition.
    vector: Optional[str] = None
    # PyTorch's grad_fn name of a result ("Mm" names MmBackward0); default: the op's name
    grad_name: str = ""
    # arguments read at an index other than the output's (fusion materialises them)
    indexed_reads: Sequence[int] = ()
    reducer: Optional[Reducer] = None        # Kind.REDUCE: how the kernel folds values
    # kernel anchors: flops of one launch from (argument types, result type, attrs); None:
    # one per element computed
    flops: Optional[Callable[[list[TensorType], TensorType, dict], int]] = None
    # kernel anchors: ``(argument, axes)`` of a sum of that argument that the kernel can
    # accumulate alongside its own result (a bias gradient next to the weight gradient), from
    # (argument types, attrs); None: no such sum
    side_sum: Optional[Callable[[list[TensorType], dict], Optional[tuple]]] = None
    # argument positions whose Python-scalar operand is read in float32 when the tensors
    # are 16-bit floats (PyTorch's CPU mul and div use the scalar's ``opmath`` value); a
    # scalar elsewhere is rounded to the tensors' type first, as PyTorch's other kernels
    # (add, sub, where, comparisons) convert it
    scalar_opmath: tuple[int, ...] = ()
    # indexed ops whose value is a sum of guarded reads of argument 0 (pad, im2col): from
    # (attrs, argument shape, result shape, the result's index as C expressions), a list of
    # (conditions, the argument's index) pairs; a read counts where all its conditions hold
    guarded_reads: Optional[Callable] = None


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in REGISTRY:
        raise ValueError(f"op {op.name!r} registered twice")
    REGISTRY[op.name] = op
    return op


def get(name: str) -> OpDef:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown IR op {name!r}") from None


def infer_type(op: str, args: list[TensorType], attrs: dict) -> TensorType:
    d = get(op)
    if d.nargs >= 0 and len(args) != d.nargs:
        raise TypeError(f"{op} takes {d.nargs} arguments, got {len(args)}")
    # sizes become plain ints (numpy integers from shape rules), symbolic ones stay symbolic
    return TensorType(tuple(as_size(s) for s in d.shape(args, attrs)), d.dtype(args, attrs))


@dataclass
class VJPContext:
    """What a VJP rule sees: forward arguments and output as Syms, static attrs and types."""

    args: list          # list[Sym]
    out: object         # Sym
    attrs: dict
    types: list[TensorType]
    out_type: TensorType
