"""In-place ops against PyTorch: autograd through in-place writes (on tensors and views),
the saved-tensor version check, item assignment, ``.data`` and the training-loop idioms
that used to write nothing (the manual SGD step, custom init, gradient clipping)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 5)).astype(np.float32)
B = RNG.standard_normal((4, 5)).astype(np.float32)


def _leaves(L):
    return (L.tensor(A.copy(), requires_grad=True), L.tensor(B.copy(), requires_grad=True))


# programs that write in place under autograd; each returns the loss
PROGRAMS = {
    "mul_on_clone": lambda a, b, L: a.clone().mul_(b).sum(),
    "view_write": lambda a, b, L: _then_sum(a.clone(), lambda x: x[1].mul_(3)),
    "view_copy": lambda a, b, L: _then_sum(a.clone(), lambda x: x[:, 1:3].copy_(b[:, :2] * 2)),
    "base_then_view": lambda a, b, L: _view_after_base(a, b),
    "setitem_tensor": lambda a, b, L: _then_sum(a * 1, lambda x: x.__setitem__(
        (slice(None), 2), b[:, 0] ** 2)),
    "relu_": lambda a, b, L: (a @ b.t()).relu_().sum(),
    "mul_then_add": lambda a, b, L: ((a * b).add_(b) * b).sum(),
    "transpose_view": lambda a, b, L: _then_sum(a.clone(), lambda x: x.t()[2].add_(b[0, :4])),
    # distinct indices: with repeated ones PyTorch leaves the values' gradient undefined
    "index_put": lambda a, b, L: _then_sum(a.clone(), lambda x: x.__setitem__(
        L.tensor([3, 0]), b[:2] * 5)),
    "mask_put": lambda a, b, L: _then_sum(a.clone(), lambda x: x.__setitem__(
        x > 0, 0.5)),
    "iadd_slice": lambda a, b, L: _then_sum(a * 2, lambda x: x[:, :2].__imul__(b[:, :2])),
}


def _then_sum(x, write):
    write(x)
    return (x * x).sum()


def _view_after_base(a, b):
    x = a.clone()
    v = x[:2]
    x.mul_(b)           # the base changes after the view was taken: v follows it
    return (v * v).sum()


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_gradients_through_inplace(name):
    results = []
    for L in (G, torch):
        a, b = _leaves(L)
        loss = PROGRAMS[name](a, b, L)
        loss.backward()
        results.append((loss, a.grad, b.grad))
    for what, ours, ref in zip(("loss", "a.grad", "b.grad"), *results):
        if ref is None:
            assert ours is None, what
        else:
            assert_close(ours, ref, what=what)


def _saved_then_modified(L):
    x = L.tensor(A.copy(), requires_grad=True)
    y = x.sigmoid()          # sigmoid saves its output
    y.mul_(2)
    return y.sum()


def _weight_saved_then_stepped(L):
    w = L.tensor(A.copy(), requires_grad=True)
    x = L.tensor(B.copy(), requires_grad=True)
    y = (x * w).sum()        # mul saves both operands
    with L.no_grad():
        w.add_(1)            # an optimizer step before backward
    return y


@pytest.mark.parametrize("program", [_saved_then_modified, _weight_saved_then_stepped])
def test_modified_saved_tensor_raises_pytorch_error(program):
    with pytest.raises(RuntimeError) as ref:
        program(torch).backward()
    with pytest.raises(RuntimeError) as ours:
        program(G).backward()
    prefix = "one of the variables needed for gradient computation has been modified by an " \
             "inplace operation"
    assert str(ref.value).startswith(prefix)
    assert str(ours.value).startswith(prefix)
    assert "is at version 1; expected version 0 instead" in str(ours.value)


def test_inplace_on_leaf_errors_match_pytorch():
    for program in (lambda L: L.ones(3, requires_grad=True).add_(1),
                    lambda L: L.ones(3, requires_grad=True)[0].mul_(2)):
        with pytest.raises(RuntimeError) as ref:
            program(torch)
        with pytest.raises(RuntimeError) as ours:
            program(G)
        assert str(ours.value) == str(ref.value)


def test_casting_error_matches_pytorch():
    for program in (lambda L: L.ones(3, dtype=L.int64).add_(1.5),
                    lambda L: L.zeros(2, 3).add_(L.ones(4))):
        with pytest.raises(RuntimeError) as ref:
            program(torch)
        with pytest.raises(RuntimeError) as ours:
            program(G)
        assert str(ours.value).split(" at ")[0] == str(ref.value).split(" at ")[0]


SETITEM = {
    "int": lambda x, L: x.__setitem__(1, 5.0),
    "slice_tensor": lambda x, L: x.__setitem__((slice(None), slice(1, 3)), L.ones(4, 2)),
    "broadcast_row": lambda x, L: x.__setitem__(slice(1, 3), L.arange(5.0)),
    "mask": lambda x, L: x.__setitem__(x > 0.3, -1.0),
    "row_mask": lambda x, L: x.__setitem__(L.tensor([True, False, True, False]), 2.0),
    "row_mask_values": lambda x, L: x.__setitem__(L.tensor([True, False, True, False]),
                                                  L.arange(5.0)),
    "index": lambda x, L: x.__setitem__(L.tensor([2, 0]), L.full((2, 5), 9.0)),
    "index_repeat": lambda x, L: x.__setitem__(L.tensor([1, 1, 3]),
                                               L.arange(15.0).reshape(3, 5)),
    "index_neg": lambda x, L: x.__setitem__(L.tensor([-1]), 3.0),
    "index_cols": lambda x, L: x.__setitem__((slice(None), L.tensor([4, 1])), 0.0),
    "int_then_index": lambda x, L: x.__setitem__((2, L.tensor([0, 3])), L.tensor([7.0, 8.0])),
    "imul_slice": lambda x, L: x[:, :2].__imul__(0),
    "ellipsis": lambda x, L: x.__setitem__(..., 1.0),
}


@pytest.mark.parametrize("name", list(SETITEM))
def test_setitem_matches_pytorch(name):
    results = []
    for L in (G, torch):
        x = L.tensor(A.copy())
        v = x[1:]                # a view taken before: it sees the write
        if name == "imul_slice":
            x[:, :2] *= 0
        else:
            SETITEM[name](x, L)
        results.append((x.numpy().copy(), v.numpy().copy(), x._version))
    assert_close(results[0][0], results[1][0], what="x")
    assert_close(results[0][1], results[1][1], what="view")
    assert results[0][2] == results[1][2], "version"


@pytest.mark.parametrize("name", ["int", "mask", "index_repeat", "index_cols", "imul_slice"])
def test_setitem_inside_traced_forward(name):
    results = []
    for L in (G, torch):
        class M(L.nn.Module):
            def forward(self, x):
                y = x + 0.0
                if name == "imul_slice":
                    y[:, :2] *= 0
                else:
                    SETITEM[name](y, L)
                return y * 2.0
        m = M()
        results.append([m(L.tensor(A.copy() * s)).numpy().copy() for s in (1, -1)])
    for ours, ref in zip(*results):
        assert_close(ours, ref)


def test_manual_sgd_through_data_trains_like_pytorch():
    """``p.data.add_(p.grad, alpha=-lr)``, the classic manual SGD loop."""
    x = RNG.standard_normal((16, 5)).astype(np.float32)
    y = RNG.standard_normal((16, 3)).astype(np.float32)
    losses = []
    for L in (G, torch):
        L.manual_seed(0)
        model = L.nn.Linear(5, 3)
        with L.no_grad():
            model.weight.copy_(L.tensor(A[:3].copy()))
            model.bias.data.fill_(0.01)          # custom init through .data
        for _ in range(4):
            model.zero_grad()
            loss = ((model(L.tensor(x)) - L.tensor(y)) ** 2).mean()
            loss.backward()
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-0.1)
        losses.append((loss.item(), model.weight.detach().numpy().copy(),
                       model.bias.detach().numpy().copy()))
    assert_close(np.float32(losses[0][0]), np.float32(losses[1][0]), what="loss")
    assert_close(losses[0][1], losses[1][1], what="weight")
    assert_close(losses[0][2], losses[1][2], what="bias")


def test_data_shares_storage_but_not_version():
    for L in (G, torch):
        p = L.tensor(A.copy(), requires_grad=True)
        p.data.mul_(2)
        p.data[0, 0] = 5.0
        assert p._version == 0
        d = p.detach()
        assert float(d[0, 0]) == 5.0 and float(d[1, 1]) == pytest.approx(2 * float(A[1, 1]))


def test_clip_grad_norm_scales_gradients_from_a_generator():
    """``clip_grad_norm_(model.parameters(), c)``: a generator, read once."""
    grads = []
    for L in (G, torch):
        model = L.nn.Linear(5, 3)
        with L.no_grad():
            model.weight.copy_(L.tensor(A[:3].copy()))
            model.bias.copy_(L.tensor(B[0, :3].copy()))
        (model(L.tensor(B.copy())) ** 2).sum().backward()
        held = model.weight.grad                 # a reference sees the in-place scaling
        total = L.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        grads.append((float(total), held.numpy().copy(), model.bias.grad.numpy().copy()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-5)
    assert_close(grads[0][1], grads[1][1], what="weight grad")
    assert_close(grads[0][2], grads[1][2], what="bias grad")


def test_clip_grad_value_from_a_generator():
    grads = []
    for L in (G, torch):
        model = L.nn.Linear(5, 3)
        with L.no_grad():
            model.weight.copy_(L.tensor(A[:3].copy()))
            model.bias.copy_(L.tensor(B[0, :3].copy()))
        (model(L.tensor(B.copy())) ** 2).sum().backward()
        L.nn.utils.clip_grad_value_(model.parameters(), 0.3)
        grads.append(model.weight.grad.numpy().copy())
    assert_close(grads[0], grads[1])


def test_inplace_relu_module_on_a_nonleaf_input_keeps_gradients():
    results = []
    for L in (G, torch):
        a = L.tensor(A.copy(), requires_grad=True)
        h = a * 2.0
        out = L.nn.ReLU(inplace=True)(h)
        (out * L.tensor(B.copy())).sum().backward()
        results.append((h.detach().numpy().copy(), a.grad.numpy().copy()))
    assert_close(results[0][0], results[1][0], what="input written in place")
    assert_close(results[0][1], results[1][1], what="gradient")


def test_traced_inplace_keeps_one_compiled_graph():
    from graphnn import _compile

    class Norm(G.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", G.zeros(()))

        def forward(self, x):
            self.count += 1          # state written back after every call
            x = x * 1.0
            x[:, 0] = 0.0
            return x

    m = Norm()
    x = G.tensor(A.copy())
    m(x)
    traces = _compile.STATS["traces"]
    for _ in range(3):
        out = m(x)
    assert _compile.STATS["traces"] == traces
    assert float(m.count) == 4.0
    assert float(out[:, 0].abs().sum()) == 0.0


def test_gradients_do_not_alias():
    """``a + b``: one backward value feeds both gradients; each ``.grad`` is its own
    storage, and a gradient given to ``backward`` is copied, not adopted."""
    for L in (G, torch):
        a, b = _leaves(L)
        (a + b).sum().backward()
        a.grad[0, 0] = 100.0
        assert float(b.grad[0, 0]) == 1.0
        leaf = L.zeros(3, requires_grad=True)
        g = L.ones(3)
        leaf.backward(g)
        leaf.grad.mul_(5)
        assert float(g[0]) == 1.0


def test_zero_grad_keeps_the_gradient_tensor():
    for L in (G, torch):
        model = L.nn.Linear(5, 3)
        model(L.tensor(B.copy())).sum().backward()
        held = model.weight.grad
        model.zero_grad(set_to_none=False)
        assert model.weight.grad is held and float(held.abs().sum()) == 0.0
