"""One differential check shared by the kernel boundary and fuzz tests.

``check(fn, arrays)`` calls ``fn(lib, *tensors)`` with ``lib=graphnn`` and ``lib=torch`` on
the same values. On the graphnn side ``fn`` runs inside a traced module, as in a model, so
its elementwise tail fuses into the anchor's kernel (bias, relu, masks, a pooling tail)
instead of running as separate eager ops. It compares the training output, the gradient
of every float input for one random cotangent and, on request, the inference output
(no_grad, where a pooling tail fuses even over stored values). PyTorch 2.13 is the oracle.
It can also assert which kernel path (row-vectorised or generic) an op's kernels took, so
that a boundary table notices when its cases stop reaching the code they were made for."""
from __future__ import annotations

import contextlib
import dataclasses
import re
import sys

import numpy as np
import pytest
import torch

import graphnn as G
from graphnn.codegen import CPU, GPU
from graphnn.codegen.vec import width_for
from graphnn.runtime import get_runtime
from tests.conftest import assert_close


class _Traced(G.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(G, *xs)


def logsumexp(lib, x, dims, keepdim=False):
    """torch.logsumexp over several dims; graphnn has the primitive but no public function."""
    if lib is torch:
        return torch.logsumexp(x, dims, keepdim)
    from graphnn._dispatch import apply
    axes = tuple(sorted(d % x.dim() for d in dims))
    return apply("logsumexp", x, axes=axes, keepdim=keepdim)


ANCHORS = ("matmul", "conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_grad")
_VECTOR = re.compile(r"\b(float|double)(2|4|8|16)\b")


def _kernel_source(program, name: str) -> str:
    """The kernel's text, up to its closing brace (the next kernel's typedefs follow)."""
    start = program.source.index(f"__kernel void {name}(")
    end = program.source.find("\n}\n", start)
    return program.source[start:end + 2 if end > 0 else None]


def row_path(program, launch) -> bool:
    """Whether a launch ran a row-vectorised kernel (conv/gemm/pool.py, the vectorised sum)
    rather than the generic one: the generic kernels are 1-D launches (3-D for the generic
    GEMM) of scalar code."""
    if "matmul" in launch.ops:
        return bool(_VECTOR.search(_kernel_source(program, launch.kernel)))
    if any(op in launch.ops for op in ANCHORS):
        return len(launch.global_size) == 3
    return bool(_VECTOR.search(_kernel_source(program, launch.kernel)))


@contextlib.contextmanager
def programs():
    """Collects the Program of every executable built inside."""
    rt = get_runtime()
    seen = []
    if not hasattr(rt, "executable") or getattr(rt, "dialect", None) is None:
        yield seen
        return
    build = rt.executable
    own = rt.__dict__.get("executable")     # an outer programs() block's recorder

    def recording(program, *args, **kwargs):
        seen.append(program)
        return build(program, *args, **kwargs)

    rt.executable = recording
    try:
        yield seen
    finally:
        if own is None:
            del rt.executable
        else:
            rt.executable = own


def paths(progs, op: str) -> list[bool]:
    """row_path of every launch whose kernel computes ``op`` (a reduction op: only kernels
    without an anchor; ``pack``: True for each launch that packs a GEMM operand)."""
    out = []
    for prog in progs:
        for launch in prog.launches:
            if op == "pack":      # a GEMM's B packed into panels: a launch of its own
                out += [True] if launch.ops == ["pack"] else []
                continue
            if op in launch.ops and (op in ANCHORS or
                                     not any(a in launch.ops for a in ANCHORS)):
                out.append(row_path(prog, launch))
    return out


@dataclasses.dataclass
class Case:
    """One function and its inputs; float inputs require grad unless listed in ``nograd``."""
    fn: object
    arrays: list
    what: str = ""
    nograd: tuple = ()
    rtol: float = 1e-4
    atol: float = 1e-4


def check(fn, arrays, nograd=(), rtol=1e-4, atol=1e-4, seed=0, inference=False, train=True,
          expect=None, what=""):
    """``check_all`` of one function."""
    check_all([Case(fn, arrays, what, nograd, rtol, atol)], seed, inference, train, expect)


def check_all(cases: list, seed=0, inference=False, train=True, expect=None):
    """Forward and every gradient of each case's function against PyTorch, all in one
    traced module (one program for the forward, one for the backward: compiling is most of
    a kernel test's time) and one backward pass, each result compared on its own.
    ``inference`` also compares the outputs under no_grad (other fusion: a pooling tail
    over stored values), ``train=False`` only those. ``expect`` maps an op to whether its
    kernels take the row-vectorised path: those of the forward program if the op is there,
    else those of the backward program."""
    spans, arrays, grads = [], [], []
    for c in cases:
        start = len(arrays)
        arrays += list(c.arrays)
        spans.append((start, len(arrays)))
        if train:
            grads += [start + i for i, a in enumerate(c.arrays)
                      if np.asarray(a).dtype.kind == "f" and i not in c.nograd]

    def every(lib, *xs):
        return tuple(c.fn(lib, *xs[a:b]) for c, (a, b) in zip(cases, spans))

    # by position, not ``cases.index``: Case equality compares numpy arrays
    owner = {i: (c, a) for c, (a, b) in zip(cases, spans) for i in range(a, b)}
    ts = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    gs = [G.tensor(a) for a in arrays]
    for i in grads:
        gs[i].requires_grad_(True)
    outs_t = every(torch, *ts)
    mod = _Traced(every)

    def compare(outs, stage):
        for c, o, t in zip(cases, outs, outs_t):
            assert_close(o, t, c.rtol, c.atol, what=f"{c.what} {stage}")

    with programs() as fwd:
        if inference or not train:
            with G.no_grad():
                compare(mod(*gs), "inference")
        if train:
            outs_g = mod(*gs)
            compare(outs_g, "forward")
    with programs() as bwd:
        diff = [k for k, o in enumerate(outs_t) if o.requires_grad]
        if grads and diff:
            rng = np.random.default_rng(seed)
            rs = [rng.standard_normal(tuple(outs_t[k].shape)).astype(
                np.float64 if outs_t[k].dtype == torch.float64 else np.float32) for k in diff]
            torch.autograd.backward([outs_t[k] for k in diff], [torch.tensor(r) for r in rs])
            G.autograd.backward([outs_g[k] for k in diff], [G.tensor(r) for r in rs])
        for i in grads:
            c, first = owner[i]
            what = f"{c.what} grad of input {i - first}"
            if ts[i].grad is None:     # an input the output does not depend on
                assert gs[i].grad is None, f"{what}: unexpected"
                continue
            assert gs[i].grad is not None, f"{what}: missing"
            assert_close(gs[i].grad, ts[i].grad, c.rtol, c.atol, what=what)
    for op, fast in (expect or {}).items():
        if not fwd:
            break           # the numpy reference runtime has no kernels
        found = paths(fwd, op) or paths(bwd, op)
        assert found and all(f == fast for f in found), \
            f"{[c.what for c in cases]}: {op} kernels {'not ' if fast else ''}" \
            f"row-vectorised: {found}"


def chunks(params: list, size: int, key=lambda p: None) -> list:
    """pytest params (one dict each) grouped ``size`` at a time among those with the same
    ``key`` (say, the kernel paths they must take), as one param of a list of dicts."""
    groups: dict = {}
    for p in params:
        groups.setdefault(key(p), []).append(p)
    out = []
    for members in groups.values():
        for i in range(0, len(members), size):
            part = members[i:i + size]
            out.append(pytest.param([p.values[0] for p in part],
                                    id="+".join(p.id for p in part)))
    return out


def dialect_for(name: str, **simulated):
    """The ``name`` dialect with this device's numbers, as GRAPHNN_DIALECT=name gives it
    (the static one on the numpy reference runtime), with the fields in ``simulated``
    replaced: another CPU's vector width, registers or caches, whose kernels run on this
    device all the same."""
    base = CPU if name == "cpu" else GPU
    own = getattr(get_runtime(), "dialect", None)
    if own is not None:
        base = dataclasses.replace(base, compute_units=own.compute_units,
                                   max_work_group=own.max_work_group, fp64=own.fp64,
                                   int64_atomics=own.int64_atomics,
                                   int64_index=own.int64_index, local_mem=own.local_mem,
                                   device=own.device,
                                   **{f: getattr(own, f) for f in SIMD_FIELDS})
    return dataclasses.replace(base, **simulated)


SIMD_FIELDS = ("vector_width", "vector_registers", "l1_bytes", "l2_bytes")


@contextlib.contextmanager
def dialect(name: str, **simulated):
    """Graphs traced and compiled inside use the ``name`` dialect's kernels (without a new
    process), with ``simulated`` fields replaced (``dialect_for``). Yields the dialect, or
    None on the numpy reference runtime."""
    with _swapped(lambda own: dialect_for(name, **simulated)) as d:
        yield d


@contextlib.contextmanager
def own_dialect(**simulated):
    """The runtime's own dialect (device and kernel family unchanged) with the fields in
    ``simulated`` replaced; nothing changes on the numpy reference runtime. Tests that count
    a model's launches use it to fix the per-device choices that add a launch:
    ``l2_bytes=UNPACKED_L2`` keeps B unpacked, which ``blocking.pack_b`` packs once it is
    half the L2 (LeNet's 576 x 120 weight on a CPU with 512 KiB of L2)."""
    with _swapped(lambda own: dataclasses.replace(own, **simulated)) as d:
        yield d


@contextlib.contextmanager
def _swapped(make):
    """The runtime's dialect set to ``make(own dialect)`` inside, restored after; yields
    it, or None on the numpy reference runtime (which has none)."""
    rt = get_runtime()
    old = getattr(rt, "dialect", None)
    if old is None:
        yield None
        return
    rt.dialect = make(old)
    try:
        yield rt.dialect
    finally:
        rt.dialect = old


UNPACKED_L2 = 1 << 40   # an L2 no B reaches: blocking.pack_b never packs


def around(w: int) -> list[int]:
    """Sizes on both sides of a block, tile or vector of ``w``: 1, w-1, w, w+1, 2w+1."""
    return sorted({1, max(1, w - 1), w, w + 1, 2 * w + 1})


def is_prime(p: int) -> bool:
    return p > 1 and all(p % d for d in range(2, int(p ** 0.5) + 1))


def prime_between(lo: int, hi: int) -> int:
    """The smallest prime in (lo + 1, hi), else the smallest above lo: a size that no
    block divides, strictly inside a block pair where there is room."""
    p = next((q for q in range(lo + 2, hi) if is_prime(q)), None)
    return p if p is not None else next(q for q in range(lo + 1, 4 * lo + 8) if is_prime(q))


def matmul(lib, a, b, ta=False, tb=False):
    """The product with ``a`` (``b``) read transposed: for graphnn through the matmul
    primitive's ta/tb attributes, the layouts its VJPs and F.linear use (a user's
    ``a.t() @ b`` is a strided view instead); for torch through views."""
    if lib is torch:
        return (a.transpose(-1, -2) if ta else a) @ (b.transpose(-1, -2) if tb else b)
    from graphnn._dispatch import apply
    return apply("matmul", a, b, ta=ta, tb=tb)


# -- sizes of the row-vectorised kernels (convolution, pooling, their epilogues) ------------
ROW_MAX = CPU.row_max               # longer rows take the generic kernels
WIDTHS = sorted({width_for(n) for n in range(1, ROW_MAX + 1)})
WIDEST = WIDTHS[-1]


def nvec(cols: int) -> int:
    """Vectors per row of ``cols`` elements."""
    return -(-cols // width_for(cols))


def row_sizes() -> list[int]:
    """Row lengths around every vector width, around the vector count at row_max and
    row_max itself, and a prime between two widths of the widest vector."""
    sizes = {s for w in WIDTHS for s in around(w)}
    sizes |= {ROW_MAX - 1, ROW_MAX, ROW_MAX + 1, prime_between(2 * WIDEST + 1, 3 * WIDEST)}
    return sorted(sizes)


ROWS = row_sizes()


def reduce_fn(op, axes, keepdim, perm=None):
    """``op`` over ``axes`` of the input, which arrives permuted by ``perm`` (a strided view
    of the stored array) when given."""
    def fn(lib, x):
        if perm is not None:
            x = x.permute(*np.argsort(perm).tolist())
        if op == "sum":
            return x.sum(dim=axes, keepdim=keepdim)
        if op == "mean":
            return x.mean(dim=axes, keepdim=keepdim)
        if op == "sum_sq":            # an elementwise prologue inside the reduction loop
            return (x * x).sum(dim=axes, keepdim=keepdim)
        if op in ("amax", "amin"):
            return getattr(x, op)(dim=axes, keepdim=keepdim)
        if op == "argmax":
            return x.argmax(dim=axes[0], keepdim=keepdim)
        if op == "max_dim":
            return x.max(dim=axes[0], keepdim=keepdim).values
        return logsumexp(lib, x, axes, keepdim)
    return fn


@contextlib.contextmanager
def conv_path(path: str | None):
    """Convolutions inside: ``"gemm"``, every ungrouped one as a GEMM over im2col columns
    (``ir/passes/conv_gemm.py``), whatever its channels and rows; ``"direct"``, none; None,
    the rule's choice. A fresh eager-op cache inside (a cached eager convolution keeps the
    path it was lowered with), the outer one restored after."""
    from graphnn import _dispatch
    mod = sys.modules["graphnn.ir.passes.conv_gemm"]
    saved, eager = mod.as_gemm, _dispatch._EAGER
    if path == "gemm":
        mod.as_gemm = lambda op, x, w, out, at, lanes: at["groups"] == 1
    elif path == "direct":
        mod.as_gemm = lambda *args: False
    _dispatch._EAGER = {}
    try:
        yield
    finally:
        mod.as_gemm, _dispatch._EAGER = saved, eager
