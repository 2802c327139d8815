"""Activations against PyTorch 2.13: one spec row per configuration, functional and module
forms, in place and not.

Every row runs on the same sample input (its breakpoints: 0, +-0.5, +-1, +-3, 6, 20, large
values), with the same random cotangent in both libraries; the outputs, their dtypes,
PyTorch's grad_fn names and the gradients of every float input (and module parameter)
must agree to ~1e-4. The semantics (names, in-place versions, errors) run per row on the
numpy reference runtime, which compiles nothing; the OpenCL kernels run for the whole table
at once: one traced module applies every row to its own copy of the input, so the table
costs one forward and one backward program."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
import torch

import graphnn
from tests.conftest import assert_close

F32, F64 = np.float32, np.float64
BREAKS = [-100, -30, -20, -6, -3, -2.5, -1, -0.5, -0.25, -1e-3, 0, 1e-3, 0.25, 0.5, 1, 2.5,
          3, 6, 20, 30, 100]


def _sample() -> np.ndarray:
    rng = np.random.default_rng(5)
    vals = np.concatenate([BREAKS, rng.standard_normal(32 - len(BREAKS)) * 2])
    return rng.permutation(vals).reshape(4, 8).astype(F32)


X = _sample()
X64 = X.astype(F64)
XI = np.array([[-3, -1, 0, 1], [2, 5, 6, 9]], np.int64)
W1 = np.array([0.25], F32)
W8 = np.linspace(-0.5, 0.5, 8).astype(F32)


def F(lib):
    return lib.nn.functional


@dataclass
class Act:
    id: str
    fn: Callable            # fn(lib, x, *params) -> tensor, or None for a module row
    inputs: list = field(default_factory=lambda: [X])
    module: Callable | None = None     # module(nn) -> a module applied to the first input
    name: bool = True       # compare grad_fn names (PyTorch's composites have their own)
    device: bool = False    # part of the OpenCL table (one row per distinct kernel)


def fa(id, fn, inputs=None, **kw):
    return Act(id, fn, inputs if inputs is not None else [X], **kw)


def mo(id, module, inputs=None, **kw):
    return Act(id, None, inputs if inputs is not None else [X], module, name=False, **kw)


def inp(fn):
    """``fn`` applied in place to a non-leaf copy of the input (the result is the copy)."""
    return lambda L, x, *p: fn(L, x * 1, *p)


FUNCTIONAL = [
    fa("relu", lambda L, x: F(L).relu(x)),
    fa("relu_inplace", inp(lambda L, x: F(L).relu(x, inplace=True))),
    fa("relu6", lambda L, x: F(L).relu6(x), device=True),
    fa("relu6_inplace", inp(lambda L, x: F(L).relu6(x, inplace=True))),
    fa("hardtanh", lambda L, x: F(L).hardtanh(x, -2.5, 3.0), device=True),
    fa("hardtanh_", inp(lambda L, x: F(L).hardtanh_(x))),
    fa("threshold", lambda L, x: F(L).threshold(x, 0.25, -2.0), device=True),
    fa("threshold_inplace", inp(lambda L, x: F(L).threshold(x, 0.25, -2.0, True))),
    fa("leaky_relu", lambda L, x: F(L).leaky_relu(x, 0.2), device=True),
    fa("leaky_relu_", inp(lambda L, x: F(L).leaky_relu_(x, 0.2))),
    fa("prelu_1", lambda L, x, w: F(L).prelu(x, w), [X, W1]),
    fa("prelu_c", lambda L, x, w: F(L).prelu(x, w), [X, W8], device=True),
    fa("prelu_3d", lambda L, x, w: F(L).prelu(x.reshape(2, 8, 2), w), [X, W8]),
    fa("rrelu_eval", lambda L, x: F(L).rrelu(x, 0.1, 0.3)),
    fa("rrelu_eval_inplace", inp(lambda L, x: F(L).rrelu(x, 0.1, 0.3, inplace=True))),
    fa("elu", lambda L, x: F(L).elu(x)),
    fa("elu_alpha", lambda L, x: F(L).elu(x, 0.5), device=True),
    fa("elu_inplace", inp(lambda L, x: F(L).elu(x, 2.0, inplace=True)), device=True),
    fa("selu", lambda L, x: F(L).selu(x), device=True),
    fa("selu_", inp(lambda L, x: F(L).selu_(x))),
    fa("celu", lambda L, x: F(L).celu(x, 0.5), device=True),
    fa("celu_inplace", inp(lambda L, x: F(L).celu(x, 1.5, inplace=True))),
    fa("gelu", lambda L, x: F(L).gelu(x), device=True),
    fa("gelu_tanh", lambda L, x: F(L).gelu(x, approximate="tanh"), device=True),
    fa("silu", lambda L, x: F(L).silu(x), device=True),
    fa("silu_inplace", inp(lambda L, x: F(L).silu(x, inplace=True))),
    fa("mish", lambda L, x: F(L).mish(x), device=True),
    fa("mish_inplace", inp(lambda L, x: F(L).mish(x, inplace=True))),
    fa("softplus", lambda L, x: F(L).softplus(x)),
    fa("softplus_beta", lambda L, x: F(L).softplus(x, 2.0, 5.0), device=True),
    fa("softplus_neg_beta", lambda L, x: F(L).softplus(x, -0.5, 4.0)),
    fa("logsigmoid", lambda L, x: F(L).logsigmoid(x), device=True),
    fa("sigmoid", lambda L, x: F(L).sigmoid(x)),
    fa("tanh", lambda L, x: F(L).tanh(x)),
    fa("hardsigmoid", lambda L, x: F(L).hardsigmoid(x), device=True),
    fa("hardsigmoid_inplace", inp(lambda L, x: F(L).hardsigmoid(x, True))),
    fa("hardswish", lambda L, x: F(L).hardswish(x), device=True),
    fa("hardswish_inplace", inp(lambda L, x: F(L).hardswish(x, True)), device=True),
    fa("softsign", lambda L, x: F(L).softsign(x), device=True),
    fa("softshrink", lambda L, x: F(L).softshrink(x), device=True),
    fa("softshrink_0", lambda L, x: F(L).softshrink(x, 0.0)),
    fa("hardshrink", lambda L, x: F(L).hardshrink(x, 1.0), device=True),
    fa("tanhshrink", lambda L, x: F(L).tanhshrink(x), device=True),
    fa("glu", lambda L, x: F(L).glu(x)),
    fa("glu_0", lambda L, x: F(L).glu(x, 0), device=True),
    fa("softmax", lambda L, x: F(L).softmax(x, 1)),
    fa("softmax_0", lambda L, x: F(L).softmax(x, dim=0)),
    fa("softmax_f64", lambda L, x: F(L).softmax(x, -1, dtype=L.float64)),
    fa("log_softmax", lambda L, x: F(L).log_softmax(x, -1)),
    fa("softmin", lambda L, x: F(L).softmin(x, 1), device=True),
    fa("torch_selu", lambda L, x: L.selu(x)),
    fa("torch_rrelu", lambda L, x: L.rrelu(x, 0.2, 0.4)),
    fa("tensor_hardshrink", lambda L, x: x.hardshrink(0.25)),
    fa("tensor_prelu", lambda L, x, w: x.prelu(w), [X, W8]),
    # float64 (constants and branch values keep the input's precision)
    fa("gelu_f64", lambda L, x: F(L).gelu(x), [X64], device=True),
    fa("elu_f64", lambda L, x: F(L).elu(x, 0.3), [X64], device=True),
    fa("threshold_f64", lambda L, x: F(L).threshold(x, 0.1, 0.1), [X64], device=True),
    fa("softplus_f64", lambda L, x: F(L).softplus(x, 3.0, 7.0), [X64], device=True),
    fa("logsigmoid_f64", lambda L, x: F(L).logsigmoid(x), [X64]),
    fa("mish_f64", lambda L, x: F(L).mish(x), [X64], device=True),
    fa("hardswish_f64", lambda L, x: F(L).hardswish(x), [X64]),
    # integer inputs: kept (ReLU family) or float32 (composites), as PyTorch
    fa("relu_int", lambda L, x: F(L).relu(x), [XI]),
    fa("relu6_int", lambda L, x: F(L).relu6(x), [XI]),
    fa("hardtanh_int", lambda L, x: F(L).hardtanh(x, -2.0, 5.0), [XI]),
    fa("threshold_int", lambda L, x: F(L).threshold(x, 1.0, 7.0), [XI]),
    fa("sigmoid_int", lambda L, x: F(L).sigmoid(x), [XI]),
    fa("softsign_int", lambda L, x: F(L).softsign(x), [XI]),
    fa("tanhshrink_int", lambda L, x: F(L).tanhshrink(x), [XI]),
]

MODULES = [
    mo("ReLU", lambda nn: nn.ReLU()),
    mo("ReLU_inplace", lambda nn: nn.ReLU(inplace=True)),
    mo("ReLU6", lambda nn: nn.ReLU6()),
    mo("Hardtanh", lambda nn: nn.Hardtanh(-0.5, 2.5)),
    mo("Threshold", lambda nn: nn.Threshold(-1.0, 4.0)),
    mo("LeakyReLU", lambda nn: nn.LeakyReLU(0.05)),
    mo("PReLU", lambda nn: nn.PReLU()),
    mo("PReLU_c", lambda nn: nn.PReLU(8, 0.1), device=True),
    mo("RReLU_eval", lambda nn: nn.RReLU(0.05, 0.25).eval(), device=True),
    mo("ELU", lambda nn: nn.ELU(0.7)),
    mo("ELU_inplace", lambda nn: nn.ELU(inplace=True)),
    mo("SELU", lambda nn: nn.SELU()),
    mo("CELU", lambda nn: nn.CELU(2.0)),
    mo("GELU", lambda nn: nn.GELU()),
    mo("GELU_tanh", lambda nn: nn.GELU("tanh")),
    mo("SiLU", lambda nn: nn.SiLU()),
    mo("SiLU_inplace", lambda nn: nn.SiLU(inplace=True)),
    mo("Mish", lambda nn: nn.Mish()),
    mo("Softplus", lambda nn: nn.Softplus(0.5, 10.0)),
    mo("LogSigmoid", lambda nn: nn.LogSigmoid()),
    mo("Sigmoid", lambda nn: nn.Sigmoid()),
    mo("Tanh", lambda nn: nn.Tanh()),
    mo("Hardsigmoid", lambda nn: nn.Hardsigmoid()),
    mo("Hardswish", lambda nn: nn.Hardswish()),
    mo("Softsign", lambda nn: nn.Softsign()),
    mo("Softshrink", lambda nn: nn.Softshrink(0.25)),
    mo("Hardshrink", lambda nn: nn.Hardshrink()),
    mo("Tanhshrink", lambda nn: nn.Tanhshrink()),
    mo("GLU", lambda nn: nn.GLU(0)),
    mo("Softmax", lambda nn: nn.Softmax(1)),
    mo("LogSoftmax", lambda nn: nn.LogSoftmax(0)),
    mo("Softmin", lambda nn: nn.Softmin(-1)),
    mo("Softmax2d", lambda nn: _Reshaped(nn, nn.Softmax2d(), (2, 4, 2, 2)), device=True),
    mo("Softmax2d_3d", lambda nn: _Reshaped(nn, nn.Softmax2d(), (4, 2, 4))),
]

ROWS = FUNCTIONAL + MODULES


def _Reshaped(nn, inner, shape):
    class Reshaped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.reshape(shape))
    return Reshaped()


# -- running a row in both libraries ------------------------------------------------------
def _leaves(row: Act, lib):
    """The row's inputs as leaves of ``lib`` (float ones require grad)."""
    return [lib.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in row.inputs]


