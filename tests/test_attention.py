"""MultiheadAttention, scaled_dot_product_attention and the Transformer family against
PyTorch 2.13 on the same weights: outputs, attention weights, input and parameter gradients,
masks (bool and float, 2-D and 3-D, key padding), batch_first and unbatched inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

R = np.random.default_rng(71)
E, H, L, S, N = 8, 2, 4, 5, 3


def _copy(g, t):
    g.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})


def _data(*shape):
    return R.standard_normal(shape).astype(np.float32)


def _run(make, inputs, call, grads=True):
    """Builds both modules (torch's state loaded into graphnn's), runs ``call`` and returns
    results and gradients of every float input and parameter."""
    torch.manual_seed(0)
    t = make(torch)
    g = make(G)
    _copy(g, t)
    out = []
    for L_, m in ((G, g), (torch, t)):
        ts = [L_.tensor(a.copy(), requires_grad=a.dtype.kind == "f" and grads)
              if isinstance(a, np.ndarray) else a for a in inputs]
        res = call(m, L_, *ts)
        res = [r for r in (res if isinstance(res, tuple) else (res,)) if r is not None]
        loss = sum((r * L_.tensor(np.linspace(-1, 1, r.numel(), dtype=np.float32)
                                  .reshape(tuple(r.shape)))).sum() for r in res)
        loss.backward()
        grads_ = [x.grad for x in ts if isinstance(x, (G.Tensor, torch.Tensor)) and
                  x.requires_grad] + [p.grad for p in m.parameters()]
        out.append(([r.detach().numpy().copy() for r in res],
                    [None if q is None else q.numpy().copy() for q in grads_]))
    return out


def _compare(out):
    (vals_g, grads_g), (vals_t, grads_t) = out
    for i, (a, b) in enumerate(zip(vals_g, vals_t)):
        assert_close(a, b, rtol=1e-4, atol=1e-5, what=f"result {i}")
    for i, (a, b) in enumerate(zip(grads_g, grads_t)):
        if b is None:
            assert a is None or not np.any(a), f"grad {i}"
        else:
            assert_close(a, b, rtol=1e-3, atol=1e-4, what=f"grad {i}")


def _bool_mask(*shape, p=0.3):
    m = R.random(shape) < p
    m[..., 0] = False         # no fully masked row (PyTorch gives nan there too)
    return m


# masks drawn once, shared by both libraries
MASKS = {"attn_bool": _bool_mask(L, S, p=0.2), "kpm_bool": _bool_mask(N, S),
         "attn_float_3d": _data(N * H, L, S) * 0.5,
         # added to the scores: finite values and -inf (masked out) where kpm_bool is True
         "kpm_float": np.where(_bool_mask(N, S), -np.inf, _data(N, S)).astype(np.float32)}


def _causal(Lib):
    """is_causal is only a hint: PyTorch requires the causal attn_mask along with it."""
    return Lib.nn.Transformer.generate_square_subsequent_mask(L)

MHA_CASES = {
    "self": (dict(), lambda Lib, q, k, v: (q, q, q, {})),
    "cross_kdim_vdim": (dict(kdim=6, vdim=7), lambda Lib, q, k, v: (q, k, v, {})),
    "no_bias": (dict(bias=False), lambda Lib, q, k, v: (q, k[..., :E], v[..., :E], {})),
    "bias_kv_zero_attn": (dict(add_bias_kv=True, add_zero_attn=True),
                          lambda Lib, q, k, v: (q, k[..., :E], v[..., :E], {})),
    "bool_masks": (dict(), lambda Lib, q, k, v: (q, k[..., :E], v[..., :E], dict(
        attn_mask=Lib.tensor(MASKS["attn_bool"]),
        key_padding_mask=Lib.tensor(MASKS["kpm_bool"])))),
    "float_mask_3d": (dict(), lambda Lib, q, k, v: (q, k[..., :E], v[..., :E], dict(
        attn_mask=Lib.tensor(MASKS["attn_float_3d"])))),
    "per_head_weights": (dict(), lambda Lib, q, k, v: (q, k[..., :E], v[..., :E], dict(
        average_attn_weights=False))),
    "no_weights": (dict(), lambda Lib, q, k, v: (q, q, q, dict(need_weights=False))),
    "float_key_padding_mask": (dict(), lambda Lib, q, k, v: (q, k[..., :E], v[..., :E], dict(
        key_padding_mask=Lib.tensor(MASKS["kpm_float"])))),
    "is_causal": (dict(), lambda Lib, q, k, v: (q, q, q, dict(
        attn_mask=_causal(Lib), is_causal=True))),
    # without weights or key padding PyTorch drops the mask and uses the hint alone
    "is_causal_no_weights": (dict(), lambda Lib, q, k, v: (q, q, q, dict(
        attn_mask=_causal(Lib), is_causal=True, need_weights=False))),
}


@pytest.mark.parametrize("name", list(MHA_CASES))
def test_multihead_attention_matches_pytorch(name):
    kw, args = MHA_CASES[name]

    def call(m, Lib, q, k, v):
        a, b, c, extra = args(Lib, q, k, v)
        return m(a, b, c, **extra)

    wide = 6 if "kdim" in kw else E + 2
    out = _run(lambda Lib: Lib.nn.MultiheadAttention(E, H, **kw),
               [_data(L, N, E), _data(S, N, wide), _data(S, N, 7 if "kdim" in kw else wide)],
               call)
    _compare(out)


def test_multihead_attention_batch_first_and_unbatched():
    def call(m, Lib, x, y):
        return m(x, x, x)[0], m(y, y, y)[0]
    out = _run(lambda Lib: Lib.nn.MultiheadAttention(E, H, batch_first=True),
               [_data(N, L, E), _data(L, E)], call)
    _compare(out)


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"scale": 0.3},
                                {"mask": "bool"}, {"mask": "float"}])
def test_scaled_dot_product_attention_matches_pytorch(kw):
    kw = dict(kw)
    mask = kw.pop("mask", None)
    m_bool, m_float = _bool_mask(L, S, p=0.3) == False, _data(L, S)  # noqa: E712

    def call(m, Lib, q, k, v):
        extra = dict(kw)
        if mask == "bool":
            extra["attn_mask"] = Lib.tensor(m_bool)
        elif mask == "float":
            extra["attn_mask"] = Lib.tensor(m_float)
        return Lib.nn.functional.scaled_dot_product_attention(q, k, v, **extra)

    s = L if kw.get("is_causal") else S
    out = _run(lambda Lib: Lib.nn.Identity(), [_data(N, H, L, 4), _data(N, H, s, 4),
                                                _data(N, H, s, 6)], call)
    _compare(out)


@pytest.mark.parametrize("kw", [{}, {"norm_first": True}, {"batch_first": True},
                                {"activation": "gelu", "bias": False}])
def test_transformer_encoder_matches_pytorch(kw):
    def make(Lib):
        layer = Lib.nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, **kw)
        return Lib.nn.TransformerEncoder(layer, 2, norm=Lib.nn.LayerNorm(E),
                                         enable_nested_tensor=False)
    mask = _bool_mask(N, L)

    def call(m, Lib, x):
        return m(x, src_key_padding_mask=Lib.tensor(mask))

    shape = (N, L, E) if kw.get("batch_first") else (L, N, E)
    _compare(_run(make, [_data(*shape)], call))


def test_transformer_matches_pytorch_with_causal_masks():
    def make(Lib):
        return Lib.nn.Transformer(E, H, 1, 2, 16, dropout=0.0)

    def call(m, Lib, src, tgt):
        return m(src, tgt, tgt_mask=Lib.nn.Transformer.generate_square_subsequent_mask(L))

    _compare(_run(make, [_data(S, N, E), _data(L, N, E)], call))


DECODER_KW = {
    # eps large enough that ignoring it shows beyond the tolerance
    "norm_first_callable_activation": dict(norm_first=True, layer_norm_eps=0.1, bias=False),
    "post_norm": dict(layer_norm_eps=0.5),
}


@pytest.mark.parametrize("name", list(DECODER_KW))
def test_transformer_decoder_layer_matches_pytorch(name):
    kw = DECODER_KW[name]
    tgt_kpm, mem_kpm = _bool_mask(N, L), MASKS["kpm_bool"]

    def make(Lib):
        act = Lib.nn.functional.gelu if kw.get("norm_first") else "relu"
        return Lib.nn.TransformerDecoderLayer(E, H, 16, dropout=0.0, activation=act, **kw)

    def call(m, Lib, tgt, memory):
        return m(tgt, memory, tgt_mask=Lib.tensor(np.triu(np.ones((L, L), bool), 1)),
                 tgt_key_padding_mask=Lib.tensor(tgt_kpm),
                 memory_key_padding_mask=Lib.tensor(mem_kpm))

    _compare(_run(make, [_data(L, N, E), _data(S, N, E)], call))


def test_transformer_dropout_in_training_mode():
    """Dropout's random stream is not PyTorch's: values cannot match, but a training step
    must run, keep the shape, stay finite, differ from eval mode and reach every weight.
    An encoder layer has all three of the family's dropouts (attention, feed-forward and
    both residual branches); the full Transformer composes the same layers."""
    G.manual_seed(3)
    m = G.nn.TransformerEncoderLayer(E, H, 16, dropout=0.5)
    src = G.tensor(_data(S, N, E), requires_grad=True)
    mask = G.nn.Transformer.generate_square_subsequent_mask(S)
    out = m(src, src_mask=mask)
    assert tuple(out.shape) == (S, N, E)
    values = out.detach().numpy()
    assert np.isfinite(values).all()
    (out * out).sum().backward()
    assert np.isfinite(src.grad.numpy()).all() and np.any(src.grad.numpy())
    for name, p in m.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name
    m.eval()
    plain = m(src, src_mask=mask)
    assert not np.allclose(values, plain.detach().numpy()), "dropout changed nothing"


def test_transformer_parameter_names_and_mask():
    g, t = G.nn.Transformer(E, H, 1, 1, 16), torch.nn.Transformer(E, H, 1, 1, 16)
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert_close(G.nn.Transformer.generate_square_subsequent_mask(4),
                 torch.nn.Transformer.generate_square_subsequent_mask(4))


def test_attention_errors_match_pytorch():
    for fn in (lambda Lib: Lib.nn.MultiheadAttention(E, 3),
               lambda Lib: Lib.nn.MultiheadAttention(E, H)(Lib.ones(L, N, E + 1),
                                                           Lib.ones(L, N, E + 1),
                                                           Lib.ones(L, N, E + 1)),
               lambda Lib: Lib.nn.MultiheadAttention(E, H)(
                   Lib.ones(L, N, E), Lib.ones(S, N, E), Lib.ones(S, N, E),
                   attn_mask=Lib.ones(L, L, dtype=Lib.bool))):
        with pytest.raises((AssertionError, RuntimeError)) as ref:
            fn(torch)
        with pytest.raises((AssertionError, RuntimeError)) as ours:
            fn(G)
        assert type(ours.value) is type(ref.value)


def test_encoder_layer_kernels():
    """The eval forward of a TransformerEncoderLayer: each LayerNorm (the residual add, the
    statistics and the affine normalisation) is one row kernel, the softmax is one, the
    FFN's ReLU is its first Linear's epilogue (applied before the Linear's reshape back to
    3-D), and the scores read k through the GEMM's transposition flag."""
    import graphnn as G
    from graphnn.codegen.dialect import CPU
    from graphnn.runtime import get_runtime
    from tests.kernel_check import dialect

    if getattr(get_runtime(), "dialect", None) is None:
        pytest.skip("the numpy reference runtime has no kernels")
    layer = G.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True).eval()
    x = G.tensor(np.random.default_rng(0).standard_normal((2, 16, 32)).astype(np.float32))
    with dialect(CPU.name), G.no_grad():
        layer(x)
    ops = [k.ops for k in G.dump.compiled(layer).kernels]
    assert sum("sum" in o for o in ops) == 2 and all("sum" not in o or "sqrt" in o and
                                                     o.count("mul") >= 2 for o in ops), ops
    assert sum("logsumexp" in o for o in ops) == 1 and any(
        "logsumexp" in o and "exp" in o for o in ops), ops
    assert ["relu"] not in ops and any(o[:3] == ["matmul", "add", "relu"] for o in ops), ops
    scores = [k for k in G.dump.compiled(layer).kernels if k.ops == ["matmul"]]
    assert scores and all(k.local_size is not None for k in scores), scores
