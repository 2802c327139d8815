"""Elementwise kernels as vectors along their rows (``vepi.elementwise_rows``) on both sides
of every vector width, against PyTorch: forward and gradients (themselves elementwise
kernels), operands dense along the row, broadcast scalars, rows and columns, strided
(transposed) operands, lane masks, float64, and a row length that is the symbolic batch
(a 1-D input). Widths come from ``row_lanes`` for this device and a simulated 8-lane CPU;
rows shorter than ``ROW_MIN`` take the scalar kernel."""
from __future__ import annotations

from itertools import cycle

import numpy as np
from graphnn.codegen.blocking import row_lanes
from graphnn.codegen.vepi import ROW_MIN
from tests.kernel_check import Case, check_all, dialect, dialect_for, prime_between

EIGHT = {"vector_width": 8, "vector_registers": 16}


def row_sizes(d) -> list[int]:
    """Row lengths on both sides of ROW_MIN and of every length where ``row_lanes`` changes
    its width, past one and two of the widest vectors, and a prime."""
    changes = [n for n in range(ROW_MIN + 1, 256) if row_lanes(d, 4, n) !=
               row_lanes(d, 4, n - 1)]
    widest = row_lanes(d, 4, 1 << 12)
    sizes = {ROW_MIN - 1, ROW_MIN, widest + 1, 2 * widest + 1}
    sizes |= {s for n in changes for s in (n - 1, n)}
    return sorted(sizes | {prime_between(2 * widest + 1, 3 * widest)})


def own_kernel(x):
    """``x`` plus a reduction's (zero) result: a chain that reads a kernel's output has a
    kernel of its own (chains reading only graph inputs would share a horizontal one)."""
    return x + x.sum() * 0.0


def chain(kind: str):
    """An elementwise chain over x (rows x n) and operands broadcast in several ways."""
    def fn(lib, x, s, row, col, xt):
        x = own_kernel(x)
        if kind == "affine":        # a scalar, a row bias, relu
            return (x * s + row).relu()
        if kind == "mask":          # a comparison as a where condition, a column operand
            return lib.where(x > col, x / (s * s + 1), -x)
        return lib.maximum(x - xt.transpose(-1, -2), col) * 0.5    # a strided operand
    return fn


def cases(d, tag: str, skip=None) -> list[Case]:
    """A chain per row length of ``row_sizes(d)``, less those of dialect ``skip`` that take
    the same width there."""
    rng = np.random.default_rng(len(tag))
    out = []
    kinds = cycle(["affine", "mask", "strided"])
    sizes = row_sizes(d)
    if skip is not None:
        sizes = [n for n in sizes if n not in row_sizes(skip) or
                 row_lanes(d, 4, n) != row_lanes(skip, 4, n)]
    for i, n in enumerate(sizes):
        rows = 3 if i % 2 else 1
        kind = next(kinds)
        x = rng.standard_normal((rows, n)).astype(np.float32)
        arrays = [x, np.float32(rng.standard_normal()), rng.standard_normal(n),
                  rng.standard_normal((rows, 1)), rng.standard_normal((n, rows))]
        arrays = [np.asarray(a, np.float32) for a in arrays]
        out.append(Case(chain(kind), arrays, f"{tag}-{kind}-{rows}x{n}"))
    return out


def broadcast(lib, x, s):
    """A broadcast input as an output: a copy kernel whose every lane is one value."""
    return s.expand(*x.shape)


def symbolic(lib, x, s):
    """A 1-D input: its length is the symbolic batch, the last vector ragged at run time."""
    x = own_kernel(x)
    return (x * s - 1.0).relu() + x.clone()


def test_elementwise_row_boundaries():
    d = dialect_for("cpu")
    n = 2 * row_lanes(d, 4, 1 << 12) + 3
    one = Case(symbolic, [np.random.default_rng(0).standard_normal(n).astype(np.float32),
                          np.float32(1.5)], f"1-D {n}")
    with dialect("cpu"):
        check_all(cases(d, "device") + [one])


def test_elementwise_row_boundaries_8_lanes():
    """A CPU with 8-lane vectors (AVX2): the lengths where its width differs."""
    d = dialect_for("cpu", **EIGHT)
    with dialect("cpu", **EIGHT):
        check_all(cases(d, "8-lanes", skip=dialect_for("cpu")))