def _module(row: Act, lib):
    lib.manual_seed(0)
    return row.module(lib.nn) if row.module else None


def _call(row: Act, lib, m, args):
    # modules run in place on a non-leaf (x * 1): in-place on a leaf that requires grad
    # is an error in both libraries
    return m(args[0] * 1) if m is not None else row.fn(lib, *args)


def _params(m) -> list:
    return list(m.parameters()) if m is not None else []


def _cotangent(out) -> np.ndarray:
    rng = np.random.default_rng(17)
    return rng.standard_normal(tuple(out.shape)).astype(out.detach().numpy().dtype)


def _compare(row: Act, outs, grads) -> None:
    (og, ot), ((gg, gt)) = outs, grads
    assert str(og.dtype).split(".")[-1] == str(ot.dtype).split(".")[-1], \
        f"{row.id}: dtype {og.dtype} != {ot.dtype}"
    assert_close(og.detach(), ot, 1e-4, 1e-5, what=f"{row.id} output")
    for k, (g, t) in enumerate(zip(gg, gt)):
        if t is None:
            assert g is None or not np.any(g.numpy()), f"{row.id}: gradient {k}"
            continue
        assert g is not None, f"{row.id}: input {k} got no gradient"
        assert_close(g, t, 1e-4, 1e-5, what=f"{row.id} gradient {k}")


