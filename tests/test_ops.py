"""Differential tests of tensor ops against PyTorch: one spec row per op and sample input.

Each row is ``Case(id, fn, inputs)``: ``fn(lib, *args)`` is called once with ``lib=graphnn``
and once with ``lib=torch`` on the same values. Every floating-point array input requires
grad; the test compares the outputs (values, shape, dtype), then back-propagates the same
random cotangent through both and compares every input's gradient."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

import graphnn
import torch
from tests.conftest import assert_close, pair

F32 = np.float32


def randn(*shape, seed=0, dtype=F32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def positive(*shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 2 + 0.5).astype(F32)


def ints(*shape, low=-5, high=6, seed=0):
    return np.random.default_rng(seed).integers(low, high, shape).astype(np.int64)


def ties(*shape):
    """Small integers as floats: many tied maxima and minima along every axis."""
    return (np.arange(int(np.prod(shape))) % 3).reshape(shape).astype(F32) * 0.5


# shared sample inputs (shapes are reused across rows so compiled graphs are shared)
A23 = randn(2, 3, seed=1)
B23 = randn(2, 3, seed=2)
B3 = randn(3, seed=3)
C213 = randn(2, 1, 3, seed=4)
C41 = randn(4, 1, seed=5)
A234 = randn(2, 3, 4, seed=6)
M34 = randn(3, 4, seed=7)
M43 = randn(4, 3, seed=8)
V4 = randn(4, seed=9)
S0 = np.array(1.5, F32)
P23 = positive(2, 3, seed=10)
I23 = ints(2, 3, seed=11)
J23 = ints(2, 3, low=1, high=4, seed=12)
T23 = ties(2, 3)
T234 = ties(2, 3, 4)


@dataclass
class Case:
    id: str
    fn: Callable
    inputs: list = field(default_factory=list)
    grad: bool = True
    nograd: tuple = ()          # positions of float inputs that do not require grad
    rtol: float = 1e-4
    atol: float = 1e-5


def _dtype_name(dt) -> str:
    return str(dt).split(".")[-1]


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in _flat(o)]
    return [out]


def check_case(case: Case, seed: int = 0) -> None:
    g_args, t_args, grads = [], [], []
    for pos, x in enumerate(case.inputs):
        if isinstance(x, np.ndarray):
            rg = case.grad and x.dtype.kind == "f" and pos not in case.nograd
            g, t = pair(x, rg)
            g_args.append(g)
            t_args.append(t)
            if rg:
                grads.append((g, t))
        else:
            g_args.append(x)
            t_args.append(x)
    out_t = case.fn(torch, *t_args)
    out_g = case.fn(graphnn, *g_args)
    flat_t, flat_g = _flat(out_t), _flat(out_g)
    assert len(flat_g) == len(flat_t), f"{case.id}: {len(flat_g)} outputs, torch {len(flat_t)}"
    for k, (og, ot) in enumerate(zip(flat_g, flat_t)):
        assert isinstance(og, graphnn.Tensor), f"{case.id}: output {k} is {type(og)}"
        assert _dtype_name(og.dtype) == _dtype_name(ot.dtype), \
            f"{case.id}: output {k} dtype {og.dtype} != {ot.dtype}"
        assert tuple(og.shape) == tuple(ot.shape), f"{case.id}: output {k} shape"
        assert_close(og.detach(), ot, case.rtol, case.atol, what=f"{case.id} output {k}")
    if not grads:
        return
    outs = [(og, ot) for og, ot in zip(flat_g, flat_t) if ot.requires_grad]
    for og, ot in zip(flat_g, flat_t):
        if not ot.requires_grad:
            assert not og.requires_grad and og.grad_fn is None, \
                f"{case.id}: a {og.dtype} output requires grad"
    if not outs:
        return
    rng = np.random.default_rng(seed + 99)
    cot_g, cot_t = [], []
    for og, ot in outs:
        assert og.requires_grad, f"{case.id}: output does not require grad"
        cg, ct = pair(rng.standard_normal(tuple(ot.shape)).astype(ot.detach().numpy().dtype))
        cot_g.append(cg)
        cot_t.append(ct)
    torch.autograd.backward([ot for _, ot in outs], cot_t)
    graphnn.autograd.backward([og for og, _ in outs], cot_g)
    for k, (g, t) in enumerate(grads):
        if t.grad is None:
            assert g.grad is None or not np.any(g.grad.numpy()), f"{case.id}: grad {k}"
            continue
        assert g.grad is not None, f"{case.id}: input {k} got no gradient"
        assert _dtype_name(g.grad.dtype) == _dtype_name(t.grad.dtype)
        assert_close(g.grad, t.grad, case.rtol, case.atol, what=f"{case.id} grad of input {k}")


# -- arithmetic with broadcasting and Python scalars -------------------------------------
ARITH = [
    Case("add", lambda T, a, b: a + b, [A23, B23]),
    Case("add_bcast_row", lambda T, a, b: a + b, [A23, B3]),
    Case("add_bcast_3d", lambda T, a, b: a + b, [C213, C41]),
    Case("add_0d", lambda T, a, b: a + b, [S0, A23]),
    Case("add_alpha", lambda T, a, b: T.add(a, b, alpha=2.5), [A23, B3]),
    Case("sub", lambda T, a, b: a - b, [C41, C213]),
    Case("sub_alpha", lambda T, a, b: T.sub(a, b, alpha=-0.5), [A23, B23]),
    Case("mul", lambda T, a, b: a * b, [A23, B3]),
    Case("mul_self", lambda T, a: a * a, [A23]),
    Case("div", lambda T, a, b: a / b, [A23, P23]),
    Case("div_bcast", lambda T, a, b: a / b, [C41, C213 + 3.0]),
    Case("scalar_radd", lambda T, a: 2.5 + a, [A23]),
    Case("scalar_add_int", lambda T, a: a + 2, [A23]),
    Case("scalar_rsub", lambda T, a: 1.0 - a, [A23]),
    Case("scalar_sub", lambda T, a: a - 3, [A23]),
    Case("scalar_rmul", lambda T, a: 3 * a, [A23]),
    Case("scalar_mul", lambda T, a: a * -0.25, [A23]),
    Case("scalar_rdiv", lambda T, a: 2.0 / a, [P23]),
    Case("scalar_div", lambda T, a: a / 4, [A23]),
    Case("neg", lambda T, a: -a, [A23]),
    Case("int_add", lambda T, a, b: a + b, [I23, J23]),
    Case("int_mul_scalar", lambda T, a: a * 3, [I23]),
    Case("int_div_int", lambda T, a, b: a / b, [I23, J23]),
    Case("int_plus_float_scalar", lambda T, a: a + 0.5, [I23]),
    Case("int_times_float", lambda T, a, b: a * b, [I23, A23]),
    Case("f64_add", lambda T, a, b: a + b, [A23.astype(np.float64), B3.astype(np.float64)]),
    Case("f64_scalar", lambda T, a: a * 1.5 - 1, [A23.astype(np.float64)]),
    Case("pow_scalar2", lambda T, a: a ** 2, [A23]),
    Case("pow_scalar3", lambda T, a: a ** 3, [A23]),
    Case("pow_half", lambda T, a: a ** 0.5, [P23]),
    Case("pow_neg", lambda T, a: a ** -1.5, [P23]),
    Case("pow_fn", lambda T, a: T.pow(a, 2.5), [P23]),
    Case("pow_tensor", lambda T, a, b: a ** b, [P23, B3]),
    Case("rpow", lambda T, a: 2 ** a, [A23]),
    Case("maximum", lambda T, a, b: T.maximum(a, b), [A23, B3]),
    Case("minimum", lambda T, a, b: T.minimum(a, b), [A23, B23]),
    Case("maximum_ties", lambda T, a, b: T.maximum(a, b), [T23, T23[::-1].copy()]),
]

# -- unary math ---------------------------------------------------------------------------
UNARY = [
    Case("exp", lambda T, a: T.exp(a), [A23]),
    Case("log", lambda T, a: T.log(a), [P23]),
    Case("tanh", lambda T, a: T.tanh(a), [A23]),
    # |x| >= 10: tanh is +-1 exactly in float32, and its gradient 0
    Case("tanh_saturates", lambda T, a: (1 - T.tanh(a).abs()) * 1e8,
         [np.sign(A23) * (np.abs(A23) * 10 + 10)]),
    Case("sigmoid", lambda T, a: T.sigmoid(a), [A23]),
    Case("sigmoid_method", lambda T, a: a.sigmoid(), [A234 * 10]),
    Case("relu", lambda T, a: T.relu(a), [A23]),
    Case("relu_zero", lambda T, a: a.relu(), [T23 - 0.5]),
    Case("sqrt", lambda T, a: T.sqrt(a), [P23]),
    Case("sin", lambda T, a: T.sin(a), [A234 * 4]),
    Case("cos", lambda T, a: a.cos(), [A234 * 4]),
    Case("int_cos", lambda T, a: T.cos(a), [I23]),
    Case("rsqrt", lambda T, a: T.rsqrt(a), [P23]),
    Case("square", lambda T, a: T.square(a) + a.square(), [A23]),
    Case("int_square", lambda T, a: a.square(), [I23]),
    Case("abs", lambda T, a: T.abs(a), [A23]),
    Case("abs_zero", lambda T, a: abs(a), [T23 - 0.5]),
    Case("sign", lambda T, a: T.sign(a), [T23 - 0.5]),
    Case("clamp", lambda T, a: T.clamp(a, -0.5, 0.5), [A23]),
    Case("clamp_min", lambda T, a: a.clamp(min=0.1), [A23]),
    Case("clamp_max", lambda T, a: a.clamp(max=-0.1), [A23]),
    Case("clamp_at_bounds", lambda T, a: a.clamp(0.0, 0.5), [T23]),
    Case("clip", lambda T, a: T.clip(a, -1, 1), [A234]),
    Case("chain", lambda T, a, b: T.tanh(a * b + 1).exp() / (1 + b * b), [A23, B23]),
    Case("int_abs", lambda T, a: T.abs(a), [I23]),
    Case("int_neg", lambda T, a: -a, [I23]),
    Case("int_exp", lambda T, a: T.exp(a), [I23]),
]

# -- elementwise math: primitives (erf, expm1, log1p, floor, rint, fmod, imod, atan2) and
# what is composed from them; small arguments where a naive form would cancel
SMALL = A23 * 1e-4
HALVES = np.array([[-2.5, -1.5, -0.5], [0.5, 1.5, 2.5]], F32)   # ties: round half to even
MATH = [
    Case("erf", lambda T, a: T.erf(a), [A234 * 2]),
    Case("erf_int", lambda T, a: a.erf(), [I23]),
    Case("expm1", lambda T, a: T.expm1(a), [A23 * 3]),
    Case("expm1_small", lambda T, a: a.expm1(), [SMALL], rtol=1e-5, atol=1e-12),
    Case("log1p", lambda T, a: T.log1p(a), [P23]),
    Case("log1p_small", lambda T, a: a.log1p(), [SMALL], rtol=1e-5, atol=1e-12),
    Case("tan", lambda T, a: T.tan(a), [A23]),
    Case("tan_int", lambda T, a: a.tan(), [I23]),
    Case("atan2", lambda T, a, b: T.atan2(a, b), [A23, B23]),
    Case("arctan2_bcast", lambda T, a, b: a.arctan2(b), [C213, C41]),
    Case("exp2", lambda T, a: T.exp2(a * 3), [A23]),
    Case("exp2_int", lambda T, a: a.exp2(), [I23]),
    Case("log2", lambda T, a: T.log2(a), [P23]),
    Case("log10", lambda T, a: a.log10(), [P23 * 10]),
    Case("logit", lambda T, a: T.logit(a), [P23 / 3]),
    Case("logit_eps", lambda T, a: a.logit(0.2), [P23 / 3]),
    Case("floor", lambda T, a: T.floor(a), [A234 * 3]),
    Case("floor_int", lambda T, a: a.floor(), [I23]),
    Case("ceil", lambda T, a: a.ceil(), [A234 * 3]),
    Case("trunc", lambda T, a: T.trunc(a), [A234 * 3]),
    Case("fix", lambda T, a: a.fix(), [HALVES]),
    Case("frac", lambda T, a: T.frac(a), [A234 * 3]),
    Case("round", lambda T, a: T.round(a), [HALVES]),
    Case("round_decimals", lambda T, a: a.round(decimals=2), [A234 * 3]),
    Case("round_neg_decimals", lambda T, a: T.round(a, decimals=-1), [A234 * 30]),
    Case("fmod", lambda T, a, b: T.fmod(a, b), [A234 * 3, P23[0, :1] + 0.2]),
    Case("fmod_scalar", lambda T, a: a.fmod(-1.5), [A234 * 3]),
    Case("fmod_int", lambda T, a, b: T.fmod(a, b), [I23, -J23]),
    Case("fmod_int_float", lambda T, a: a.fmod(2.5), [I23]),
    Case("remainder", lambda T, a, b: T.remainder(a, b), [A23 * 3, B23]),
    Case("remainder_scalar", lambda T, a: a.remainder(-1.5), [A234 * 3]),
    Case("mod_operator", lambda T, a: a % 1.5, [A234 * 3]),
    Case("remainder_int", lambda T, a, b: a % b, [I23, -J23]),
    Case("rmod_int", lambda T, a: 7 % a, [J23]),
]

# -- matrix products ----------------------------------------------------------------------
MATMUL = [
    Case("matmul_2d", lambda T, a, b: a @ b, [M34, M43]),
    Case("mm", lambda T, a, b: T.mm(a, b), [M43, M34]),
    Case("mm_method", lambda T, a, b: a.mm(b), [A23, M34]),
    Case("matmul_1d_1d", lambda T, a, b: T.matmul(a, b), [V4, V4 * 0.5]),
    Case("matmul_1d_2d", lambda T, a, b: a @ b, [V4, M43]),
    Case("matmul_2d_1d", lambda T, a, b: a @ b, [M34, V4]),
    Case("matmul_3d_2d", lambda T, a, b: a @ b, [A234, M43]),
    Case("matmul_3d_1d", lambda T, a, b: a @ b, [A234, V4]),
    Case("matmul_t", lambda T, a, b: a.t() @ b, [M43, M43]),
    Case("matmul_T_right", lambda T, a, b: a @ b.T, [M34, M34]),
    Case("matmul_chain", lambda T, a, b, c: (a @ b).relu() @ c, [A23, M34, M43]),
]

# -- reductions ---------------------------------------------------------------------------
REDUCE = [
    Case("sum", lambda T, a: a.sum(), [A234]),
    Case("sum_dim", lambda T, a: T.sum(a, 1), [A234]),
    Case("sum_neg_dim_keep", lambda T, a: a.sum(-1, keepdim=True), [A234]),
    Case("sum_dims", lambda T, a: a.sum((0, 2)), [A234]),
    Case("sum_int", lambda T, a: a.sum(), [I23]),
    Case("sum_int_dim", lambda T, a: a.sum(0), [I23]),
    Case("mean", lambda T, a: a.mean(), [A234]),
    Case("mean_dim", lambda T, a: T.mean(a, 0), [A234]),
    Case("mean_dims_keep", lambda T, a: a.mean((1, -1), keepdim=True), [A234]),
    Case("max_all", lambda T, a: a.max(), [A234]),
    Case("max_all_ties", lambda T, a: T.max(a), [T234]),
    Case("max_dim", lambda T, a: T.max(a, 1), [A234]),
    Case("max_dim_keep", lambda T, a: a.max(-1, keepdim=True), [A234]),
    Case("max_dim_ties", lambda T, a: a.max(1), [T234]),
    Case("max_binary", lambda T, a, b: T.max(a, b), [A23, B23]),
    Case("min_all", lambda T, a: a.min(), [A234]),
    Case("min_dim", lambda T, a: T.min(a, 2), [A234]),
    Case("min_dim_ties", lambda T, a: a.min(0, keepdim=True), [T234]),
    Case("amax", lambda T, a: T.amax(a, 1), [A234]),
    Case("amax_dims_ties", lambda T, a: a.amax((0, 2), keepdim=True), [T234]),
    Case("amin", lambda T, a: a.amin(-1), [T234]),
    Case("argmax", lambda T, a: a.argmax(), [A234]),
    Case("argmax_dim", lambda T, a: T.argmax(a, 1), [T234]),
    Case("argmax_keep", lambda T, a: a.argmax(-1, keepdim=True), [A234]),
    Case("argmin", lambda T, a: T.argmin(a), [T234]),
    Case("argmin_dim", lambda T, a: a.argmin(2), [T234]),
    Case("max_int_dim", lambda T, a: a.max(1), [I23]),
]

# -- views and movement --------------------------------------------------------------------
MOVE = [
    Case("view", lambda T, a: a.view(-1), [A234]),
    Case("view_shape", lambda T, a: a.view(4, 6), [A234]),
    Case("reshape", lambda T, a: a.reshape(3, -1), [A234]),
    Case("reshape_tuple", lambda T, a: T.reshape(a, (6, 4)) * 2, [A234]),
    Case("flatten", lambda T, a: a.flatten(), [A234]),
    Case("flatten_1", lambda T, a: T.flatten(a, 1), [A234]),
    Case("permute", lambda T, a: a.permute(2, 0, 1), [A234]),
    Case("permute_fn", lambda T, a: T.permute(a, (1, 2, 0)) * 3, [A234]),
    Case("transpose", lambda T, a: a.transpose(0, 2), [A234]),
    Case("transpose_neg", lambda T, a: T.transpose(a, -1, -2), [A234]),
    Case("t", lambda T, a: a.t(), [A23]),
    Case("t_fn", lambda T, a: T.t(a) * 2, [M34]),
    Case("T_prop", lambda T, a: a.T, [A23]),
    Case("mT", lambda T, a: a.mT, [A234]),
    Case("unsqueeze", lambda T, a: a.unsqueeze(0), [A23]),
    Case("unsqueeze_neg", lambda T, a: T.unsqueeze(a, -1), [A23]),
    Case("squeeze", lambda T, a: a.squeeze(), [C213]),
    Case("squeeze_dim", lambda T, a: T.squeeze(a, 1), [C213]),
    Case("squeeze_noop", lambda T, a: a.squeeze(0), [C213]),
    Case("expand", lambda T, a: a.expand(2, 4, 3), [C213]),
    Case("expand_neg", lambda T, a: a.expand(-1, 5), [C41]),
    Case("expand_new_dim", lambda T, a: a.expand(2, 2, 3), [B3]),
    Case("expand_as", lambda T, a, b: a.expand_as(b), [B3, A23]),
    Case("contiguous", lambda T, a: a.permute(1, 0).contiguous() * 1.5, [A23]),
    Case("permute_reshape", lambda T, a: a.permute(2, 0, 1).reshape(4, 6), [A234]),
    Case("transpose_sum", lambda T, a: a.transpose(0, 1).sum(0), [A234]),
    Case("clone", lambda T, a: a.clone(), [A23]),
    Case("pad_reflect", lambda T, a: T.nn.functional.pad(a, (2, 1), "reflect"), [A234]),
    Case("pad_replicate", lambda T, a: T.nn.functional.pad(a, (1, 3, 2, 0), "replicate"),
         [A234]),
    Case("pad_circular", lambda T, a: T.nn.functional.pad(a, (-1, 3, 1, 1), "circular"),
         [A234]),
]

# -- indexing -------------------------------------------------------------------------------
IDX4 = np.array([2, 0, 2, 1], np.int64)
IDX22 = np.array([[1, 0], [-1, 1]], np.int64)
GIDX = np.array([[0, 2, 2, 1], [1, 1, 0, 0]], np.int64)
INDEX = [
    Case("int", lambda T, a: a[1], [A234]),
    Case("neg_int", lambda T, a: a[-1], [A234]),
    Case("int_int", lambda T, a: a[0, -2], [A234]),
    Case("int_all", lambda T, a: a[1, 2, 3], [A234]),
    Case("slice", lambda T, a: a[:, 1:], [A234]),
    Case("slice_step", lambda T, a: a[:, ::2, 1::2], [A234]),
    Case("slice_neg", lambda T, a: a[..., -3:-1], [A234]),
    Case("slice_clip", lambda T, a: a[:, 1:10], [A234]),
    Case("slice_empty_stop", lambda T, a: a[1:, :2], [A23]),
    Case("none", lambda T, a: a[None], [A23]),
    Case("none_mid", lambda T, a: a[:, None, 1], [A23]),
    Case("ellipsis", lambda T, a: a[..., 1], [A234]),
    Case("ellipsis_none", lambda T, a: a[0, ..., None], [A234]),
    Case("mixed", lambda T, a: a[-1, None, 1::2, ...], [A234]),
    Case("index_tensor", lambda T, a, i: a[i], [M43, IDX4]),
    Case("index_tensor_2d", lambda T, a, i: a[i] * 2, [M43, IDX22]),
    Case("index_tensor_dim1", lambda T, a, i: a[:, i], [M34, IDX4[:3] % 4]),
    Case("index_select", lambda T, a, i: T.index_select(a, 1, i), [M34, IDX4]),
    Case("gather", lambda T, a, i: T.gather(a, 1, i), [M34[:2], GIDX]),
    Case("gather_method", lambda T, a, i: a.gather(0, i), [M34, GIDX[:, :3] % 3]),
    Case("scatter_add", lambda T, a, i, s: T.scatter_add(a, 1, i, s),   # repeated indices
         [M34[:2], GIDX, M34[1:]]),
    Case("sort", lambda T, a: T.sort(a, 1, True).values, [A234]),        # distinct values
    Case("topk", lambda T, a: a.topk(2, 0, largest=False).values, [M43]),
    # max_pool2d_argmax (with max_pool2d and its gradient): (2, 3, 4) is an unbatched plane
    Case("max_pool2d_argmax", lambda T, a: T.nn.functional.max_pool2d(
        a, 2, 1, padding=1, return_indices=True), [A234]),
    # scatter_set: random positions, several named twice (the last value wins, every copy
    # gets the gradient)
    Case("scatter_set", lambda T, a, i: T.nn.functional.max_unpool1d(a, i, 2),
         [A234, ints(2, 3, 4, low=0, high=8, seed=13)]),
]

# -- comparisons and where -----------------------------------------------------------------
COMPARE = [
    Case("lt", lambda T, a, b: a < b, [A23, B23]),
    Case("le_bcast", lambda T, a, b: a <= b, [T23, T23[0]]),
    Case("gt_scalar", lambda T, a: a > 0, [A23]),
    Case("ge_scalar", lambda T, a: a >= 0.5, [T23]),
    Case("eq", lambda T, a, b: a == b, [T23, T23[::-1].copy()]),
    Case("ne_scalar", lambda T, a: a != 1, [I23]),
    Case("eq_method", lambda T, a, b: a.eq(b), [I23, J23]),
    Case("gt_int_float", lambda T, a: a.gt(0.5), [I23]),
    Case("where", lambda T, a, b: T.where(a > b, a, b), [A23, B23]),
    Case("where_bcast", lambda T, a, b: T.where(b > 0, a, b * 2), [A23, B3]),
    Case("where_scalar", lambda T, a: T.where(a > 0, a, 0.0), [A23]),
]

# -- softmax ----------------------------------------------------------------------------------
SOFTMAX = [
    Case("softmax_last", lambda T, a: T.softmax(a, -1), [A234]),
    Case("softmax_0", lambda T, a: T.softmax(a, 0), [A234]),
    Case("softmax_method", lambda T, a: a.softmax(1), [A23 * 20]),
    Case("log_softmax_last", lambda T, a: T.log_softmax(a, -1), [A234]),
    Case("log_softmax_1", lambda T, a: a.log_softmax(1), [A234 * 10]),
]

ALL = ARITH + UNARY + MATH + MATMUL + REDUCE + MOVE + INDEX + COMPARE + SOFTMAX


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_op(case):
    check_case(case)


def test_case_ids_unique():
    assert len({c.id for c in ALL}) == len(ALL)


# -- properties over broadcast shapes (fixed pool: few distinct compiled graphs) ----------
SHAPES = [(3,), (2, 3), (2, 1), (1, 3), (2, 1, 3)]


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(SHAPES), st.sampled_from(SHAPES),
       st.sampled_from(["add", "sub", "mul", "div"]))
def test_broadcast_property(sa, sb, op):
    fn = {"add": lambda T, a, b: a + b, "sub": lambda T, a, b: a - b,
          "mul": lambda T, a, b: a * b, "div": lambda T, a, b: a / b}[op]
    check_case(Case(f"{op}{sa}{sb}", fn, [randn(*sa, seed=1), positive(*sb, seed=2)]))


# -- argument errors: PyTorch's exception types ------------------------------------------------
ERRORS = [
    ("matmul_mismatch", lambda T, a, b: a @ b, [A23, A23]),
    ("bcast_mismatch", lambda T, a, b: a + b, [A23, V4]),
    ("bad_dim", lambda T, a: a.sum(3), [A23]),
    ("bad_view", lambda T, a: a.view(5, -1), [A23]),
    ("two_inferred", lambda T, a: a.reshape(-1, -1), [A23]),
    ("index_oob", lambda T, a: a[2], [A23]),
    ("too_many_indices", lambda T, a: a[0, 0, 0], [A23]),
    ("expand_bad", lambda T, a: a.expand(2, 4), [A23]),
    ("t_3d", lambda T, a: a.t(), [A234]),
    ("mean_int", lambda T, a: a.mean(), [I23]),
    ("transpose_oob", lambda T, a: a.transpose(0, 2), [A23]),
    ("squeeze_oob", lambda T, a: a.squeeze(2), [A23]),
    ("index_tensor_oob", lambda T, a, i: a[i], [M43, np.array([1, 4], np.int64)]),
    ("index_tensor_neg_oob", lambda T, a, i: a[:, i], [M43, np.array([-4], np.int64)]),
    ("index_float_tensor", lambda T, a, i: a[i], [M43, np.array([1.0], F32)]),
    ("gather_ndim", lambda T, a, i: a.gather(1, i), [M43, np.array([1, 0], np.int64)]),
    ("fmod_int_zero", lambda T, a: T.fmod(a, 0), [I23]),
    ("remainder_int_zero", lambda T, a, b: a % b, [I23, I23]),
    ("floor_bool", lambda T, a: T.floor(a > 0), [A23]),
    ("frac_int", lambda T, a: a.frac(), [I23]),
    ("round_int_decimals", lambda T, a: a.round(decimals=1), [I23]),
]


@pytest.mark.parametrize("name,fn,inputs", ERRORS, ids=[e[0] for e in ERRORS])
def test_op_errors(name, fn, inputs):
    t_args = [torch.tensor(x) for x in inputs]
    g_args = [graphnn.tensor(x) for x in inputs]
    with pytest.raises(Exception) as ti:
        fn(torch, *t_args)
    with pytest.raises(type(ti.value)):
        fn(graphnn, *g_args)
