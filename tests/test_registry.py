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
             "randint", "max_pool2d_grad", "imod", "max_pool2d_argmax"}


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


def test_registry_covers_the_design_set():
    for name in ("add", "mul", "maximum", "exp", "log", "tanh", "where", "cast", "sum", "max",
                 "reshape", "permute", "expand", "slice", "matmul", "conv2d",
                 "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d", "max_pool2d_grad",
                 "max_pool2d_argmax",
                 "gather", "logsumexp"):
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
