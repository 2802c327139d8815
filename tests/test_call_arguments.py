"""Every tensor a compiled call receives is read anew on each call, wherever it is passed:
positionally, as a keyword, inside a list, tuple (``nn.LSTM``'s ``(h_0, c_0)``), dict or
``PackedSequence``. Each case calls one module twice with new tensors of the same shape
(the second call reuses the compiled graph) and compares with PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close


def _both(rng, *shape):
    a = rng.standard_normal(shape).astype(np.float32)
    return G.tensor(a), torch.tensor(a)


FORWARDS = {
    "keyword": lambda x, y, *, bias=None: x * y + bias,
    "list": lambda x, pair: x * pair[0] + pair[1],
    "tuple": lambda x, pair: x * pair[0] + pair[1],
    "dict": lambda x, table: x * table["a"] + table["b"],
}


def _call(L, kind, x, a, b):
    class M(L.nn.Module):
        def forward(self, *args, **kwargs):
            return FORWARDS[kind](*args, **kwargs)

    m = _module_cache.setdefault((L.__name__, kind), M())
    if kind == "keyword":
        return m(x, a, bias=b)
    if kind == "dict":
        return m(x, {"a": a, "b": b})
    return m(x, [a, b] if kind == "list" else (a, b))


_module_cache: dict = {}


@pytest.mark.parametrize("kind", list(FORWARDS))
def test_tensors_in_keywords_lists_tuples_and_dicts_are_inputs(kind):
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, a, b = (_both(rng, 2, 3) for _ in range(3))
        assert_close(_call(G, kind, x[0], a[0], b[0]), _call(torch, kind, x[1], a[1], b[1]))


def test_lstm_initial_state_tuple_is_read_each_call():
    rng = np.random.default_rng(1)
    G.manual_seed(0)
    ours = G.nn.LSTM(3, 4, num_layers=2)
    ref = torch.nn.LSTM(3, 4, num_layers=2)
    ref.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in
                         ours.state_dict().items()})
    for _ in range(3):
        x, h, c = _both(rng, 5, 2, 3), _both(rng, 2, 2, 4), _both(rng, 2, 2, 4)
        out, (hn, cn) = ours(x[0], (h[0], c[0]))
        w_out, (w_hn, w_cn) = ref(x[1], (h[1], c[1]))
        for a, b in ((out, w_out), (hn, w_hn), (cn, w_cn)):
            assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_packed_sequence_is_read_each_call():
    rng = np.random.default_rng(2)
    ours = G.nn.GRU(3, 4)
    ref = torch.nn.GRU(3, 4)
    ref.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in
                         ours.state_dict().items()})
    for _ in range(2):
        x = _both(rng, 4, 2, 3)
        lengths = [4, 2]
        got = ours(G.nn.utils.rnn.pack_padded_sequence(x[0], lengths))[0]
        want = ref(torch.nn.utils.rnn.pack_padded_sequence(x[1], lengths))[0]
        assert_close(got.data, want.data, rtol=1e-4, atol=1e-5)


def test_attention_masks_of_another_dtype_on_the_same_module():
    """A float key padding mask, then bool ones of the same shape, on one module; the last
    masks each sequence's first key (a softmax row that starts with -inf)."""
    rng = np.random.default_rng(3)
    G.manual_seed(0)
    ours = G.nn.MultiheadAttention(8, 2)
    ref = torch.nn.MultiheadAttention(8, 2)
    ref.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in
                         ours.state_dict().items()})
    q = _both(rng, 5, 2, 8)
    pad = np.array([[False, False, False, True, True], [False] * 4 + [True]])
    masks = [(G.tensor(np.where(pad, -np.inf, 0.0).astype(np.float32)),
              torch.tensor(np.where(pad, -np.inf, 0.0).astype(np.float32))),
             (G.tensor(pad), torch.tensor(pad)),
             (G.tensor(~pad & (np.arange(5) == 0)), torch.tensor(~pad & (np.arange(5) == 0)))]
    for m_ours, m_ref in masks:
        out, w = ours(q[0], q[0], q[0], key_padding_mask=m_ours)
        w_out, w_w = ref(q[1], q[1], q[1], key_padding_mask=m_ref)
        assert_close(out, w_out, rtol=1e-4, atol=1e-5)
        assert_close(w, w_w, rtol=1e-4, atol=1e-5)


def test_compiled_step_reads_keyword_and_nested_tensors():
    """graphnn.compile takes its tensor arguments the same way: a keyword or a list holds
    a new tensor on each call."""
    step = G.compile(lambda x, pair, *, y: ((x + pair[0]) * y).sum())
    for k in (1.0, 2.0, 3.0):
        got = step(G.ones(3), [G.ones(3) * k], y=G.ones(3) * (k + 1)).item()
        assert got == 3 * (1 + k) * (k + 1)
