"""Forward and backward module hooks against torch: order, arguments, replacements, removal."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn


def net(lib):
    nn = lib.nn
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with lib.no_grad():
        for p in m.parameters():
            p.copy_(lib.tensor(np.linspace(-1, 1, p.numel()).reshape(tuple(p.shape))
                               .astype(np.float32)))
    return m


def arr(t):
    return None if t is None else t.detach().numpy().round(4).tolist()


def test_forward_hooks_order_kwargs_prepend_remove():
    def run(lib):
        log = []
        m = net(lib)
        h1 = m[0].register_forward_pre_hook(lambda mod, a: log.append(("pre", arr(a[0]))))
        m[0].register_forward_pre_hook(lambda mod, a: log.append(("pre0",)), prepend=True)
        m[1].register_forward_hook(lambda mod, a, out: log.append(("fwd", arr(out))))
        m[1].register_forward_hook(lambda mod, a, kw, out: log.append(("kw", sorted(kw))),
                                   with_kwargs=True)
        m[2].register_forward_pre_hook(lambda mod, a, kw: ((a[0] * 2,), kw), with_kwargs=True)
        m[2].register_forward_hook(lambda mod, a, out: out + 1)
        x = lib.ones(2, 3)
        y1 = m(x)
        y2 = m(x * 2)             # hooks fire on every call, with real values
        h1.remove()
        y3 = m(x)
        with m.register_forward_hook(lambda mod, a, out: log.append("ctx")):
            m(x)
        m(x)
        return log, arr(y1), arr(y2), arr(y3)

    assert run(graphnn) == run(torch)


def test_forward_pre_hook_replaces_single_input():
    def run(lib):
        m = lib.nn.Linear(2, 2)
        m.register_forward_pre_hook(lambda mod, a: a[0] * 0)
        return arr(m(lib.ones(1, 2))) == arr(m.bias.reshape(1, 2))

    assert run(torch) and run(graphnn)


def test_hooked_submodule_is_not_hidden_in_a_graph():
    seen = []
    m = net(graphnn)
    m[1].register_forward_hook(lambda mod, a, out: seen.append(type(out)))
    for _ in range(3):
        m(graphnn.ones(1, 3))
    assert seen == [graphnn.Tensor] * 3


def test_full_backward_hooks_match_torch():
    def run(lib):
        log = []
        m = net(lib)
        m[1].register_full_backward_pre_hook(lambda mod, go: log.append(("pre", arr(go[0]))))
        m[1].register_full_backward_hook(
            lambda mod, gi, go: log.append(("full", [arr(g) for g in gi], arr(go[0]))))
        m[2].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 2,))
        m[0].register_full_backward_hook(lambda mod, gi, go: log.append(("first", gi)))
        x = lib.ones(2, 3)
        m(x).sum().backward()
        return log, arr(m[0].weight.grad), arr(m[2].weight.grad)

    assert run(graphnn) == run(torch)


def test_backward_pre_hook_replaces_grad_output_and_input_grads():
    def run(lib):
        m = net(lib)
        m[2].register_full_backward_pre_hook(lambda mod, go: (go[0] * 3,))
        x = lib.ones(2, 3).requires_grad_()
        h = m.register_full_backward_hook(lambda mod, gi, go: None)
        m(x).sum().backward()
        h.remove()
        return arr(x.grad), arr(m[0].bias.grad)

    assert run(graphnn) == run(torch)


def test_backward_hook_mixing_errors():
    for lib in (torch, graphnn):
        m = lib.nn.Linear(1, 1)
        m.register_full_backward_hook(lambda *a: None)
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks"):
            m.register_backward_hook(lambda *a: None)


def test_deprecated_backward_hook_fires():
    calls = []
    m = graphnn.nn.Linear(2, 2)
    m.register_backward_hook(lambda mod, gi, go: calls.append(len(go)))
    m(graphnn.ones(1, 2, requires_grad=True)).sum().backward()
    assert calls == [1]
