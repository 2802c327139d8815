"""graphnn.compile: a whole training step (forward, loss, backward, optimizer update) as one
graph, against PyTorch eager on the same weights and batches: the losses, the parameters,
the gradients left in ``.grad``, the optimizer state and BatchNorm's buffers after several
steps, with a learning rate changed between calls and a smaller last batch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from graphnn import _compile

from tests.conftest import assert_close


def _model(L):
    # (no bias before the BatchNorm: its gradient is zero up to rounding, which Adam's
    # normalised step would amplify into noise)
    return L.nn.Sequential(L.nn.Linear(6, 8, bias=False), L.nn.BatchNorm1d(8), L.nn.ReLU(),
                           L.nn.Dropout(0.0), L.nn.Linear(8, 3))


OPTIMIZERS = {
    "sgd_momentum": lambda L, p: L.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1,
                                             weight_decay=1e-3),
    "adamw_amsgrad": lambda L, p: L.optim.AdamW(p, lr=0.01, betas=(0.8, 0.9), amsgrad=True),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compiled_step_matches_torch_eager(name):
    torch.manual_seed(0)
    tm = _model(torch)
    gm = _model(G)
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    runs = {}
    for L, m in ((torch, tm), (G, gm)):
        opt = OPTIMIZERS[name](L, m.parameters())

        def step(x, y):
            opt.zero_grad()
            loss = L.nn.functional.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        if L is G:
            step = G.compile(step)
        rng = np.random.default_rng(1)
        losses = []
        for i, n in enumerate((5, 5, 5, 5, 3)):      # the last batch is smaller
            if i == 2:
                for group in opt.param_groups:         # a schedule, outside the step
                    group["lr"] *= 0.5
            x = rng.standard_normal((n, 6)).astype(np.float32)
            y = rng.integers(0, 3, n)
            losses.append(step(L.tensor(x), L.tensor(y)).detach())
        runs[L] = (losses, m, opt)
    (tl, tm, topt), (gl, gm, gopt) = runs[torch], runs[G]
    for i, (a, b) in enumerate(zip(gl, tl)):
        assert_close(a, b, rtol=1e-4, atol=1e-5, what=f"loss {i}")
    for (k, a), b in zip(gm.state_dict().items(), tm.state_dict().values()):
        assert_close(a, b, rtol=1e-4, atol=1e-5, what=k)
    for (k, p), q in zip(gm.named_parameters(), tm.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, what=f"{k}.grad")
    for p, q in zip(gm.parameters(), tm.parameters()):
        for key, v in topt.state[q].items():
            assert_close(gopt.state[p][key], v, rtol=1e-4, atol=1e-6, what=f"state {key}")


def test_compiled_step_traces_once_and_is_one_graph():
    G.manual_seed(0)
    m = G.nn.Sequential(G.nn.Linear(4, 4), G.nn.Tanh(), G.nn.Linear(4, 1))
    opt = G.optim.SGD(m.parameters(), lr=0.05)

    @G.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    x, y = G.randn(8, 4), G.randn(8, 1)
    first = step(x, y).item()
    traces = _compile.STATS["traces"]
    later = [step(x, y).item() for _ in range(5)]
    assert _compile.STATS["traces"] == traces        # one trace: forward, backward and step
    assert later[-1] < first                          # it trains
    assert len(step._cache) == 1
    graph = next(iter(step._cache.values()))[0].graph
    ops = {graph.op(n) for n in graph.nodes()}
    assert "matmul" in ops and "tanh" in ops         # the forward ...
    assert any(graph.op(n) == "mul" for n in graph.nodes())   # ... and its update


def test_compiled_step_errors():
    m = G.nn.Linear(2, 1)

    def reads_value(x):
        loss = m(x).sum()
        if loss.item() > 0:
            loss = loss * 2
        return loss

    with pytest.raises(RuntimeError, match="cannot be one graph"):
        G.compile(reads_value)(G.ones(3, 2))
    with pytest.raises(RuntimeError, match="expected a Module or a function"):
        G.compile(3)
    assert G.compile(m) is m            # a Module already runs compiled
    lbfgs = G.optim.LBFGS(m.parameters())

    def lbfgs_step(x):
        return lbfgs.step(lambda: m(x).sum())

    with pytest.raises(RuntimeError, match="LBFGS.step cannot be part"):
        G.compile(lbfgs_step)(G.ones(3, 2))


@pytest.mark.parametrize("dialect_name,opt_name", [("cpu", "sgd"), ("gpu", "adam")])
def test_compiled_lenet_step_matches_torch(dialect_name, opt_name):
    """LeNet's whole step in both kernel dialects: the bias gradients are summed inside their
    weight gradient's kernel, which also applies the optimizer's update to the bias
    (``Group.side_epilogue``); parameters, gradients and state against torch eager."""
    import sys
    sys.path.insert(0, "examples")
    from lenet import LeNet, torch_twin
    from tests.kernel_check import UNPACKED_L2, dialect

    make = {"sgd": lambda L, p: L.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
            "adam": lambda L, p: L.optim.Adam(p, lr=0.01)}[opt_name]
    G.manual_seed(0)
    gm = LeNet()
    tm = torch_twin(gm)
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((3, 1, 32, 32)).astype(np.float32), rng.integers(0, 10, 3))
               for _ in range(3)]
    # launches counted without a device's packing launches (kernel_check.UNPACKED_L2)
    with dialect(dialect_name, l2_bytes=UNPACKED_L2):
        results = {}
        for L, m in ((torch, tm), (G, gm)):
            opt = make(L, m.parameters())

            def step(x, y):
                opt.zero_grad()
                loss = L.nn.functional.cross_entropy(m(x), y)
                loss.backward()
                opt.step()
                return loss

            if L is G:
                step = G.compile(step)
            losses = [step(L.tensor(x), L.tensor(y)).detach() for x, y in batches[:2]]
            if L is G:
                before = G.stats().launches
            losses.append(step(L.tensor(batches[2][0]), L.tensor(batches[2][1])).detach())
            if L is G:
                launches = G.stats().launches - before
            results[L] = (losses, m, opt)
    (tl, tm, topt), (gl, gm, gopt) = results[torch], results[G]
    for i, (a, b) in enumerate(zip(gl, tl)):
        assert_close(a, b, rtol=1e-4, atol=1e-5, what=f"loss {i}")
    for (k, p), q in zip(gm.named_parameters(), tm.parameters()):
        assert_close(p, q, rtol=1e-4, atol=1e-5, what=k)
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, what=f"{k}.grad")
        for key, v in topt.state[q].items():
            assert_close(gopt.state[p][key], v, rtol=1e-4, atol=1e-6, what=f"{k} {key}")
    if dialect_name == "cpu":
        # 5 forward; the loss in 2 (rows, then sum and count in one loop); the logits'
        # gradient; 6 input and pooling gradients; 5 weight gradients with their bias
        # gradients and updates (28 before bias sums took their update along and the loss's
        # target mask and sums shared kernels)
        assert launches <= 19, launches


@pytest.mark.parametrize("big", [True, False], ids=["at_stream_numel", "below"])
def test_large_updates_leave_the_weight_gradients_epilogue(big):
    """An SGD-with-momentum update reads the weight and its momentum buffer: from
    ``STREAM_NUMEL`` elements on it is an elementwise kernel of its own rather than the
    weight gradient's epilogue (``kernel_graph.epilogue_streams``), below it stays there;
    either way the weights, gradients and buffers after three steps equal PyTorch's."""
    from graphnn.ir.passes import run_pipeline
    from graphnn.ir.passes.kernel_graph import STREAM_NUMEL

    n = 1024
    k = STREAM_NUMEL // n - (0 if big else 1)
    torch.manual_seed(0)
    tm = torch.nn.Linear(k, n)
    gm = G.nn.Linear(k, n)
    gm.load_state_dict({key: v.detach().numpy() for key, v in tm.state_dict().items()})
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((6, k)).astype(np.float32),
                rng.standard_normal((6, n)).astype(np.float32)) for _ in range(3)]
    opts = {}
    for L, m in ((torch, tm), (G, gm)):
        opt = opts[L] = L.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

        def step(x, y, m=m, opt=opt):
            opt.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        if L is G:
            step = G.compile(step)
            compiled = step
        for x, y in batches:
            step(L.tensor(x), L.tensor(y))
    for (key, p), q in zip(gm.named_parameters(), tm.parameters()):
        assert_close(p, q, rtol=1e-4, atol=1e-6, what=key)
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, what=f"{key}.grad")
        assert_close(opts[G].state[p]["momentum_buffer"], opts[torch].state[q]["momentum_buffer"],
                     rtol=1e-4, atol=1e-6, what=f"{key} momentum")
    graph = next(iter(compiled._cache.values()))[0].graph.copy()
    run_pipeline(graph)
    streamed = [d for d in graph.fusion_decisions if d.reason == "epilogue_streams"]
    products = [g for g in graph.groups if g.kind == "gemm"]
    fused = [g for g in products if any(graph.op(m) == "add" for m in g.members)]
    assert bool(streamed) == big and bool(fused) == (not big), (streamed, fused)
