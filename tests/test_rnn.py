"""RNN, LSTM, GRU and their cells against PyTorch 2.13 on the same weights: outputs, final
states, input, initial-state and parameter gradients; packed sequences; errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

R = np.random.default_rng(81)
IN, HID, T, N = 3, 4, 5, 2


def _pair(make):
    t, g = make(torch), make(G)
    assert repr(g) == repr(t)
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    g.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    return g, t


def _flat(res):
    if isinstance(res, (tuple, list)):
        return [x for r in res for x in _flat(r)]
    return [res]


def _check(g, t, args_np, call):
    outs = []
    for L, m in ((G, g), (torch, t)):
        args = [L.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in args_np]
        res = _flat(call(m, L, *args))
        loss = sum((r * L.tensor(np.linspace(-1, 1, r.numel(), dtype=np.float32)
                                 .reshape(tuple(r.shape)))).sum() for r in res)
        loss.backward()
        grads = [a.grad for a in args if a.requires_grad] + [p.grad for p in m.parameters()]
        outs.append(([r.detach().numpy().copy() for r in res],
                     [q.numpy().copy() for q in grads]))
    for i, (a, b) in enumerate(zip(outs[0][0], outs[1][0])):
        assert_close(a, b, rtol=1e-4, atol=1e-5, what=f"result {i}")
    for i, (a, b) in enumerate(zip(outs[0][1], outs[1][1])):
        assert_close(a, b, rtol=1e-3, atol=1e-4, what=f"grad {i}")


CONFIGS = [
    ("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
    ("RNN", {"bias": False, "bidirectional": True}),
    ("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 2}), ("LSTM", {"batch_first": True}),
    ("GRU", {}), ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
]


@pytest.mark.parametrize("cls,kw", CONFIGS)
def test_recurrent_layer_matches_pytorch(cls, kw):
    g, t = _pair(lambda L: getattr(L.nn, cls)(IN, HID, **kw))
    x = R.standard_normal((N, T, IN) if kw.get("batch_first") else (T, N, IN)).astype(
        np.float32)
    _check(g, t, [x], lambda m, L, x: m(x))


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_initial_state_and_unbatched_input(cls):
    g, t = _pair(lambda L: getattr(L.nn, cls)(IN, HID, num_layers=2))
    x = R.standard_normal((T, IN)).astype(np.float32)
    h0 = R.standard_normal((2, HID)).astype(np.float32)
    c0 = R.standard_normal((2, HID)).astype(np.float32)
    if cls == "LSTM":
        _check(g, t, [x, h0, c0], lambda m, L, x, h, c: m(x, (h, c)))
    else:
        _check(g, t, [x, h0], lambda m, L, x, h: m(x, h))


@pytest.mark.parametrize("cls,kw", [("LSTM", {"bidirectional": True}), ("GRU", {}),
                                    ("RNN", {"num_layers": 2})])
def test_packed_sequences(cls, kw):
    g, t = _pair(lambda L: getattr(L.nn, cls)(IN, HID, **kw))
    x = R.standard_normal((T, 3, IN)).astype(np.float32)
    lengths = [3, 5, 2]

    def call(m, L, x):
        packed = L.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, state = m(packed)
        padded, lens = L.nn.utils.rnn.pad_packed_sequence(out)
        assert list(lens.numpy()) == lengths
        return padded, state
    _check(g, t, [x], call)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_pytorch(cls):
    g, t = _pair(lambda L: getattr(L.nn, cls)(IN, HID))
    x = R.standard_normal((N, IN)).astype(np.float32)
    h = R.standard_normal((N, HID)).astype(np.float32)
    if cls == "LSTMCell":
        _check(g, t, [x, h, h * 0.5], lambda m, L, x, h, c: m(x, (h, c)))
    else:
        _check(g, t, [x, h], lambda m, L, x, h: m(x, h))
    _check(g, t, [x[0]], lambda m, L, x: m(x))       # unbatched, zero state


def test_dropout_between_layers():
    """Eval mode ignores the dropout; training with p = 1 zeroes the second layer's input
    (deterministic, so PyTorch's values and gradients are the oracle) but not its state.
    The recurrent layers share the stacking code: the cheapest of them covers it."""
    g, t = _pair(lambda L: L.nn.RNN(IN, HID, num_layers=2, dropout=1.0))
    x = R.standard_normal((T, N, IN)).astype(np.float32)
    g.eval(), t.eval()
    _check(g, t, [x], lambda m, L, x: m(x))
    g.train(), t.train()
    _check(g, t, [x], lambda m, L, x: m(x))


def test_pad_and_pack_utilities_match_pytorch():
    seqs = [R.standard_normal((k, 2)).astype(np.float32) for k in (3, 1, 4)]
    results = []
    for L in (G, torch):
        ts = [L.tensor(s) for s in seqs]
        padded = L.nn.utils.rnn.pad_sequence(ts, batch_first=True, padding_value=-1.0)
        packed = L.nn.utils.rnn.pack_sequence(ts, enforce_sorted=False)
        back, lens = L.nn.utils.rnn.pad_packed_sequence(packed, total_length=5)
        results.append([padded.numpy(), packed.data.numpy(), packed.batch_sizes.numpy(),
                        packed.sorted_indices.numpy(), back.numpy(), lens.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b)


def test_recurrent_errors_match_pytorch():
    for fn in (lambda L: L.nn.LSTM(IN, HID)(L.ones(T, N, IN + 1)),
               lambda L: L.nn.GRU(IN, HID)(L.ones(T, N, IN), L.ones(2, N, HID)),
               lambda L: L.nn.LSTM(IN, HID, proj_size=HID),
               lambda L: L.nn.RNN(IN, HID, nonlinearity="sigmoid")):
        with pytest.raises((RuntimeError, ValueError)) as ref:
            fn(torch)
        with pytest.raises((RuntimeError, ValueError)) as ours:
            fn(G)
        assert type(ours.value) is type(ref.value)


def test_lstm_launches_per_step():
    """The time steps of a traced LSTM: three kernels a step forward (the recurrent
    product, the gates and c, h) and at most 3.5 backward (9 before two rewrites: the four
    gate gradients are computed in the branches of one concatenation kernel, the operand of
    the product for dh, and W_hh's gradient is one product over all steps).
    Counted as the difference between two lengths, so the per-sequence kernels cancel."""
    def launches(steps):
        G.manual_seed(0)
        m = G.nn.LSTM(8, 8)
        x = G.tensor(R.standard_normal((steps, 2, 8)).astype(np.float32))
        for _ in range(2):              # the second call: compiled, nothing left to build
            s0 = G.stats().launches
            out = m(x)[0]
            s1 = G.stats().launches
            out.backward(G.ones_like(out))
            s2 = G.stats().launches
        return s1 - s0, s2 - s1

    (f4, b4), (f6, b6) = launches(4), launches(6)
    assert f6 - f4 <= 2 * 3 and b6 - b4 <= 7, (f4, b4, f6, b6)
