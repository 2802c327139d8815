"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``, composed
from batched matmuls, a masked softmax and dropout, so the masking and scaling fuse into the
kernels around the matmuls. Formulas and mask conventions as PyTorch 2.13's
torch/nn/functional.py (Vaswani et al. 2017)."""
from __future__ import annotations

import math

from graphnn import _ops
from graphnn._creation import zeros
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.ir.types import bool_
from graphnn.nn.functional._dtypes import cname as _cname
from graphnn.nn.functional._base import _where
from graphnn.nn.functional.activation import softmax
from graphnn.nn.functional.conv import linear
from graphnn.nn.functional.dropout import dropout


def _check_mask_dtype(mask: Tensor | None, name: str) -> None:
    if mask is not None and mask.dtype != bool_ and not mask.dtype.is_float:
        raise AssertionError(f"only bool and floating types of {name} are supported")


def _float_mask(mask: Tensor | None, dtype, name: str) -> Tensor | None:
    """PyTorch's _canonical_mask: a bool mask becomes 0 / -inf (True = masked out), a float
    mask is added as it is."""
    _check_mask_dtype(mask, name)
    if mask is None or mask.dtype != bool_:
        return mask
    return _ops.where(mask, float("-inf"), 0.0)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q k^T * scale + mask) v for q (*, L, E), k (*, S, E), v (*, S, Ev) ->
    (*, L, Ev); scale defaults to 1/sqrt(E). A bool ``attn_mask`` says where attention IS
    allowed (True = take part), a float one is added; ``is_causal`` masks the upper
    triangle."""
    if min(query.dim(), key.dim(), value.dim()) < 2:
        raise RuntimeError(f"{_where('scaled_dot_product_attention')}Expected query, key, and "
                           "value to all be  at least 2 dimensional, but got query.dim: "
                           f"{query.dim()} key.dim: {key.dim()} and value.dim: {value.dim()} "
                           "instead.")
    if not query.dtype == key.dtype == value.dtype:
        raise RuntimeError(f"{_where('scaled_dot_product_attention')}Expected query, key, and "
                           "value to have the same dtype, but got query.dtype: "
                           f"{_cname(query)} key.dtype: {_cname(key)} and value.dtype: "
                           f"{_cname(value)} instead.")
    if query.shape[-1] != key.shape[-1]:    # q k^T: PyTorch's bmm error
        raise RuntimeError(f"{_where('scaled_dot_product_attention')}Expected size for first "
                           "two dimensions of batch2 tensor to be: "
                           f"[{query.shape[0] if query.dim() > 2 else 1}, {query.shape[-1]}] "
                           f"but got: [{key.shape[0] if key.dim() > 2 else 1}, "
                           f"{key.shape[-1]}].")
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key = _ops.reshape(_ops.expand(_ops.unsqueeze(key, -3), tuple(key.shape[:-2]) +
                                       (rep,) + tuple(key.shape[-2:])),
                           tuple(key.shape[:-3]) + (query.shape[-3],) + tuple(key.shape[-2:]))
        value = _ops.reshape(_ops.expand(_ops.unsqueeze(value, -3), tuple(value.shape[:-2]) +
                                         (rep,) + tuple(value.shape[-2:])),
                             tuple(value.shape[:-3]) + (query.shape[-3],) +
                             tuple(value.shape[-2:]))
    scores = _ops.matmul(query, _ops.transpose(key, -2, -1)) * scale
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{_where()}_scaled_dot_product_attention: Explicit attn_mask "
                               "should not be set when is_causal=True")
        rows = apply("iota", shape=(L, S), axis=0, dtype="int64")
        cols = apply("iota", shape=(L, S), axis=1, dtype="int64")
        scores = _ops.where(apply("gt", cols, rows), float("-inf"), scores)
    if attn_mask is not None:
        if attn_mask.dtype == bool_:
            scores = _ops.where(attn_mask, scores, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return _ops.matmul(weights, value)


def _in_projection(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                   use_separate, q_w, k_w, v_w):
    e = query.shape[-1]
    if not use_separate:
        w_q, w_k, w_v = in_proj_weight[:e], in_proj_weight[e:2 * e], in_proj_weight[2 * e:]
    else:
        w_q, w_k, w_v = q_w, k_w, v_w
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias[:e], in_proj_bias[e:2 * e], in_proj_bias[2 * e:]
    if not use_separate and query is key and key is value:
        qkv = linear(query, in_proj_weight, in_proj_bias)     # one GEMM for self-attention
        return qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor,
                                 embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None,
                                 bias_k: Tensor | None, bias_v: Tensor | None,
                                 add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight: Tensor, out_proj_bias: Tensor | None,
                                 training: bool = True,
                                 key_padding_mask: Tensor | None = None,
                                 need_weights: bool = True, attn_mask: Tensor | None = None,
                                 use_separate_proj_weight: bool = False,
                                 q_proj_weight: Tensor | None = None,
                                 k_proj_weight: Tensor | None = None,
                                 v_proj_weight: Tensor | None = None, static_k=None,
                                 static_v=None, average_attn_weights: bool = True,
                                 is_causal: bool = False):
    """Multi-head attention on sequence-first inputs: query (L, N, E) or (L, E), key (S, N,
    Ek), value (S, N, Ev). Returns (output (L, N, E), weights (N, L, S) averaged over heads,
    (N, h, L, S) when not averaged, or None). ``key_padding_mask`` (N, S) and ``attn_mask``
    (L, S) or (N h, L, S): bool True = masked out, float = added."""
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = (_ops.unsqueeze(t, 1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = _ops.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    # PyTorch's checks in its order, all before the first op: the masks' dtypes, the causal
    # hint, the embedding, key and value, then the masks' shapes
    _check_mask_dtype(key_padding_mask, "key_padding_mask")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    _check_mask_dtype(attn_mask, "attn_mask")
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                             f"got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight and tuple(key.shape[:2]) != tuple(value.shape[:2]):
        raise AssertionError(f"key's sequence and batch dims {list(key.shape[:2])} do not "
                             f"match value's {list(value.shape[:2])}")
    if not use_separate_proj_weight and tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {list(key.shape)} does not match value shape "
                             f"{list(value.shape)}")
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)},"
                                   f" but should be {(tgt_len, src_len)}.")
        elif tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)},"
                               f" but should be {(bsz * num_heads, tgt_len, src_len)}.")
    if key_padding_mask is not None:
        for d, want in enumerate((bsz, src_len)):     # PyTorch's _check_key_padding_mask
            if key_padding_mask.shape[d] != want:
                raise AssertionError(f"Expected key_padded_mask.shape[{d}] to be {want}, but "
                                     f"got {key_padding_mask.shape[d]}")
    attn_mask = _float_mask(attn_mask, query.dtype, "attn_mask")
    if attn_mask is not None and attn_mask.dim() == 2:
        attn_mask = _ops.unsqueeze(attn_mask, 0)
    key_padding_mask = _float_mask(key_padding_mask, query.dtype, "key_padding_mask")
    q, k, v = _in_projection(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                             use_separate_proj_weight, q_proj_weight, k_proj_weight,
                             v_proj_weight)
    if bias_k is not None and bias_v is not None:
        k = _ops.cat([k, _ops.expand(bias_k, (1, bsz, embed_dim))])
        v = _ops.cat([v, _ops.expand(bias_v, (1, bsz, embed_dim))])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    # (L, N, E) -> (N h, L, head_dim)
    q = _ops.transpose(_ops.reshape(q, (tgt_len, bsz * num_heads, head_dim)), 0, 1)
    k = _ops.transpose(_ops.reshape(k, (k.shape[0], bsz * num_heads, head_dim)), 0, 1)
    v = _ops.transpose(_ops.reshape(v, (v.shape[0], bsz * num_heads, head_dim)), 0, 1)
    if add_zero_attn:
        k = _ops.cat([k, k[:, :1] * 0.0], 1)
        v = _ops.cat([v, v[:, :1] * 0.0], 1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    s = k.shape[1]
    if key_padding_mask is not None:
        kpm = _ops.reshape(_ops.expand(_ops.reshape(key_padding_mask, (bsz, 1, 1, s)),
                                       (bsz, num_heads, 1, s)), (bsz * num_heads, 1, s))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    p = dropout_p if training else 0.0
    scores = _ops.bmm(q * math.sqrt(1.0 / head_dim), _ops.transpose(k, 1, 2))
    if attn_mask is not None:
        scores = scores + attn_mask
    weights = softmax(scores, -1)
    if p > 0.0:
        weights = dropout(weights, p, True)
    out = _ops.bmm(weights, v)                                      # (N h, L, head_dim)
    out = _ops.reshape(_ops.transpose(out, 0, 1), (tgt_len * bsz, embed_dim))
    out = _ops.reshape(linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
    if not batched:
        out = _ops.squeeze(out, 1)
    if not need_weights:
        return out, None
    weights = _ops.reshape(weights, (bsz, num_heads, tgt_len, s))
    if average_attn_weights:
        weights = _ops.mean(weights, 1)
    if not batched:
        weights = _ops.squeeze(weights, 0)
    return out, weights


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads: int) -> bool:
    """PyTorch's _mha_shape_check: the ranks of the inputs and masks agree with the query's
    batching (returned: whether it is batched)."""
    if query.dim() not in (2, 3):
        raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.dim()}-D query tensor")
    batched = query.dim() == 3
    want, kind = (3, "batched (3-D)") if batched else (2, "unbatched (2-D)")
    if key.dim() != want or value.dim() != want:
        raise AssertionError(f"For {kind} `query`, expected `key` and `value` to be {want}-D "
                             f"but found {key.dim()}-D and {value.dim()}-D tensors "
                             "respectively")
    if key_padding_mask is not None and key_padding_mask.dim() != want - 1:
        raise AssertionError(f"For {kind} `query`, expected `key_padding_mask` to be `None` or "
                             f"{want - 1}-D but found {key_padding_mask.dim()}-D tensor "
                             "instead")
    if attn_mask is not None and attn_mask.dim() not in (2, 3):
        raise AssertionError(f"For {kind} `query`, expected `attn_mask` to be `None`, 2-D or "
                             f"3-D but found {attn_mask.dim()}-D tensor instead")
    if not batched and attn_mask is not None and attn_mask.dim() == 3:
        expected = (num_heads, query.shape[0], key.shape[0])
        if tuple(attn_mask.shape) != expected:
            raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                 f"{list(attn_mask.shape)}")
    return batched


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """A mask with one more (unmasked) key column, for bias_k/v and the zero attention."""
    if mask is None:
        return None
    return _ops.cat([mask, zeros(tuple(mask.shape[:-1]) + (1,), dtype=mask.dtype)], -1)
