"""Model workloads for ``benchmarks/run.py``: graphnn against torch CPU on the same weights
and inputs, timed as in ``kernels.py`` (best of interleaved rounds, graphnn's calls enqueued
back to back and drained once).

Each ``*_rows`` function returns table rows ``| workload | graphnn ms | torch ms | graphnn /
torch time | goal | launches | max rel. diff |``: the goal is issue 11's ratio for that
workload (time, so lower is better), launches are graphnn's kernel launches per call and
the difference is of the outputs (the loss, for a training step) after the same first call.
"""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
from kernels import race  # noqa: E402

HEADER = ["| workload | graphnn ms | torch ms | graphnn / torch time | goal | launches | "
          "max rel. diff |", "|---|---|---|---|---|---|---|"]


def _rel(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-12))


def _row(label: str, g_fn, t_fn, rt, rounds: int, goal: str, err: float) -> str:
    before = rt.launches
    g_fn()
    rt.finish()
    launches = rt.launches - before
    g, t = race(g_fn, t_fn, rt, rounds)
    return (f"| {label} | {g * 1e3:.2f} | {t * 1e3:.2f} | {g / t:.2f}x | {goal} | "
            f"{launches} | {err:.1e} |")


def _copy_weights(g_model, t_model) -> None:
    g_model.load_state_dict({k: v.detach().numpy().copy()
                             for k, v in t_model.state_dict().items()})


def _train_pair(L, model, opt, loss_fn, compiled: bool):
    """A training step of ``model`` in library ``L`` (graphnn or torch): zero_grad, loss,
    backward, step; compiled into one graph with ``graphnn.compile`` when asked."""
    def step(*batch):
        opt.zero_grad()
        loss = loss_fn(model, *batch)
        loss.backward()
        opt.step()
        return loss
    return L.compile(step) if compiled else step


def _step_rows(name: str, make, batch, rt, rounds: int, goals: dict,
               compiled=(False, True), lr: float = 0.01) -> list[str]:
    """Rows for ``make(L)`` (a model and its loss function) trained with SGD + momentum,
    eager and compiled, against torch eager."""
    import graphnn as G
    import torch

    t_model, loss_fn = make(torch)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=lr, momentum=0.9)
    t_step = _train_pair(torch, t_model, t_opt, loss_fn, False)
    t_batch = [torch.tensor(b) for b in batch]
    rows = []
    for comp in compiled:
        g_model, g_loss = make(G)
        _copy_weights(g_model, t_model)
        g_opt = G.optim.SGD(g_model.parameters(), lr=lr, momentum=0.9)
        g_step = _train_pair(G, g_model, g_opt, g_loss, comp)
        g_batch = [G.tensor(b) for b in batch]
        # the first step from the same weights (torch's model is reset after)
        state = {k: v.clone() for k, v in t_model.state_dict().items()}
        err = _rel(g_step(*g_batch).item(), t_step(*t_batch).item())
        t_model.load_state_dict(state)
        label = f"{name} training step" + (", compiled" if comp else "")
        rows.append(_row(label, lambda: g_step(*g_batch), lambda: t_step(*t_batch), rt,
                         rounds, goals.get(comp, ""), err))
    return rows


def _forward_row(label: str, g_model, t_model, g_in, t_in, rt, rounds: int,
                 goal: str) -> str:
    import graphnn as G
    import torch

    def g_fn():
        with G.no_grad():
            return g_model(*g_in)

    def t_fn():
        with torch.no_grad():
            return t_model(*t_in)

    err = _rel(g_fn().numpy(), t_fn().numpy())
    return _row(label, g_fn, t_fn, rt, rounds, goal, err)


# -- the workloads ---------------------------------------------------------------------------
def lenet_rows(rounds: int, rt) -> list[str]:
    import graphnn as G
    import torch
    from lenet import LeNet, torch_twin

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    G.manual_seed(0)
    ref = torch_twin(LeNet())

    def make(L):
        if L is torch:
            return ref, lambda m, a, b: torch.nn.functional.cross_entropy(m(a), b)
        return LeNet(), lambda m, a, b: G.nn.functional.cross_entropy(m(a), b)

    rows = _step_rows("LeNet-5, batch 64,", make, (x, y), rt, rounds,
                      {False: "", True: "<= 0.25x"})
    g = LeNet()
    _copy_weights(g, ref)
    rows.append(_forward_row("LeNet-5, batch 64, inference", g, ref, [G.tensor(x)],
                             [torch.tensor(x)], rt, rounds, ""))
    return rows


