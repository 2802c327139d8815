"""The Tensor object model against PyTorch: creation functions, dtypes, metadata, host
conversions and reprs. Each expression is evaluated with ``T = graphnn`` and ``T = torch``;
reprs are compared after writing ``torch.`` for ``graphnn.``."""
from __future__ import annotations

import numpy as np
import pytest

import graphnn
import torch
from tests.conftest import assert_close


def _eval(expr: str, lib):
    return eval(expr, {"T": lib, "np": np})


def _same_repr(expr: str) -> None:
    ref = repr(_eval(expr, torch))
    ours = repr(_eval(expr, graphnn)).replace("graphnn.", "torch.")
    assert ours == ref, f"{expr}\n ours:  {ours}\n torch: {ref}"


# -- creation functions: values, shape and dtype --------------------------------------------
CREATION = [
    "T.tensor([[0.5, 2.0], [3.0, -4.5]])",
    "T.tensor([1, 2, 3])",
    "T.tensor([True, False])",
    "T.tensor(3.5)",
    "T.tensor(7)",
    "T.tensor([1.0, 2.0], dtype=T.float64)",
    "T.tensor([1, 2], dtype=T.int32)",
    "T.tensor([1, 2], dtype=T.float32)",
    "T.tensor(np.array([1.0, 2.0]))",
    "T.tensor(np.array([1.0, 2.0], dtype=np.float32))",
    "T.tensor(np.array([1, 2], dtype=np.int32))",
    "T.tensor(np.array([[1, 2]]))",
    "T.from_numpy(np.array([1.5, 2.5], dtype=np.float32))",
    "T.from_numpy(np.arange(3))",
    "T.from_numpy(np.arange(4.0).reshape(2, 2))",
    "T.zeros(2, 3)",
    "T.zeros((2, 3), dtype=T.int64)",
    "T.zeros([4])",
    "T.ones(3)",
    "T.ones(2, 2, dtype=T.bool)",
    "T.ones((1, 2), dtype=T.float64)",
    "T.full((2,), 7)",
    "T.full((2, 1), 7.0)",
    "T.full((2,), True)",
    "T.full((2,), 1.5, dtype=T.float64)",
    "T.zeros(0)",
    "T.zeros(2, 0)",
    "T.arange(5)",
    "T.arange(2, 7)",
    "T.arange(1, 4, 0.5)",
    "T.arange(0.0, 3)",
    "T.arange(5, dtype=T.float32)",
    "T.linspace(0, 1, 5)",
    "T.linspace(-2, 2, 3)",
    "T.zeros_like(T.tensor([1, 2]))",
    "T.zeros_like(T.tensor([[1.0, 2.0]]))",
    "T.ones_like(T.tensor([1.0, 2.0]), dtype=T.float64)",
    "T.full_like(T.tensor([1.0, 2.0]), 3)",
    "T.full_like(T.tensor([1, 2]), 3)",
    "T.tensor(T.tensor([1.0, 2.0]))",
    "T.empty(2, 3).shape",
    "T.randn(3, 4).shape",
    "T.randn(3, 4).dtype",
    "T.rand(2, dtype=T.float64).dtype",
    "T.rand(2, 5).shape",
    "T.randint(0, 5, (3,)).dtype",
    "T.randint(5, (2, 2)).shape",
    "T.randperm(4).shape",
    "T.randperm(4).dtype",
]


@pytest.mark.filterwarnings("ignore:To copy construct")
@pytest.mark.parametrize("expr", CREATION)
def test_creation(expr):
    ref, ours = _eval(expr, torch), _eval(expr, graphnn)
    if isinstance(ref, torch.Tensor):
        assert str(ours.dtype).replace("graphnn.", "torch.") == str(ref.dtype)
        assert tuple(ours.shape) == tuple(ref.shape)
        assert_close(ours, ref, rtol=1e-6, atol=1e-7, what=expr)
        assert not ours.requires_grad
    else:
        assert repr(ours).replace("graphnn.", "torch.") == repr(ref)


