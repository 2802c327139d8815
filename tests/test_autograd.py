"""Autograd semantics against PyTorch: reuse, accumulation, retain_graph, no_grad, detach,
requires_grad_, in-place updates and their errors, implicit gradients, grad_fn reprs.

Each scenario is a function ``fn(T)`` run once with ``T = graphnn`` and once with
``T = torch``; it returns tensors (values or gradients) that must agree."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphnn
import torch
from tests.conftest import assert_close

X = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
W = [1.0, -2.0, 0.5]


def _both(fn):
    ref, ours = fn(torch), fn(graphnn)
    ref = ref if isinstance(ref, (tuple, list)) else [ref]
    ours = ours if isinstance(ours, (tuple, list)) else [ours]
    assert len(ref) == len(ours)
    for k, (o, r) in enumerate(zip(ours, ref)):
        if isinstance(r, torch.Tensor):
            assert isinstance(o, graphnn.Tensor), f"result {k}: {o!r}"
            assert_close(o.detach(), r, what=f"result {k}")
        else:
            assert o == r, f"result {k}: {o!r} != {r!r}"


# -- gradients on graphs with reuse, diamonds and broadcasting --------------------------------
def s_square(T):
    x = T.tensor(X, requires_grad=True)
    (x * x).sum().backward()
    return x.grad


def s_reuse_chain(T):
    x = T.tensor(X, requires_grad=True)
    y = x * 2
    z = y + y * y - y.exp()
    z.sum().backward()
    return x.grad, z


def s_diamond(T):
    x = T.tensor(X, requires_grad=True)
    a = x.exp()
    b = a * x
    c = (a + b).tanh()
    (c * c).mean().backward()
    return x.grad


def s_broadcast_reuse(T):
    x = T.tensor(X, requires_grad=True)
    w = T.tensor(W, requires_grad=True)
    y = (x * w + w).sum(0) * w
    y.sum().backward()
    return x.grad, w.grad


def s_two_leaves_shared(T):
    x = T.tensor(X, requires_grad=True)
    w = T.tensor(W, requires_grad=True)
    loss = ((x @ w) ** 2).sum() + (w * w).sum()
    loss.backward()
    return x.grad, w.grad, loss


def s_multi_output(T):
    x = T.tensor(X, requires_grad=True)
    v, i = x.max(1)
    (v * 3).sum().backward()
    return x.grad, i


def s_grad_argument(T):
    x = T.tensor(X, requires_grad=True)
    y = x.sigmoid() * 2
    y.backward(T.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]]))
    return x.grad


def s_accumulate_two_calls(T):
    x = T.tensor(X, requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    return x.grad


def s_retain_graph(T):
    x = T.tensor(X, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.clone()
    y.backward()
    return first, x.grad


def s_grad_zeroed(T):
    x = T.tensor(X, requires_grad=True)
    (x * x).sum().backward()
    x.grad.zero_()
    (x * 2).sum().backward()
    return x.grad


def s_grad_set_none(T):
    x = T.tensor(X, requires_grad=True)
    (x * x).sum().backward()
    x.grad = None
    x.sum().backward()
    return x.grad


def s_nonleaf_grad_none(T):
    x = T.tensor(X, requires_grad=True)
    y = x * 2
    y.sum().backward()
    return y.grad is None, y.is_leaf, x.is_leaf


def s_autograd_grad(T):
    x = T.tensor(X, requires_grad=True)
    (g,) = T.autograd.grad((x * x).sum(), [x])
    return g, x.grad is None


def s_unused_leaf(T):
    x = T.tensor(X, requires_grad=True)
    w = T.tensor(W, requires_grad=True)
    (x * 2).sum().backward()
    return x.grad, w.grad is None


def s_int_path_no_grad(T):
    x = T.tensor(X, requires_grad=True)
    idx = x.argmax(1)
    y = (x > 0)
    return idx.requires_grad, y.requires_grad, idx.grad_fn is None


# -- no_grad, detach, requires_grad_ -------------------------------------------------------------
def s_no_grad(T):
    x = T.tensor(X, requires_grad=True)
    with T.no_grad():
        y = x * 2
        inside = T.is_grad_enabled()
    return y, y.requires_grad, y.grad_fn is None, inside, T.is_grad_enabled()


def s_no_grad_decorator(T):
    x = T.tensor(X, requires_grad=True)

    @T.no_grad()
    def f(t):
        return t.exp()

    y = f(x)
    return y, y.requires_grad


def s_set_grad_enabled(T):
    x = T.tensor(X, requires_grad=True)
    with T.set_grad_enabled(False):
        a = x * 2
        with T.enable_grad():
            b = x * 2
    return a.requires_grad, b.requires_grad, T.is_grad_enabled()


def s_no_grad_mixed(T):
    x = T.tensor(X, requires_grad=True)
    with T.no_grad():
        c = x * 2
    y = (c * x).sum()
    y.backward()
    return x.grad


def s_detach(T):
    x = T.tensor(X, requires_grad=True)
    d = (x * 3).detach()
    y = (d * x).sum()
    y.backward()
    return x.grad, d.requires_grad, d.grad_fn is None, d.is_leaf


def s_data(T):
    x = T.tensor(X, requires_grad=True)
    return x.data, x.data.requires_grad


def s_requires_grad_(T):
    x = T.tensor(X)
    r = x.requires_grad_()
    (x * x).sum().backward()
    return r is x, x.grad, x.requires_grad


def s_requires_grad_false(T):
    x = T.tensor(X, requires_grad=True)
    x.requires_grad_(False)
    y = x * 2
    return y.requires_grad


# -- in-place updates ---------------------------------------------------------------------------
def s_inplace_no_grad(T):
    x = T.tensor(X, requires_grad=True)
    (x * x).sum().backward()
    with T.no_grad():
        x.add_(x.grad, alpha=-0.1)
        x.mul_(2.0)
        x.sub_(T.tensor(W))
        x.div_(4)
        x -= 0.5 * x.grad
        x += 1
        x *= 1.5
        x /= 2
    return x, x.requires_grad, x.is_leaf, x.grad_fn is None


def s_fill_zero_copy(T):
    x = T.tensor(X, requires_grad=True)
    with T.no_grad():
        a = x.clone().fill_(2.5)
        x.fill_(1.5)
        b = x * 1
        x.zero_()
        c = x * 1
        x.copy_(T.tensor(W))
    return a, b, c, x, x.requires_grad


def s_inplace_plain_tensor(T):
    x = T.tensor(X)
    x.add_(1).mul_(2)
    x.copy_(x * 3)
    x.clamp_(-1, 8)
    return x


def s_inplace_nonleaf_tracked(T):
    x = T.tensor(X, requires_grad=True)
    y = x * 2
    y.mul_(3)
    y *= x
    y.add_(x, alpha=2)
    y.sum().backward()
    return y, x.grad


def s_inplace_plain_plus_grad(T):
    x = T.tensor(X, requires_grad=True)
    z = T.zeros(2, 3)
    z += x * x
    z.sum().backward()
    return z.requires_grad, x.grad


def s_param_update_loop(T):
    w = T.tensor(W, requires_grad=True)
    x = T.tensor(X)
    for _ in range(3):
        loss = ((x @ w) ** 2).mean()
        loss.backward()
        with T.no_grad():
            w -= 0.1 * w.grad
        w.grad.zero_()
    return w, loss


SCENARIOS = [s_square, s_reuse_chain, s_diamond, s_broadcast_reuse, s_two_leaves_shared,
             s_multi_output, s_grad_argument, s_accumulate_two_calls, s_retain_graph,
             s_grad_zeroed, s_grad_set_none, s_nonleaf_grad_none, s_autograd_grad,
             s_unused_leaf, s_int_path_no_grad, s_no_grad, s_no_grad_decorator,
             s_set_grad_enabled, s_no_grad_mixed, s_detach, s_data, s_requires_grad_,
             s_requires_grad_false, s_inplace_no_grad, s_fill_zero_copy,
             s_inplace_plain_tensor, s_inplace_nonleaf_tracked, s_inplace_plain_plus_grad,
             s_param_update_loop]


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
@pytest.mark.parametrize("fn", SCENARIOS, ids=[f.__name__[2:] for f in SCENARIOS])
def test_scenario(fn):
    _both(fn)


# -- errors: PyTorch's exception types and messages ------------------------------------------------
def e_backward_twice(T):
    x = T.tensor(X, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    y.backward()


def e_nonscalar(T):
    x = T.tensor(X, requires_grad=True)
    (x * 2).backward()


def e_no_grad_tensor(T):
    T.tensor(X).sum().backward()


def e_no_grad_result(T):
    x = T.tensor(X, requires_grad=True)
    with T.no_grad():
        y = (x * 2).sum()
    y.backward()


def e_grad_shape(T):
    x = T.tensor(X, requires_grad=True)
    (x * 2).backward(T.ones(3))


def e_inplace_leaf(op):
    def f(T):
        x = T.tensor(X, requires_grad=True)
        {"fill_": lambda: x.fill_(1.0), "zero_": lambda: x.zero_(),
         "copy_": lambda: x.copy_(T.ones(2, 3)), "add_": lambda: x.add_(1.0),
         "mul_": lambda: x.mul_(2.0), "iadd": lambda: x.__iadd__(1.0)}[op]()
    f.__name__ = f"e_inplace_{op}"
    return f


def e_requires_grad_nonleaf(T):
    x = T.tensor(X, requires_grad=True)
    (x * 2).requires_grad_(False)


def e_inplace_broadcast(T):
    x = T.tensor(W)
    with T.no_grad():
        x.add_(T.tensor(X))


ERRORS = [
    (e_backward_twice, "Trying to backward through the graph a second time"),
    (e_nonscalar, "grad can be implicitly created only for scalar outputs"),
    (e_no_grad_tensor, "element 0 of tensors does not require grad"),
    (e_no_grad_result, "element 0 of tensors does not require grad"),
    (e_grad_shape, "Mismatch in shape"),
    (e_requires_grad_nonleaf, "you can only change requires_grad flags of leaf variables"),
    (e_inplace_broadcast, "doesn't match the broadcast shape"),
] + [(e_inplace_leaf(op), "a leaf Variable that requires grad is being used in an in-place")
     for op in ("fill_", "zero_", "copy_", "add_", "mul_", "iadd")]


@pytest.mark.parametrize("fn,msg", ERRORS, ids=[f.__name__[2:] for f, _ in ERRORS])
def test_error(fn, msg):
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        fn(torch)
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        fn(graphnn)


def test_nonscalar_error_runs_no_backward_kernel():
    from graphnn.runtime import get_runtime
    x = graphnn.tensor(X, requires_grad=True)
    y = x * 2
    before = get_runtime().launches
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        y.backward()
    assert get_runtime().launches == before
    assert x.grad is None


# -- grad_fn reprs ----------------------------------------------------------------------------------
def test_grad_fn_repr():
    for T in (torch, graphnn):
        x = T.tensor(X, requires_grad=True)
        y = (x * 2).sum()
        assert re.fullmatch(r"<SumBackward0 object at 0x[0-9a-f]+>", repr(y.grad_fn))
        assert y.grad_fn.name() == "SumBackward0"
        assert x.grad_fn is None
        assert repr(y).endswith("grad_fn=<SumBackward0>)")


def test_grad_dtype_and_shape():
    x = graphnn.tensor(np.array(X), requires_grad=True)   # float64
    (x * x).sum().backward()
    assert x.grad.dtype == graphnn.float64 and tuple(x.grad.shape) == (2, 3)
    assert not x.grad.requires_grad and x.grad.grad_fn is None


def test_no_grad_call_does_not_poison_later_training():
    graphnn.manual_seed(0)
    m = graphnn.nn.Linear(3, 2)
    x = graphnn.ones(4, 3)
    with graphnn.no_grad():
        m(x)
        graphnn.nn.functional.softmax(x, 1)
    m(x).sum().backward()
    assert m.weight.grad is not None
    np.testing.assert_allclose(m.weight.grad.numpy(), np.full((2, 3), 4.0))
    xs = graphnn.ones(2, 3, requires_grad=True)
    graphnn.nn.functional.softmax(xs * 2, 1)[:, 0].sum().backward()
    assert xs.grad is not None


def test_in_place_after_use_keeps_the_recorded_history():
    x = graphnn.tensor([1.0, 2.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    y, ty = x * 2, tx * 2
    z, tz = y + x, ty + tx
    y.mul_(3)
    z.sum().backward()
    tz.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_post_accumulate_grad_hook_fires_once_with_the_final_gradient():
    """A leaf used by two tape nodes: PyTorch's hook runs once per backward, after both
    contributions were accumulated, and sees the accumulated ``.grad`` on the next pass."""
    arr = np.array([0.5, -1.0, 2.0], np.float32)
    seen = {}
    for lib in (graphnn, torch):
        w = lib.tensor(arr, requires_grad=True)
        calls = []
        handle = w.register_post_accumulate_grad_hook(
            lambda p, calls=calls: calls.append(p.grad.detach().numpy().copy()))
        for _ in range(2):
            ((w * 2).sum() + (w * w).sum()).backward()
        handle.remove()
        ((w * 2).sum()).backward()
        seen[lib.__name__] = calls
        with pytest.raises(RuntimeError, match="non-leaf"):
            (w * 2).register_post_accumulate_grad_hook(lambda p: None)
    assert len(seen["graphnn"]) == 2
    for ours, ref in zip(seen["graphnn"], seen["torch"]):
        np.testing.assert_allclose(ours, ref, rtol=1e-6)
