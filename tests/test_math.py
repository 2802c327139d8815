"""Elementwise math of the tensor surface against PyTorch, beyond the spec rows of
``test_ops.py`` (which run them on the OpenCL device): the same rows on the numpy reference
runtime (the primitives' numpy references), the in-place ``_`` forms, top-level aliases,
dtype rules and grad_fn names. Everything here runs on the reference runtime."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn
from tests.conftest import assert_close
from tests.test_ops import MATH, check_case

F32 = np.float32
X = (np.random.default_rng(4).standard_normal((3, 4)) * 3).astype(F32)
D = (np.abs(np.random.default_rng(5).standard_normal(4)) + 0.5).astype(F32)


@pytest.fixture
def reference(monkeypatch):
    monkeypatch.setenv("GRAPHNN_DEVICE", "reference")


@pytest.mark.parametrize("case", MATH, ids=[c.id for c in MATH])
def test_math_rows_on_reference(reference, case):
    check_case(case)


# in-place forms: (name, call, input) with the input made positive where the domain needs it
INPLACE = [
    ("floor_", lambda x: x.floor_(), X), ("ceil_", lambda x: x.ceil_(), X),
    ("round_", lambda x: x.round_(), X), ("round_decimals", lambda x: x.round_(decimals=1), X),
    ("trunc_", lambda x: x.trunc_(), X), ("fix_", lambda x: x.fix_(), X),
    ("frac_", lambda x: x.frac_(), X), ("exp2_", lambda x: x.exp2_(), X),
    ("log2_", lambda x: x.log2_(), np.abs(X) + 0.1),
    ("log10_", lambda x: x.log10_(), np.abs(X) + 0.1), ("erf_", lambda x: x.erf_(), X),
    ("expm1_", lambda x: x.expm1_(), X), ("log1p_", lambda x: x.log1p_(), np.abs(X)),
    ("tan_", lambda x: x.tan_(), X * 0.3), ("logit_", lambda x: x.logit_(0.1), np.abs(X) / 10),
    ("fmod_", lambda x: x.fmod_(1.25), X), ("remainder_", lambda x: x.remainder_(-1.25), X),
    ("imod", lambda x: x.__imod__(2.0), X), ("atan2_", lambda x: x.atan2_(x * 0 + 2), X),
    ("arctan2_", lambda x: x.arctan2_(x * 0 - 1), X),
]


def _run_inplace(lib, call, arr):
    leaf = lib.tensor(arr.copy(), requires_grad=True)
    y = leaf * 1
    out = call(y)
    name = type(y.grad_fn).__name__ if lib is torch else y.grad_fn.name()
    y.backward(lib.tensor(np.linspace(-1, 1, arr.size, dtype=F32).reshape(arr.shape)))
    return out is y, y.detach().numpy(), y._version, name, leaf.grad.numpy()


@pytest.mark.parametrize("name,call,arr", INPLACE, ids=[r[0] for r in INPLACE])
def test_inplace_forms(reference, name, call, arr):
    t = _run_inplace(torch, call, arr)
    g = _run_inplace(graphnn, call, arr)
    assert g[0] and t[0]
    assert_close(g[1], t[1], 1e-5, 1e-6, what="values")
    assert g[2] == t[2] and g[3] == t[3], (g[2:4], t[2:4])
    assert_close(g[4], t[4], 1e-4, 1e-5, what="gradient")


@pytest.mark.parametrize("name", ["floor_", "ceil_", "round_", "trunc_", "fix_", "exp2_",
                                  "log2_", "log10_", "erf_", "expm1_", "log1p_", "tan_",
                                  "logit_", "relu_", "selu_", "celu_", "rrelu_", "sigmoid_",
                                  "tanh_"])
def test_top_level_inplace_functions(reference, name):
    arr = np.abs(X) / 10
    t, g = torch.tensor(arr), graphnn.tensor(arr)
    assert getattr(graphnn, name)(g) is g
    getattr(torch, name)(t)
    assert_close(g, t, 1e-5, 1e-6)
    assert g._version == t._version


def test_top_level_functions_and_methods_exist():
    for name in ("tan", "atan2", "arctan2", "log1p", "expm1", "erf", "fmod", "remainder",
                 "floor", "ceil", "round", "trunc", "fix", "frac", "exp2", "log2", "log10",
                 "logit", "selu", "celu", "rrelu", "threshold", "prelu", "hardshrink"):
        assert callable(getattr(graphnn, name)), name
    for name in ("tan", "atan2", "arctan2", "log1p", "expm1", "erf", "fmod", "remainder",
                 "floor", "ceil", "round", "trunc", "fix", "frac", "exp2", "log2", "log10",
                 "logit", "hardshrink", "prelu", "__mod__", "__rmod__", "__imod__"):
        assert hasattr(graphnn.Tensor, name), name


def test_dtypes(reference):
    """Integer and bool inputs give float32 for the transcendental functions; rounding
    keeps integer dtypes (a copy, not the input itself); fmod/remainder of integers and
    Python ints stay integer, with a float scalar they are float32."""
    ints = np.array([[-7, -3, 0], [2, 5, 9]], np.int64)
    checks = [lambda L, a: L.erf(a), lambda L, a: L.expm1(a > 0), lambda L, a: L.log2(a),
              lambda L, a: a.tan(), lambda L, a: L.atan2(a, a), lambda L, a: a.floor(),
              lambda L, a: a.round(), lambda L, a: L.trunc(a.int()), lambda L, a: a.ceil(),
              lambda L, a: L.fmod(a, 4), lambda L, a: a % -4, lambda L, a: L.fmod(a, 2.5),
              lambda L, a: L.remainder(a.int(), 3), lambda L, a: a.float() % 4,
              lambda L, a: L.remainder(-5, a.abs() + 1)]
    for k, fn in enumerate(checks):
        tt, gg = torch.tensor(ints), graphnn.tensor(ints)
        t, g = fn(torch, tt), fn(graphnn, gg)
        assert str(g.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], k
        assert g is not gg
        assert_close(g, t, 1e-5, 1e-6, what=str(k))


def test_inplace_dtype_errors(reference):
    for lib in (torch, graphnn):
        a = lib.tensor([1, 2, 3])
        with pytest.raises(RuntimeError, match="result type Float can't be cast"):
            a.log1p_()
        a.floor_()           # keeps the integer dtype
        assert a._version == 1


def test_special_values(reference):
    """inf, nan and signed zeros as PyTorch: floor/ceil/round/trunc keep -0.0, fmod and
    remainder of inf and by 0 give nan, remainder(x, +-inf) and atan2's quadrants."""
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -0.5, 0.5, 2.5, -2.5, 7.0], F32)
    y = np.array([1.5, 2.0, -1.0, 2.0, -3.0, np.inf, -np.inf, 0.0, -2.0, 0.0], F32)
    for fn in (lambda L, a, b: L.floor(a), lambda L, a, b: L.ceil(a),
               lambda L, a, b: L.round(a), lambda L, a, b: L.trunc(a),
               lambda L, a, b: L.frac(a), lambda L, a, b: L.fmod(a, b),
               lambda L, a, b: L.remainder(a, b), lambda L, a, b: L.atan2(a, b),
               lambda L, a, b: L.erf(a), lambda L, a, b: L.expm1(a),
               lambda L, a, b: L.log1p(a)):
        t = fn(torch, torch.tensor(x), torch.tensor(y)).numpy()
        g = fn(graphnn, graphnn.tensor(x), graphnn.tensor(y)).numpy()
        np.testing.assert_allclose(g, t, rtol=1e-6, atol=0)
        np.testing.assert_array_equal(np.signbit(g), np.signbit(t))


def test_zero_divisor_known_only_on_the_host():
    """A divisor computed on the device is not read back: x % 0 is 0 there, no error."""
    a = graphnn.tensor([5, -5, 7])
    b = graphnn.tensor([1, 2, 3]) * 0
    np.testing.assert_array_equal((a % b).numpy(), [0, 0, 0])