def test_random_values_are_in_range():
    graphnn.manual_seed(0)
    r = graphnn.rand(1000).numpy()
    assert r.min() >= 0 and r.max() < 1 and 0.4 < r.mean() < 0.6
    n = graphnn.randn(2000).numpy()
    assert abs(n.mean()) < 0.1 and 0.9 < n.std() < 1.1
    i = graphnn.randint(2, 5, (500,)).numpy()
    assert set(np.unique(i)) == {2, 3, 4}
    p = graphnn.randperm(10).numpy()
    assert sorted(p.tolist()) == list(range(10))


def test_manual_seed_repeats():
    graphnn.manual_seed(3)
    a = graphnn.randn(4).numpy()
    graphnn.manual_seed(3)
    b = graphnn.randn(4).numpy()
    np.testing.assert_array_equal(a, b)


def test_requires_grad_creation():
    for lib in (torch, graphnn):
        t = lib.zeros(2, 3, requires_grad=True)
        assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
        t2 = lib.tensor([1.0], requires_grad=True)
        assert t2.requires_grad


@pytest.mark.parametrize("expr", [
    "T.tensor([1, 2], requires_grad=True)",
    "T.tensor([1, 2]).requires_grad_()",
    "T.zeros(2, dtype=T.int64, requires_grad=True)",
])
def test_int_cannot_require_grad(expr):
    with pytest.raises(RuntimeError, match="floating point"):
        _eval(expr, torch)
    with pytest.raises(RuntimeError, match="floating point"):
        _eval(expr, graphnn)


# -- metadata -------------------------------------------------------------------------------
META = [
    "T.tensor([[1, 2], [3, 4]]).shape",
    "T.tensor([[1, 2], [3, 4]]).size()",
    "T.tensor([[1, 2], [3, 4]]).size(1)",
    "T.tensor([[1, 2], [3, 4]]).size(-1)",
    "T.tensor([[1, 2], [3, 4]]).dim()",
    "T.tensor([[1, 2], [3, 4]]).ndim",
    "T.tensor([[1, 2], [3, 4]]).numel()",
    "T.tensor([[1, 2], [3, 4]]).nelement()",
    "T.tensor([[1, 2], [3, 4]]).dtype",
    "T.tensor([1.0]).dtype",
    "T.tensor([1.0], dtype=T.float64).dtype",
    "T.tensor([True]).dtype",
    "T.tensor(5.0).shape",
    "T.tensor(5.0).dim()",
    "T.tensor(5.0).numel()",
    "T.zeros(2, 0, 3).numel()",
    "T.zeros(2, 3).shape[1]",
    "T.zeros(2, 3).shape == (2, 3)",
    "tuple(T.zeros(2, 3).shape)",
    "T.zeros(2, 3).size() == T.Size([2, 3])",
    "T.Size([2, 3])",
    "T.Size([2, 3]).numel()",
    "len(T.tensor([[1, 2], [3, 4], [5, 6]]))",
    "T.tensor([1.0, 2.0]).element_size()",
    "T.tensor([1, 2]).element_size()",
    "T.tensor([1.0, 2.0]).requires_grad",
    "T.tensor([1.0, 2.0]).is_leaf",
    "T.tensor([1.0, 2.0]).grad",
    "T.is_tensor(T.tensor(1))",
    "T.is_tensor([1])",
    "T.numel(T.zeros(2, 3))",
    "T.float32",
    "T.float64",
    "T.int64",
    "T.int32",
    "T.bool",
    "T.float == T.float32",
    "T.long == T.int64",
    "T.double == T.float64",
    "T.tensor([1]).dtype == T.long",
    "T.tensor([1, 2]).float().dtype",
    "T.tensor([1.7, -2.7]).long()",
    "T.tensor([1.7, 0.0]).bool()",
    "T.tensor([1.7, 0.0]).int()",
    "T.tensor([1.7, 0.0]).to(T.int64)",
    "T.tensor([1, 0]).to(T.float64)",
    "T.tensor([1, 0]).double()",
    "T.tensor([1.5]).to(T.tensor([1], dtype=T.float64))",
    "T.tensor([1.5]).type_as(T.tensor([1]))",
]


@pytest.mark.parametrize("expr", META)
def test_metadata(expr):
    _same_repr(expr)