def run_torch(row: Act):
    m = _module(row, torch)
    args = _leaves(row, torch)
    out = _call(row, torch, m, args)
    grads = []
    if out.requires_grad:
        out.backward(torch.tensor(_cotangent(out)))
        grads = [a.grad for a in args + _params(m) if a.requires_grad]
    return out, grads


@pytest.fixture
def reference(monkeypatch):
    monkeypatch.setenv("GRAPHNN_DEVICE", "reference")


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_activation_on_reference(reference, row):
    """Each row eagerly (functional forms as their own compiled graphs, modules traced),
    with PyTorch's grad_fn name."""
    ot, gt = run_torch(row)
    m = _module(row, graphnn)
    args = _leaves(row, graphnn)
    og = _call(row, graphnn, m, args)
    gg = []
    assert og.requires_grad == ot.requires_grad, row.id
    if row.name and ot.grad_fn is not None:
        assert og.grad_fn.name() == type(ot.grad_fn).__name__, row.id
    if ot.requires_grad:
        og.backward(graphnn.tensor(_cotangent(ot)))
        gg = [a.grad for a in args + _params(m) if a.requires_grad]
    _compare(row, (og, ot), (gg, gt))


DEVICE_ROWS = [r for r in ROWS if r.device]


def test_activation_table_on_device():
    """Every row in one traced module on the OpenCL device: the kernels of every
    activation, forward and backward, against PyTorch."""
    class Table(graphnn.nn.Module):
        def __init__(self):
            super().__init__()
            self.mods = graphnn.nn.ModuleList(
                [_module(r, graphnn) or graphnn.nn.Identity() for r in DEVICE_ROWS])

        def forward(self, *flat):
            outs, k = [], 0
            for r, m in zip(DEVICE_ROWS, self.mods):
                args = flat[k:k + len(r.inputs)]
                k += len(r.inputs)
                outs.append(_call(r, graphnn, m if r.module else None, args))
            return tuple(outs)

    table = Table()
    args = [a for r in DEVICE_ROWS for a in _leaves(r, graphnn)]
    outs = table(*args)
    expected = [run_torch(r) for r in DEVICE_ROWS]
    graphnn.autograd.backward(list(outs), [graphnn.tensor(_cotangent(o)) for o in outs])
    failures, k = [], 0
    for r, m, og, (ot, gt) in zip(DEVICE_ROWS, table.mods, outs, expected):
        mine = args[k:k + len(r.inputs)]
        k += len(r.inputs)
        gg = [a.grad for a in mine + (_params(m) if r.module else [])]
        try:
            _compare(r, (og, ot), (gg, gt))
        except AssertionError as e:
            failures.append(f"{r.id}: " + " | ".join(str(e).strip().splitlines()[:6]))
    assert not failures, "\n".join(failures)


