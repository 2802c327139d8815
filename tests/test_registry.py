"""Every primitive carries all of its rules, and its numpy reference agrees with PyTorch."""
import numpy as np
import pytest

from graphnn.codegen import FAMILIES
from graphnn.codegen.emit import INDEXED_EXPRESSIONS
from graphnn.ir.ops import NOT_DIFFERENTIABLE, REGISTRY, Kind
from graphnn.ir.views import VIEW_OPS

# ops whose gradient is deliberately not defined (integer/boolean results, or second-order
# through max_pool2d) must say so with the explicit marker, never by omission
_NON_DIFF = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "argmax", "iota", "rand",
             "randint", "max_pool2d_grad", "imod", "argsort", "max_pool2d_argmax", "scatter_max"}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_op_has_every_rule(name):
    op = REGISTRY[name]
    assert op.name == name
    assert isinstance(op.kind, Kind)
    assert callable(op.shape) and callable(op.dtype) and callable(op.ref)
    assert isinstance(op.cl, str) and op.cl, f"{name} lacks an OpenCL lowering"
    if name in _NON_DIFF:
        assert op.vjp == NOT_DIFFERENTIABLE
    else:
        assert callable(op.vjp), f"{name} lacks a VJP rule"
    if op.cl == "view":       # movement ops are strided reads of their argument
        assert name in VIEW_OPS
    elif op.kind in (Kind.ELEMWISE, Kind.BROADCAST) and name != "iota" and \
            op.cl not in INDEXED_EXPRESSIONS:
        assert "{0}" in op.cl, f"{name}'s C template does not use its argument"
    else:
        assert op.cl in FAMILIES or op.cl in INDEXED_EXPRESSIONS or "{" in op.cl, \
            f"{name}: no kernel family {op.cl!r}"
    # the rules that codegen and fusion read from the op's own block
    assert (op.reducer is not None) == (op.kind == Kind.REDUCE), f"{name}: reducer rule"
    if op.vector is not None:
        assert op.kind in (Kind.ELEMWISE, Kind.BROADCAST)
        text = op.vector.format(*(f"a{i}" for i in range(op.nargs)), zero="z", T="float4",
                                E="float")
        assert all(f"a{i}" in text for i in range(op.nargs)), f"{name}: vector template"
    assert all(0 <= i for i in op.indexed_reads)
    assert op.flops is None or op.kind == Kind.OUT_EWISE_FUSABLE
    assert op.side_sum is None or op.kind == Kind.OUT_EWISE_FUSABLE


def test_registry_covers_the_design_set():
    for name in ("add", "mul", "maximum", "exp", "log", "tanh", "where", "cast", "sum", "max",
                 "reshape", "permute", "expand", "slice", "matmul", "conv2d",
                 "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d", "max_pool2d_grad",
                 "max_pool2d_argmax", "scatter_set",
                 "gather", "logsumexp", "pad", "pad_grad", "scatter_add", "argsort"):
        assert name in REGISTRY


def test_references_match_torch(rng):
    import torch
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    at = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=1)
    ours = REGISTRY["conv2d"].ref([x, w], at)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=(2, 1),
                                     padding=(1, 0), dilation=(1, 2)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    pat = dict(kernel=(3, 2), stride=(2, 2), padding=(1, 1), dilation=(1, 1), ceil_mode=True)
    ours = REGISTRY["max_pool2d"].ref([x], pat)
    ref = torch.nn.functional.max_pool2d(torch.tensor(x), (3, 2), (2, 2), (1, 1),
                                         ceil_mode=True).numpy()
    np.testing.assert_allclose(ours, ref)
    ours = REGISTRY["max_pool2d_argmax"].ref([x], pat)
    ref = torch.nn.functional.max_pool2d(torch.tensor(x), (3, 2), (2, 2), (1, 1),
                                         ceil_mode=True, return_indices=True)[1].numpy()
    np.testing.assert_array_equal(ours, ref)
    lse = REGISTRY["logsumexp"].ref([x], dict(axes=(1, 3), keepdim=False))
    np.testing.assert_allclose(lse, torch.logsumexp(torch.tensor(x), (1, 3)).numpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("mode,pad", [("reflect", (2, -1, 1, 3)), ("replicate", (3, 1, -1, 2)),
                                      ("circular", (-1, 4, 2, 0))])
def test_pad_references_match_torch(rng, mode, pad):
    import torch
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    at = dict(mode=mode, lo=(0, 0, pad[2], pad[0]), hi=(0, 0, pad[3], pad[1]))
    tx = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.pad(tx, pad, mode)
    np.testing.assert_array_equal(REGISTRY["pad"].ref([x], at), ref.detach().numpy())
    g = rng.standard_normal(tuple(ref.shape)).astype(np.float32)
    ref.backward(torch.tensor(g))
    ours = REGISTRY["pad_grad"].ref([g], dict(at, shape=x.shape))
    np.testing.assert_allclose(ours, tx.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_pad_grad_is_the_adjoint_of_pad(rng):
    # <pad(x), g> == <x, pad_grad(g)> for every mode, with crops, in three dims at once
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float64)
    for mode in ("reflect", "replicate", "circular"):
        at = dict(mode=mode, lo=(0, 2, -1, 3), hi=(0, 1, 3, -2))
        y = REGISTRY["pad"].ref([x], at)
        g = rng.standard_normal(y.shape)
        back = REGISTRY["pad_grad"].ref([g], dict(at, shape=x.shape))
        np.testing.assert_allclose((y * g).sum(), (x * back).sum(), rtol=1e-12)