def mlp_rows(rounds: int, rt) -> list[str]:
    widths = (784, 1024, 1024, 10)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)

    def make(L):
        layers = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers.append(L.nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(L.nn.ReLU())
        return L.nn.Sequential(*layers), \
            lambda m, a, b: L.nn.functional.cross_entropy(m(a), b)

    return _step_rows("MLP 784-1024-1024-10, batch 128,", make, (x, y), rt, rounds,
                      {True: "<= 0.8x"})


def norm_rows(rounds: int, rt) -> list[str]:
    """softmax over rows and layer norm with its backward, at a Transformer's shapes."""
    import graphnn as G
    import torch

    from kernels import Fn
    rng = np.random.default_rng(0)
    rows = []
    s = rng.standard_normal((8 * 4 * 128, 128)).astype(np.float32)
    rows.append(_forward_row("softmax, 4096 rows of 128 (attention scores)",
                             Fn(lambda v: G.softmax(v, -1)),
                             lambda v: torch.softmax(v, -1), [G.tensor(s)],
                             [torch.tensor(s)], rt, rounds, ""))
    h = rng.standard_normal((8 * 128, 768)).astype(np.float32)
    t_ln = torch.nn.LayerNorm(768)
    g_ln = G.nn.LayerNorm(768)
    with torch.no_grad():
        t_ln.weight.normal_()
        t_ln.bias.normal_()
    _copy_weights(g_ln, t_ln)
    rows.append(_forward_row("layer_norm forward, 1024 x 768", g_ln, t_ln, [G.tensor(h)],
                             [torch.tensor(h)], rt, rounds, ""))
    gx, tx = G.tensor(h, requires_grad=True), torch.tensor(h, requires_grad=True)
    seed = rng.standard_normal(h.shape).astype(np.float32)
    gs, ts = G.tensor(seed), torch.tensor(seed)

    def g_fb():
        g_ln(gx).backward(gs)

    def t_fb():
        t_ln(tx).backward(ts)

    g_fb(), t_fb()
    err = _rel(gx.grad.numpy(), tx.grad.numpy())
    rows.append(_row("layer_norm forward + backward, 1024 x 768", g_fb, t_fb, rt, rounds,
                     "", err))
    return rows


def _resnet(L, blocks=(64, 128, 256, 512)):
    """ResNet-18's basic-block stack: two blocks per stage, a strided block with a 1x1
    projection between stages; global average pooling and a 10-way classifier."""
    nn = L.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.down = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = nn.functional.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return nn.functional.relu(y + (x if self.down is None else self.down(x)))

    layers, cin = [], blocks[0]
    for i, c in enumerate(blocks):
        layers += [Block(cin, c, 1 if i == 0 else 2), Block(c, c, 1)]
        cin = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))


def resnet_rows(rounds: int, rt) -> list[str]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    y = rng.integers(0, 10, 8)

    def make(L):
        return _resnet(L), lambda m, a, b: L.nn.functional.cross_entropy(m(a), b)

    return _step_rows("ResNet-18 block stack (64-512 channels, 56x56 -> 7x7), batch 8,",
                      make, (x, y), rt, rounds, {False: "<= 1.0x"}, compiled=(False,))


def encoder_rows(rounds: int, rt) -> list[str]:
    import graphnn as G
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 128, 256)).astype(np.float32)
    target = rng.standard_normal((8, 128, 256)).astype(np.float32)
    torch.manual_seed(0)
    t_enc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True), 2,
        enable_nested_tensor=False)

    def make(L):
        if L is torch:
            m = t_enc
        else:
            m = G.nn.TransformerEncoder(
                G.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True), 2)
        return m, lambda mod, a, b: ((mod(a) - b) ** 2).mean()

    g_enc = make(G)[0]
    _copy_weights(g_enc, t_enc)
    rows = [_forward_row("TransformerEncoder 2 x (256, 4 heads, ffn 1024), 8 x 128, forward",
                         g_enc.eval(), t_enc.eval(), [G.tensor(x)], [torch.tensor(x)], rt,
                         rounds, "<= 0.8x")]
    t_enc.train()
    rows += _step_rows("TransformerEncoder 2 x (256, 4 heads, ffn 1024), 8 x 128,", make,
                       (x, target), rt, rounds, {False: "<= 1.0x"}, compiled=(False,))
    return rows


def minilm_rows(rounds: int, rt) -> list[str]:
    import graphnn as G
    import torch
    from minilm_embed import load

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, (8, 128)).astype(np.int64)
    mask = np.ones((8, 128), np.int64)
    return [_forward_row("all-MiniLM-L6-v2 encoder (6 layers, hidden 384), 8 x 128, forward",
                         load(G), load(torch), [G.tensor(ids), G.tensor(mask)],
                         [torch.tensor(ids), torch.tensor(mask)], rt, rounds, "")]


def lstm_rows(rounds: int, rt) -> list[str]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16, 128)).astype(np.float32)      # (T, N, features)
    y = rng.standard_normal((64, 16, 128)).astype(np.float32)

    def make(L):
        return L.nn.LSTM(128, 128, num_layers=2), \
            lambda m, a, b: ((m(a)[0] - b) ** 2).mean()

    return _step_rows("LSTM 2 x 128, 64 steps, batch 16,", make, (x, y), rt, rounds, {},
                      compiled=(False,))


PARTS = {"lenet": lenet_rows, "mlp": mlp_rows, "norm": norm_rows, "resnet": resnet_rows,
         "encoder": encoder_rows, "minilm": minilm_rows, "lstm": lstm_rows}