# -- in place ---------------------------------------------------------------------------------
INPLACE = {
    "relu": lambda L, x: F(L).relu(x, inplace=True),
    "relu_": lambda L, x: F(L).relu_(x),
    "torch.relu_": lambda L, x: L.relu_(x),
    "relu6": lambda L, x: F(L).relu6(x, inplace=True),
    "hardtanh_": lambda L, x: F(L).hardtanh_(x, -0.5, 0.5),
    "threshold_": lambda L, x: F(L).threshold_(x, 0.1, 3.0),
    "leaky_relu": lambda L, x: F(L).leaky_relu(x, 0.3, inplace=True),
    "rrelu_eval": lambda L, x: F(L).rrelu_(x, 0.2, 0.4),
    "elu_": lambda L, x: F(L).elu_(x, 0.5),
    "selu": lambda L, x: F(L).selu(x, inplace=True),
    "torch.selu_": lambda L, x: L.selu_(x),
    "celu_": lambda L, x: F(L).celu_(x, 2.0),
    "silu": lambda L, x: F(L).silu(x, inplace=True),
    "mish": lambda L, x: F(L).mish(x, inplace=True),
    "hardsigmoid": lambda L, x: F(L).hardsigmoid(x, inplace=True),
    "hardswish": lambda L, x: F(L).hardswish(x, inplace=True),
    "sigmoid_": lambda L, x: L.sigmoid_(x),
    "tanh_": lambda L, x: x.tanh_(),
}