def test_elementwise_rows_float64():
    rng = np.random.default_rng(1)
    n = row_lanes(dialect_for("cpu"), 8, 1 << 12) + 1
    arrays = [rng.standard_normal((2, n)), np.array(0.5), rng.standard_normal(n),
              rng.standard_normal((2, 1)), rng.standard_normal((n, 2))]
    with dialect("cpu"):
        check_all([Case(chain(k), arrays, f"f64 {k}", rtol=1e-12, atol=1e-12)
                   for k in ("affine", "mask")], expect={"relu": True})


def test_elementwise_rows_are_vectors():
    """The paths: rows of ROW_MIN and longer are vectors, shorter ones scalar code; a copy
    of a broadcast value stores whole vectors."""
    rng = np.random.default_rng(2)

    def relu(lib, x):
        return (own_kernel(x) * 2.0).relu()

    for n, vector in ((ROW_MIN - 1, False), (ROW_MIN, True)):
        with dialect("cpu"):
            check_all([Case(relu, [rng.standard_normal((2, n)).astype(np.float32)])],
                      train=False, expect={"relu": vector})
    # alone in its graph (with others reading only graph inputs it joins a horizontal kernel)
    with dialect("cpu"):
        check_all([Case(broadcast, [np.zeros((2, 35), np.float32), np.float32(0.5)])],
                  expect={"copy": True})


def saturating(n: int, rows: int, dtype) -> np.ndarray:
    """Rows of length ``n`` with values on both sides of tanh's float saturation (+-9.1),
    at every lane position, and ordinary values between them."""
    rng = np.random.default_rng(n)
    edges = np.array([9.0, 9.1, 9.2, 20.0, -9.0, -9.1, -9.2, -20.0, 0.0, 0.5, -0.5])
    x = rng.standard_normal((rows, n)) * 3
    x.flat[::3] = np.resize(edges, x.flat[::3].shape)
    return x.astype(dtype)


def test_tanh_rows_saturate_like_pytorch():
    """tanh's vector template (``{T}``-typed saturation constants) against PyTorch at the
    row lengths around every width change, float32 and float64, forward and gradient; the
    rows take the vector path."""
    d = dialect_for("cpu")

    def fn(lib, x):
        return (own_kernel(x) * 1.5).tanh() * 2.0

    sizes = [n for n in row_sizes(d) if n >= ROW_MIN]
    cases = [Case(fn, [saturating(n, 2, np.float32)], f"tanh f32 {n}") for n in sizes]
    n64 = row_lanes(d, 8, 1 << 12) + 1
    cases.append(Case(fn, [saturating(n64, 2, np.float64)], f"tanh f64 {n64}", rtol=1e-12,
                      atol=1e-12))
    with dialect("cpu"):
        check_all(cases, expect={"tanh": True})


def concat_of(axis: int):
    """Two elementwise chains (concat pieces) and a graph input, concatenated on ``axis``."""
    def fn(lib, x, y, z):
        a = (own_kernel(x) * 2.0).tanh()
        b = own_kernel(y) * y - 1.0
        return lib.cat([a, b, z], axis) * 1.5
    return fn


def test_concat_rows_on_both_sides_of_the_vector_width():
    """A concatenation's kernel runs on row vectors when every vector lies inside one
    argument: along the last dim, argument lengths that are multiples of the width (vector
    path), one more and one less (scalar path); along the rows, a ragged last vector. Forward
    and gradients against PyTorch."""
    d = dialect_for("cpu")
    rng = np.random.default_rng(3)
    widest = row_lanes(d, 4, 1 << 12)
    row = 4 * widest
    w = row_lanes(d, 4, row)
    assert row % w == 0

    def arrays(*shapes):
        return [rng.standard_normal(s).astype(np.float32) for s in shapes]

    aligned = Case(concat_of(-1), arrays((2, w), (2, 2 * w), (2, row - 3 * w)), f"last {w}")
    ragged = Case(concat_of(0), arrays((1, 2 * widest + 1), (2, 2 * widest + 1),
                                       (3, 2 * widest + 1)), "rows")
    with dialect("cpu"):
        check_all([aligned, ragged], expect={"concat": True})
    split = [Case(concat_of(-1), arrays((2, k), (2, row - k - w), (2, w)), f"last {k}")
             for k in (w - 1, w + 1)]
    with dialect("cpu"):
        check_all(split, expect={"concat": False})