@pytest.mark.parametrize("expr", [
    "T.zeros(2, 3).size(2)",
    "T.zeros(2, 3).size(-3)",
    "len(T.tensor(1.0))",
])
def test_metadata_errors(expr):
    with pytest.raises(Exception) as ref:
        _eval(expr, torch)
    with pytest.raises(type(ref.value)):
        _eval(expr, graphnn)


# -- host conversions ---------------------------------------------------------------------------
CONVERSIONS = [
    "T.tensor(2.5).item()",
    "T.tensor([7]).item()",
    "T.tensor([[7.25]]).item()",
    "T.tensor(True).item()",
    "T.tensor([[1, 2], [3, 4]]).tolist()",
    "T.tensor([[1.5, 2], [3, 4]]).tolist()",
    "T.tensor([True, False]).tolist()",
    "T.tensor(3).tolist()",
    "T.tensor([1.0, 2.0]).numpy()",
    "T.tensor([1, 2]).numpy()",
    "T.tensor([1.0, 2.0], requires_grad=True).detach().numpy()",
    "float(T.tensor([2.5]))",
    "int(T.tensor(3.9))",
    "int(T.tensor([-3]))",
    "bool(T.tensor([0.0]))",
    "bool(T.tensor(2))",
    "list(T.tensor([1, 2]))",
    "[x.item() for x in T.tensor([[1.0, 2.0], [3.0, 4.0]])[1]]",
    "np.asarray(T.tensor([[1.0, 2.0]]))",
    "f'{T.tensor(2.5):.2f}'",
    "type(T.tensor(2.5).item())",
    "type(T.tensor([2]).item())",
    "[1, 2, 3][T.tensor(1)]",
]


@pytest.mark.parametrize("expr", CONVERSIONS)
def test_conversions(expr):
    ref, ours = _eval(expr, torch), _eval(expr, graphnn)
    if isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.dtype == ref.dtype
        np.testing.assert_array_equal(ours, ref)
    else:
        assert repr(ours).replace("graphnn.", "torch.") == repr(ref)


@pytest.mark.parametrize("expr,err", [
    ("T.tensor([1.0, 2.0], requires_grad=True).numpy()", RuntimeError),
    ("(T.tensor([1.0], requires_grad=True) * 2).numpy()", RuntimeError),
    ("T.tensor([1.0, 2.0]).item()", RuntimeError),
    ("bool(T.tensor([1.0, 0.0]))", RuntimeError),
    ("[1, 2][T.tensor(1.0)]", TypeError),
    ("iter(T.tensor(1.0))", TypeError),
])
def test_conversion_errors(expr, err):
    with pytest.raises(err) as ref:
        _eval(expr, torch)
    with pytest.raises(err) as ours:
        _eval(expr, graphnn)
    if "numpy" in expr:
        assert str(ours.value) == str(ref.value)