def _inplace_run(lib, fn, view: bool):
    """``fn`` on a non-leaf copy of X (or on rows 1: of it); returns the copy's values, the
    result's identity, versions, grad_fn name and the leaf's gradient."""
    leaf = lib.tensor(X.copy(), requires_grad=True)
    y = leaf * 1
    target = y[1:] if view else y
    out = fn(lib, target)
    name = type(out.grad_fn).__name__ if lib is torch else out.grad_fn.name()
    same = out is target
    versions = (y._version, target._version)
    (y * y).backward(lib.tensor(_cotangent(y)))
    return y.detach().numpy(), same, versions, name, leaf.grad.numpy()


@pytest.mark.parametrize("view", [False, True], ids=["tensor", "view"])
@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_on_reference(reference, name, view):
    """The written tensor's values and version, the returned object, PyTorch's in-place
    grad_fn name (EluBackward1 ...) and the gradient through the write."""
    t = _inplace_run(torch, INPLACE[name], view)
    g = _inplace_run(graphnn, INPLACE[name], view)
    assert_close(g[0], t[0], 1e-5, 1e-6, what="values")
    assert g[1] and t[1]
    assert g[2] == t[2], "versions"
    if not view:
        assert g[3] == t[3]
    assert_close(g[4], t[4], 1e-4, 1e-5, what="gradient")


def test_inplace_on_device():
    """One in-place composite on the OpenCL device (the write path is the same for all;
    tests/test_aliasing.py runs in-place writes through views there)."""
    t = _inplace_run(torch, INPLACE["elu_"], False)
    g = _inplace_run(graphnn, INPLACE["elu_"], False)
    assert_close(g[0], t[0], 1e-5, 1e-6, what="values")
    assert g[2] == t[2]
    assert_close(g[4], t[4], 1e-4, 1e-5, what="gradient")