def builtin_math(lib, x, y):
    """Every elementwise op whose C form is an OpenCL builtin, on x (any real) and y
    (positive), summed so that each one's gradient reaches x or y."""
    x, y = own_kernel(x), own_kernel(y)
    a = lib.erf(x) + lib.log(y) + lib.sqrt(y) + lib.sin(x) * lib.cos(x)
    b = lib.expm1(x * 0.5) + lib.log1p(y) + lib.pow(y, x * 0.5) + lib.atan2(x, y)
    c = lib.fmod(x * 3.0, y) + lib.floor(x * 2.0) + lib.round(x * 2.0) + x.abs() * x.sign()
    return a * b + c


def test_builtin_math_rows_on_both_sides_of_the_vector_width():
    """The builtins' vector templates (erf, log, sqrt, sin, cos, expm1, log1p, pow, atan2,
    fmod, floor, rint, abs, sign: one call per vector on PoCL, not per element) against
    PyTorch at the row lengths around every width change, float32 and float64, forward
    and gradients; the rows take the vector path, and rows shorter than ROW_MIN do not."""
    d = dialect_for("cpu")
    rng = np.random.default_rng(11)

    def inputs(n: int, dtype) -> list:
        x = rng.uniform(-3, 3, (2, n))
        x[np.abs(x) < 1e-3] = 0.5        # abs and sign have no gradient at 0
        return [x.astype(dtype), rng.uniform(0.5, 2.0, (2, n)).astype(dtype)]

    sizes = [n for n in row_sizes(d) if n >= ROW_MIN]
    cases = [Case(builtin_math, inputs(n, np.float32), f"f32 {n}") for n in sizes]
    n64 = row_lanes(d, 8, 1 << 12) + 1
    cases.append(Case(builtin_math, inputs(n64, np.float64), f"f64 {n64}", rtol=1e-10,
                      atol=1e-10))
    ops = ("erf", "log", "sqrt", "sin", "cos", "expm1", "log1p", "pow", "atan2", "fmod",
           "floor", "rint", "abs", "sign")
    with dialect("cpu"):
        check_all(cases, expect={op: True for op in ops})
        check_all([Case(builtin_math, inputs(ROW_MIN - 1, np.float32), "short")],
                  train=False, expect={op: False for op in ops})


def test_erf_vector_form_accuracy():
    """erf's vector template is written with operators (``codegen/mathfn.py``): over 64K
    floats spread across its range, both branches (|x| below and above 0.5) and their
    boundary, within 3 ulp of the float64 value; +-0, +-inf and NaN as PyTorch gives them;
    the vector kernel is the one that ran. (Subnormals are left out: PoCL flushes them to
    zero in every kernel, a plain multiply's too.)"""
    import graphnn as G
    import torch

    from tests.kernel_check import programs

    rng = np.random.default_rng(11)
    x = np.concatenate([rng.standard_normal(1 << 15) * 2, rng.uniform(-0.6, 0.6, 1 << 14),
                        rng.uniform(-5, 5, 1 << 14)]).astype(np.float32)
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2e-38, -2e-38, 1e-8, 0.5,
                      np.nextafter(np.float32(0.5), np.float32(0)), 3.9, 4.0, 10.0, -10.0],
                     np.float32)
    x[:edges.size] = edges
    x = x.reshape(64, -1)
    with dialect("cpu"), programs() as built:
        ours = G.tensor(x).erf().numpy()
    assert any("gnn_erf_float" in p.source for p in built)
    ref = torch.erf(torch.tensor(x, dtype=torch.float64)).numpy()
    ref32 = torch.erf(torch.tensor(x)).numpy()
    finite = np.isfinite(ref)
    ulp = np.spacing(np.abs(ref32[finite]).astype(np.float32)).astype(np.float64)
    err = np.abs(ours[finite].astype(np.float64) - ref[finite]) / ulp
    assert err.max() <= 3, (err.max(), x[finite].ravel()[err.argmax()])
    flat, tref = ours.ravel()[:edges.size], ref32.ravel()[:edges.size]
    np.testing.assert_array_equal(np.signbit(flat[:2]), [False, True])
    np.testing.assert_array_equal(flat[2:4], [1.0, -1.0])
    assert np.isnan(flat[4])
    np.testing.assert_allclose(flat[5:], tref[5:], rtol=3e-7, atol=0)
