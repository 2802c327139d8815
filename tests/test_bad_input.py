"""Bad inputs raise a clear error of PyTorch's exception type that names the module or
function and the shapes involved, before any kernel runs."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphnn
import torch
from graphnn.runtime import get_runtime


def _net(T):
    class Net(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = T.nn.Conv2d(4, 3, 3)
            self.fc1 = T.nn.Linear(12, 2)

        def forward(self, x):
            return self.fc1(T.flatten(self.conv1(x), 1))

    return Net()


# name, fn(T), strings the message must contain
CASES = [
    ("linear_features", lambda T: T.nn.Linear(5, 3)(T.zeros(4, 6)),
     ["Linear", "4x6", "5x3"]),
    ("linear_features_3d", lambda T: T.nn.Linear(5, 3)(T.zeros(2, 4, 6)),
     ["Linear", "8x6", "5x3"]),
    ("functional_linear", lambda T: T.nn.functional.linear(T.zeros(4, 6), T.zeros(3, 5)),
     ["linear", "4x6", "5x3"]),
    ("conv2d_channels", lambda T: T.nn.Conv2d(4, 3, 3)(T.zeros(2, 5, 6, 6)),
     ["Conv2d", "[3, 4, 3, 3]", "[2, 5, 6, 6]", "4 channels"]),
    ("conv2d_rank", lambda T: T.nn.Conv2d(4, 3, 3)(T.zeros(6, 6)), ["Conv2d", "[6, 6]"]),
    ("conv2d_too_small", lambda T: T.nn.Conv2d(4, 3, 3)(T.zeros(1, 4, 2, 2)),
     ["Conv2d", "(2 x 2)", "(3 x 3)"]),
    ("submodule_conv", lambda T: _net(T)(T.zeros(2, 5, 4, 4)),
     ["conv1", "[3, 4, 3, 3]", "[2, 5, 4, 4]"]),
    ("submodule_linear", lambda T: _net(T)(T.zeros(2, 4, 5, 5)),
     ["fc1", "2x27", "12x2"]),
    ("max_pool2d_rank", lambda T: T.nn.MaxPool2d(2)(T.zeros(4, 4)), ["MaxPool2d", "[4, 4]"]),
    ("ce_float_target", lambda T: T.nn.functional.cross_entropy(T.zeros(4, 5), T.zeros(4)),
     ["cross_entropy", "Long", "[4, 5]", "[4]"]),
    ("ce_float_target_module", lambda T: T.nn.CrossEntropyLoss()(T.zeros(4, 5), T.zeros(4)),
     ["cross_entropy", "[4, 5]", "[4]"]),
    ("nll_float_target", lambda T: T.nn.functional.nll_loss(T.zeros(4, 5), T.zeros(4)),
     ["nll_loss", "Long", "[4, 5]", "[4]"]),
    ("ce_class_out_of_range", lambda T: T.nn.functional.cross_entropy(
        T.zeros(4, 5), T.tensor([0, 1, 7, 2])), ["cross_entropy", "Target 7", "[4, 5]"]),
    ("ce_class_negative", lambda T: T.nn.functional.cross_entropy(
        T.zeros(4, 5), T.tensor([0, -3, 1, 2])), ["cross_entropy", "Target -3", "[4, 5]"]),
    ("ce_class_out_of_range_module", lambda T: T.nn.CrossEntropyLoss()(
        T.zeros(4, 5), T.tensor([0, 1, 5, 2])), ["Target 5", "[4, 5]"]),
    ("nll_class_out_of_range", lambda T: T.nn.functional.nll_loss(
        T.zeros(2, 3, 2, 2), T.tensor([[[0, 1], [3, 2]], [[0, 0], [0, 0]]])),
     ["nll_loss", "Target 3", "[2, 3, 2, 2]"]),
    ("ce_batch_mismatch", lambda T: T.nn.functional.cross_entropy(
        T.zeros(4, 5), T.tensor([0, 1, 2])), ["cross_entropy", "[4, 5]", "[3]"]),
    ("matmul_shapes", lambda T: T.zeros(2, 3) @ T.zeros(4, 2), ["2x3", "4x2"]),
    ("broadcast_shapes", lambda T: T.zeros(4, 5) + T.zeros(4, 3), ["5", "3"]),
]


def _cell(T, cls, x, *states):
    m = getattr(T.nn, cls)(3, 4)
    hs = tuple(T.zeros(*s) for s in states)
    return m(T.zeros(*x), hs if cls == "LSTMCell" else hs[0])


def _mha(T, q=(4, 2, 8), **masks):
    x = T.zeros(*q)
    return T.nn.MultiheadAttention(8, 2)(x, x, x, **{
        k: T.zeros(*shape, dtype=getattr(T, dtype)) for k, (shape, dtype) in masks.items()})


# sequence models; "tail": the message ends with PyTorch's (less a leading "Name: ")
SEQ_CASES = [
    ("lstm_hx", lambda T: T.nn.LSTM(3, 4)(T.zeros(5, 2, 3), (T.zeros(2, 2, 4),
                                                             T.zeros(1, 2, 4))),
     ["LSTM", "[5, 2, 3]", "(1, 2, 4)", "[2, 2, 4]", "Expected hidden[0] size"], True),
    ("lstm_cx", lambda T: T.nn.LSTM(3, 4)(T.zeros(5, 2, 3), (T.zeros(1, 2, 4),
                                                             T.zeros(1, 3, 4))),
     ["LSTM", "[5, 2, 3]", "[1, 3, 4]", "Expected hidden[1] size"], True),
    ("gru_hx", lambda T: T.nn.GRU(3, 4)(T.zeros(5, 2, 3), T.zeros(2, 2, 4)),
     ["GRU", "[5, 2, 3]", "(1, 2, 4)", "[2, 2, 4]"], True),
    ("rnn_hx", lambda T: T.nn.RNN(3, 4, num_layers=2)(T.zeros(5, 2, 3), T.zeros(1, 2, 4)),
     ["RNN", "[5, 2, 3]", "(2, 2, 4)", "[1, 2, 4]"], True),
    ("gru_hx_rank", lambda T: T.nn.GRU(3, 4)(T.zeros(5, 2, 3), T.zeros(2, 4)),
     ["GRU", "[5, 2, 3]", "[2, 4]", "hx should also be 3-D"], True),
    ("lstm_unbatched_hx_rank", lambda T: T.nn.LSTM(3, 4)(T.zeros(5, 3), (T.zeros(1, 1, 4),
                                                                        T.zeros(1, 1, 4))),
     ["LSTM", "[5, 3]", "[1, 1, 4]", "hx and cx should also be 2-D"], True),
    ("mha_embed_dim", lambda T: _mha(T, q=(4, 2, 6)),
     ["MultiheadAttention", "[4, 2, 6]", "embedding dimension of 8, but got 6"], True),
    ("mha_kpm_shape", lambda T: _mha(T, key_padding_mask=((2, 5), "bool")),
     ["MultiheadAttention", "[4, 2, 8]", "[2, 5]", "key_padded_mask.shape[1] to be 4"], True),
    ("mha_kpm_rank", lambda T: _mha(T, key_padding_mask=((2, 4, 1), "bool")),
     ["MultiheadAttention", "[4, 2, 8]", "[2, 4, 1]", "`key_padding_mask` to be `None` or 2-D"],
     True),
    ("mha_kpm_dtype", lambda T: _mha(T, key_padding_mask=((2, 4), "int64")),
     ["MultiheadAttention", "[4, 2, 8]", "[2, 4] int64", "key_padding_mask are supported"],
     True),
    ("mha_attn_mask_shape", lambda T: _mha(T, attn_mask=((3, 4), "bool")),
     ["MultiheadAttention", "[4, 2, 8]", "(3, 4)", "The shape of the 2D attn_mask is"], False),
    ("mha_attn_mask_3d_shape", lambda T: _mha(T, attn_mask=((3, 4, 4), "float32")),
     ["MultiheadAttention", "(3, 4, 4)", "(4, 4, 4)", "The shape of the 3D attn_mask"], False),
    ("mha_attn_mask_dtype", lambda T: _mha(T, attn_mask=((4, 4), "int32")),
     ["MultiheadAttention", "[4, 2, 8]", "[4, 4] int32", "attn_mask are supported"], True),
    ("embedding_index", lambda T: T.nn.Embedding(10, 3)(T.tensor([[1, 12, 3]])),
     ["Embedding", "[1, 3]", "num_embeddings 10", "max index 12"], True),
    ("embedding_negative", lambda T: T.nn.Embedding(10, 3)(T.tensor([1, -2, 3])),
     ["Embedding", "[3]", "num_embeddings 10", "min index -2"], True),
    ("functional_embedding", lambda T: T.nn.functional.embedding(T.tensor([4]), T.zeros(4, 2)),
     ["embedding", "[4, 2]", "num_embeddings 4", "max index 4"], True),
] + [(f"{cls}_{what}", fn, [cls] + needles, True) for cls in ("RNNCell", "LSTMCell", "GRUCell")
     for what, fn, needles in (
         ("batch", lambda T, c=cls: _cell(T, c, (3, 3), (2, 4), (2, 4)),
          ["[3, 3]", "[2, 4]", "Input batch size 3 doesn't match hidden0 batch size 2"]),
         ("hidden_size", lambda T, c=cls: _cell(T, c, (2, 3), (2, 5), (2, 5)),
          ["[2, 3]", "[2, 5]", "hidden0 has inconsistent hidden_size: got 5, expected 4"]),
         ("input_size", lambda T, c=cls: _cell(T, c, (2, 5), (2, 4), (2, 4)),
          ["[2, 5]", "input has inconsistent input_size: got 5 expected 3"]),
         # these two were broadcast silently into a wrong result
         ("hx_rank", lambda T, c=cls: _cell(T, c, (2, 3), (1, 2, 4), (1, 2, 4)),
          ["[2, 3]", "[1, 2, 4]", "to be 1D or 2D, got 3D instead"]),
         ("unbatched_batched_hx", lambda T, c=cls: _cell(T, c, (3,), (2, 4), (2, 4)),
          ["[3]", "[2, 4]", "hidden0 has inconsistent hidden_size: got 2, expected 4"]))]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,fn,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, fn, needles):
    with pytest.raises(Exception) as ref:
        fn(torch)
    rt = get_runtime()
    before = rt.launches
    with pytest.raises(type(ref.value)) as ours:
        fn(graphnn)
    assert rt.launches == before, f"{name}: a kernel ran before the error"
    msg = str(ours.value)
    for needle in needles:
        assert needle in msg, f"{name}: {needle!r} not in {msg!r}"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,fn,needles,tail", SEQ_CASES, ids=[c[0] for c in SEQ_CASES])
def test_bad_input_sequence_models(name, fn, needles, tail):
    """Recurrent layers and cells, attention and embeddings: PyTorch's type, the module and
    the shapes, and PyTorch's wording as the tail of the message."""
    test_bad_input(name, fn, needles)
    if tail:
        with pytest.raises(Exception) as ref:
            fn(torch)
        with pytest.raises(Exception) as ours:
            fn(graphnn)
        want = re.sub(r"^\w+: ", "", str(ref.value))
        assert str(ours.value).endswith(want), f"{name}: {str(ours.value)!r} vs {want!r}"


def test_backward_on_non_scalar():
    for T in (torch, graphnn):
        x = T.ones(2, 3, requires_grad=True)
        y = x * 2
        before = get_runtime().launches
        with pytest.raises(RuntimeError,
                           match=re.escape("grad can be implicitly created only for scalar "
                                           "outputs")) as err:
            y.backward()
        if T is graphnn:
            assert get_runtime().launches == before
            assert "[2, 3]" in str(err.value)
            assert x.grad is None


def test_error_then_recovery():
    # a failed call leaves nothing behind: the same module works on a good input afterwards
    lin = graphnn.nn.Linear(5, 3)
    with pytest.raises(RuntimeError):
        lin(graphnn.zeros(4, 6))
    out = lin(graphnn.tensor(np.ones((4, 5), np.float32)))
    ref = torch.nn.functional.linear(torch.ones(4, 5), torch.tensor(lin.weight.detach().numpy()),
                                     torch.tensor(lin.bias.detach().numpy()))
    np.testing.assert_allclose(out.detach().numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