def test_inplace_without_grad_and_on_leaves(reference):
    for lib in (torch, graphnn):
        x = lib.tensor(X.copy())
        with lib.no_grad():
            assert F(lib).elu(x, inplace=True) is x
        assert x._version == 1
    assert_close(x, F(torch).elu(torch.tensor(X)))
    for lib in (torch, graphnn):
        leaf = lib.tensor(X.copy(), requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            F(lib).silu(leaf, inplace=True)


def test_inplace_module_writes_its_input(reference):
    """ReLU(inplace=True) in a traced forward writes the module's own input back."""
    for lib in (torch, graphnn):
        x = lib.tensor(X.copy())
        out = lib.nn.Sequential(lib.nn.Hardswish(inplace=True))(x)
        assert x._version == 1, lib.__name__
        assert_close(x, F(torch).hardswish(torch.tensor(X)))
        assert_close(out, F(torch).hardswish(torch.tensor(X)))


# -- errors -----------------------------------------------------------------------------------
def _neg_inplace_backward(L, fn):
    y = L.tensor(X.copy(), requires_grad=True) * 1
    fn(y).sum().backward()


ERRORS = [
    ("celu_alpha_0", lambda L: F(L).celu(L.tensor(X), 0.0)),
    ("elu_inplace_neg_alpha", lambda L: _neg_inplace_backward(
        L, lambda y: F(L).elu(y, -0.5, inplace=True))),
    ("leaky_inplace_neg_slope", lambda L: _neg_inplace_backward(
        L, lambda y: F(L).leaky_relu_(y, -0.1))),
    ("rrelu_bounds", lambda L: F(L).rrelu(L.tensor(X), 0.5, 0.1)),
    ("rrelu_bounds_training", lambda L: F(L).rrelu(L.tensor(X), 0.5, 0.1, training=True)),
    ("softshrink_neg", lambda L: F(L).softshrink(L.tensor(X), -0.5)),
    ("softshrink_neg_f64", lambda L: F(L).softshrink(L.tensor(X64), -1.0)),
    ("gelu_approximate", lambda L: F(L).gelu(L.tensor(X), approximate="sigmoid")),
    ("GELU_approximate", lambda L: L.nn.GELU("exact")(L.tensor(X))),
    ("glu_odd", lambda L: F(L).glu(L.tensor(X[:, :5]))),
    ("glu_scalar", lambda L: F(L).glu(L.tensor(X[0, 0]))),
    ("glu_dim", lambda L: F(L).glu(L.tensor(X), 2)),
    ("hardtanh_bounds", lambda L: F(L).hardtanh(L.tensor(X), 1.0, -1.0)),
    ("Hardtanh_bounds", lambda L: L.nn.Hardtanh(1.0, 1.0)),
    ("prelu_weight_2d", lambda L: F(L).prelu(L.tensor(X), L.tensor(W8.reshape(1, 8)))),
    ("prelu_mismatch", lambda L: F(L).prelu(L.tensor(X), L.tensor(W8[:3]))),
    ("prelu_1d_input", lambda L: F(L).prelu(L.tensor(W8), L.tensor(W8))),
    ("Softmax2d_2d", lambda L: L.nn.Softmax2d()(L.tensor(X))),
    ("softmax_dim", lambda L: F(L).softmax(L.tensor(X), 2)),
    ("Threshold_args", lambda L: L.nn.Threshold()),
] + [(f"{name}_int", (lambda fn: lambda L: fn(F(L))(L.tensor(XI)))(fn)) for name, fn in [
    ("elu", lambda F: F.elu), ("selu", lambda F: F.selu), ("celu", lambda F: F.celu),
    ("gelu", lambda F: F.gelu), ("silu", lambda F: F.silu), ("mish", lambda F: F.mish),
    ("softplus", lambda F: F.softplus), ("logsigmoid", lambda F: F.logsigmoid),
    ("hardswish", lambda F: F.hardswish), ("hardsigmoid", lambda F: F.hardsigmoid),
    ("softshrink", lambda F: F.softshrink), ("hardshrink", lambda F: F.hardshrink),
    ("leaky_relu", lambda F: F.leaky_relu), ("rrelu", lambda F: F.rrelu),
    ("glu", lambda F: F.glu), ("softmax", lambda F: lambda x: F.softmax(x, 1)),
    ("softmax_dim0", lambda F: lambda x: F.softmax(x, 0)),
    ("log_softmax", lambda F: lambda x: F.log_softmax(x, 1)),
    ("prelu", lambda F: lambda x: F.prelu(x, x[0, :1]))]]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(reference, name, fn):
    """PyTorch's exception type; its message is contained in graphnn's (which may start
    with the function or module path)."""
    with pytest.raises(Exception) as ti:
        fn(torch)
    with pytest.raises(type(ti.value)) as gi:
        fn(graphnn)
    if not isinstance(ti.value, TypeError):
        assert str(ti.value).splitlines()[0] in str(gi.value), (str(gi.value), str(ti.value))


# -- module API -----------------------------------------------------------------------------
def _all_modules(nn):
    return [nn.ReLU(), nn.ReLU(True), nn.ReLU6(inplace=True), nn.Hardtanh(), nn.Hardtanh(
        -2, 3.5, True), nn.Threshold(0.1, 20), nn.Threshold(0.5, 2.0, inplace=True),
        nn.LeakyReLU(), nn.LeakyReLU(0.2, True), nn.PReLU(), nn.PReLU(3, 0.1), nn.RReLU(),
        nn.RReLU(0.1, 0.3, True), nn.ELU(), nn.ELU(0.5, True), nn.SELU(), nn.SELU(True),
        nn.CELU(2), nn.GELU(), nn.GELU("tanh"), nn.GELU(approximate="x"), nn.SiLU(True),
        nn.Mish(), nn.Mish(inplace=True), nn.Hardswish(True), nn.Hardsigmoid(),
        nn.Softplus(), nn.Softplus(2, 10), nn.Softshrink(), nn.Softshrink(1), nn.Hardshrink(
            0.25), nn.Tanhshrink(), nn.Softsign(), nn.LogSigmoid(), nn.Sigmoid(), nn.Tanh(),
        nn.GLU(), nn.GLU(1), nn.Softmax(), nn.Softmax(0), nn.LogSoftmax(-1), nn.Softmin(1),
        nn.Softmax2d()]


def test_module_reprs_and_attributes():
    ours, theirs = _all_modules(graphnn.nn), _all_modules(torch.nn)
    for g, t in zip(ours, theirs):
        assert repr(g) == repr(t)
        for attr in ("inplace", "alpha", "approximate", "lambd", "beta", "threshold", "value",
                     "lower", "upper", "min_val", "max_val", "negative_slope", "dim",
                     "num_parameters", "init"):
            assert getattr(g, attr, None) == getattr(t, attr, None), (repr(t), attr)


def test_hardtanh_deprecated_keywords():
    for lib in (torch, graphnn):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m = lib.nn.Hardtanh(min_value=-2.0, max_value=2.0)
        assert [(x.category, str(x.message)[:30]) for x in w] == [
            (FutureWarning, "keyword argument `min_value` i"),
            (FutureWarning, "keyword argument `max_value` i")]
        assert (m.min_val, m.max_val) == (-2.0, 2.0)


def test_implicit_softmax_dim_warns_and_picks_pytorch_dim(reference):
    x3 = X.reshape(2, 4, 4)
    for fn in ("softmax", "log_softmax", "softmin"):
        for x in (X, x3, X[0]):
            with warnings.catch_warnings(record=True) as wt:
                warnings.simplefilter("always")
                t = getattr(F(torch), fn)(torch.tensor(x))
            with warnings.catch_warnings(record=True) as wg:
                warnings.simplefilter("always")
                g = getattr(F(graphnn), fn)(graphnn.tensor(x))
            assert [str(w.message) for w in wg] == [str(w.message) for w in wt]
            assert wg[0].category is UserWarning and wg[0].filename == __file__
            assert_close(g, t)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = graphnn.nn.Softmax()(graphnn.tensor(x3))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        assert_close(out, torch.nn.Softmax()(torch.tensor(x3)))


# -- RReLU in training mode -----------------------------------------------------------------
def test_rrelu_training_draws_slopes_per_element_and_call(reference):
    xs = -np.abs(np.random.default_rng(3).standard_normal((64, 64))).astype(F32) - 0.1
    xs[0] = np.abs(xs[0])        # one row of positives, passed unchanged
    graphnn.manual_seed(11)
    m = graphnn.nn.RReLU(0.1, 0.3)
    x = graphnn.tensor(xs, requires_grad=True)
    y = m(x)
    slopes = y.detach().numpy()[1:] / xs[1:]
    assert slopes.min() >= 0.1 and slopes.max() < 0.3
    assert abs(slopes.mean() - 0.2) < 0.01 and abs(slopes.std() - 0.2 / np.sqrt(12)) < 0.005
    np.testing.assert_array_equal(y.detach().numpy()[0], xs[0])
    y.backward(graphnn.ones_like(y))
    np.testing.assert_allclose(x.grad.numpy()[1:], slopes, rtol=1e-6)
    np.testing.assert_array_equal(x.grad.numpy()[0], 1.0)
    again = m(graphnn.tensor(xs)).numpy()
    assert not np.allclose(again, y.detach().numpy())       # a new draw on every call
    graphnn.manual_seed(11)
    np.testing.assert_array_equal(m(graphnn.tensor(xs)).numpy(), y.detach().numpy())
    m.eval()
    np.testing.assert_allclose(m(graphnn.tensor(xs)).numpy()[1:], xs[1:] * 0.2, rtol=1e-6)
    f = graphnn.nn.functional.rrelu(graphnn.tensor(xs), 0.1, 0.3, training=True).numpy()
    assert 0.1 <= (f[1:] / xs[1:]).min() and (f[1:] / xs[1:]).max() < 0.3
    z = graphnn.tensor(xs, requires_grad=True) * 1
    assert graphnn.rrelu_(z, 0.1, 0.3, True) is z
    assert z.grad_fn.name() == "RreluWithNoiseBackward1" and z._version == 1


# -- fusion ------------------------------------------------------------------------------------
def test_activation_chain_fuses():
    """Linear -> GELU -> Dropout (eval) -> SiLU: the activations share one kernel (after the
    matmul, or in its epilogue); so do other chains whose values have few uses."""
    from graphnn.dump import dump_model
    nn = graphnn.nn
    for acts, marks in (([nn.GELU(), nn.Dropout(0.2), nn.SiLU()], {"erf", "sigmoid"}),
                        ([nn.GELU("tanh"), nn.Mish()], {"tanh", "log1p"}),
                        ([nn.Mish(), nn.Dropout(), nn.Tanh()], {"log1p", "tanh"})):
        model = nn.Sequential(nn.Linear(6, 5), *acts)
        (inf,) = dump_model(model, [(4, 6)])
        launches = [launch.ops for launch in inf.program.launches]
        assert len(launches) <= 2 and launches[0][0] == "matmul", launches
        assert marks <= set(launches[-1]), launches