def test_numpy_force():
    t = graphnn.tensor([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(t.numpy(force=True),
                                  torch.tensor([1.0, 2.0], requires_grad=True).numpy(force=True))


# -- reprs ----------------------------------------------------------------------------------------
REPRS = [
    "T.tensor([[0.1, 2.0], [3.0, 4.5]])",
    "T.tensor([1.0, 2.0, 3.0])",
    "T.tensor([1, 2, 3])",
    "T.tensor([-123456789, 5])",
    "T.tensor([True, False])",
    "T.tensor([[True, False], [False, True]])",
    "T.tensor(3.5)",
    "T.tensor(-2.5)",
    "T.tensor(3)",
    "T.tensor(1e-7)",
    "T.tensor(float('inf'))",
    "T.tensor([1e-5, 1.0])",
    "T.tensor([1e9, 1.0])",
    "T.tensor([0.001, 1000.0])",
    "T.tensor([0.12345678, 123.456])",
    "T.tensor([100000.0, 1.0])",
    "T.tensor([[-1.0, 1.0, 1e5]])",
    "T.tensor([-0.0, 1.0])",
    "T.tensor([0.0, 0.0])",
    "T.tensor([1.0, float('inf'), float('nan')])",
    "T.tensor([1.5, float('-inf'), float('nan')])",
    "T.tensor([1.0, 2.0], dtype=T.float64)",
    "T.tensor([1, 2], dtype=T.int32)",
    "T.tensor([1, 2], dtype=T.float16)",
    "T.zeros(0)",
    "T.zeros(2, 0)",
    "T.zeros(3, 0, dtype=T.float64)",
    "T.tensor([[]])",
    "T.tensor(np.arange(20.0, dtype=np.float32) / 7)",
    "T.tensor(np.arange(12)).reshape(3, 2, 2)",
    "T.tensor(np.arange(12.0)).reshape(3, 4) / 7",
    "T.tensor(np.arange(2000.0)).reshape(40, 50)",
    "T.tensor(np.arange(2000.0, dtype=np.float32) / 7)",
    "T.tensor(np.arange(3000)).reshape(10, 10, 30)",
    "T.tensor(np.linspace(-3, 3, 37, dtype=np.float32).reshape(37, 1))",
    "T.tensor([[1.0, -2.0]], requires_grad=True)",
    "T.zeros(2, 3, requires_grad=True)",
    "T.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=T.float64, requires_grad=True)",
    "T.tensor(np.linspace(-3, 3, 37, dtype=np.float32), requires_grad=True)",
    "T.tensor(np.linspace(-3, 3, 37), requires_grad=True)",
    "T.tensor([[1.0, 2.0]], requires_grad=True).detach()",
    "T.tensor([[1.0, 2.0]], requires_grad=True) * 2",
    "(T.tensor([[1.0, 2.0]], requires_grad=True) * 2).sum()",
    "str(T.tensor([[1.0, 2.0]], requires_grad=True) + 1)",
    "T.tensor([2.0])",
    "T.tensor([[2.0]])",
]


@pytest.mark.parametrize("expr", REPRS)
def test_repr(expr):
    _same_repr(expr)


# -- grad_fn names as PyTorch prints them ------------------------------------------------
X = "T.tensor([[1.0, 2.0], [3.0, 0.5]], requires_grad=True)"
GRAD_FN = [
    f"{X} + 1", f"1 + {X}", f"{X} - 1", f"1 - {X}", f"{X} * 2", f"{X} / 2", f"-{X}",
    f"{X} ** 2", f"{X} ** 0.5", f"{X} ** 3", f"{X} ** T.tensor(2.0)", f"2 ** {X}",
    f"{X}.sum()", f"{X}.sum(1)", f"{X}.mean()", f"{X}.mean(0)", f"{X}.max()",
    f"{X}.max(1)[0]", f"{X}.min()", f"{X}.min(0).values", f"{X}.amax(1)", f"{X}.t()",
    f"{X}.T", f"{X}.transpose(0, 1)", f"{X}.permute(1, 0)", f"{X}.view(4)",
    f"{X}.reshape(4)", f"{X}.flatten()", f"{X}.unsqueeze(0)", f"{X}[None].squeeze()",
    f"{X}[None].squeeze(0)", f"{X}.expand(3, 2, 2)", f"{X}[0]", f"{X}[:, 1:]", f"{X}[None]",
    f"{X}[0, None]", f"{X}[..., 1]", f"{X}[T.tensor([0, 0])]", f"{X}.clamp(0, 1)",
    f"{X}.clamp(min=0)", f"{X}.relu()", f"{X}.abs()", f"{X}.sqrt()", f"{X}.rsqrt()",
    f"{X}.exp()", f"{X}.log()", f"{X}.tanh()", f"{X}.sigmoid()", f"{X}.double()",
    f"{X}.clone()", f"{X}.softmax(1)", f"{X}.log_softmax(1)",
    f"{X}.gather(1, T.tensor([[0], [1]]))", f"{X}.index_select(1, T.tensor([0]))",
    f"T.where(T.tensor([True, False]), {X}, 0.0)", f"T.maximum({X}, T.tensor(1.0))",
    f"{X} @ T.ones(2, 2)", f"{X}[0] @ T.ones(2)", f"{X}[0] @ T.ones(2, 3)",
    f"T.ones(3, 2) @ {X}[0]", f"{X}.expand(3, 2, 2) @ T.ones(2, 2)",
]


@pytest.mark.parametrize("expr", GRAD_FN)
def test_grad_fn_repr(expr):
    ref = _eval(expr, torch)
    ours = _eval(expr, graphnn)
    assert ours.grad_fn is not None, expr
    assert ours.grad_fn.name() == ref.grad_fn.name(), expr
    _same_repr(expr)
