"""Gradients against central finite differences, in float64 on the OpenCL device.

For each row, ``L(x...) = sum(f(x...) * c)`` with a fixed random ``c``; the gradient from
``L.backward()`` must match ``(L(x + eps e_i) - L(x - eps e_i)) / 2 eps`` for every element
of every differentiable input. Shapes are tiny: each perturbation runs the cached forward."""
from __future__ import annotations

import numpy as np
import pytest

import graphnn
import graphnn.nn.functional as F

F64 = np.float64
EPS = 1e-6


def r(*shape, seed=0, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


def spread(*shape, seed=0):
    """Distinct values at least 0.1 apart (no ties within eps for max/pool)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.1 - n * 0.05 + 0.037).reshape(shape)


def _loss(fn, tensors, c):
    out = fn(*tensors)
    return (out * c).sum()


def gradcheck(fn, inputs, wrt=None, rtol=1e-5, atol=1e-7):
    arrays = [np.asarray(a) for a in inputs]
    wrt = [i for i, a in enumerate(arrays) if a.dtype == F64] if wrt is None else wrt
    tensors = [graphnn.tensor(a, requires_grad=(i in wrt)) for i, a in enumerate(arrays)]
    shape = tuple(fn(*tensors).shape)
    c = graphnn.tensor(np.random.default_rng(7).standard_normal(shape))
    _loss(fn, tensors, c).backward()
    for i in wrt:
        analytic = tensors[i].grad
        assert analytic is not None, f"input {i} got no gradient"
        assert analytic.dtype == graphnn.float64
        analytic = analytic.numpy()
        numeric = np.zeros_like(arrays[i])
        with graphnn.no_grad():
            for k in range(arrays[i].size):
                vals = []
                for sign in (1, -1):
                    pert = arrays[i].copy()
                    pert.flat[k] += sign * EPS
                    args = list(tensors)
                    args[i] = graphnn.tensor(pert)
                    vals.append(_loss(fn, args, c).item())
                numeric.flat[k] = (vals[0] - vals[1]) / (2 * EPS)
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


def traced(fn):
    """``fn`` as a module call: one compiled graph (and one backward) for the whole
    composite instead of an eager kernel per op for every perturbed evaluation."""
    class Traced(graphnn.nn.Module):
        def forward(self, *args):
            return fn(*args)
    return Traced()


IDX = np.array([[2, 0, 1], [1, 1, 0]], np.int64)
TGT = np.array([2, 0, 1], np.int64)

ROWS = [
    ("add_bcast", lambda a, b: a + b, [r(2, 3), r(3, seed=1)]),
    ("mul_div", lambda a, b: a * b / (b * b + 1), [r(2, 3), r(2, 1, seed=1)]),
    ("unary_chain", lambda a: a.exp().tanh() + a.sigmoid() * a, [r(2, 3)]),
    ("log_sqrt", lambda a: a.log() + a.sqrt() + a.rsqrt(), [r(2, 3, shift=3.0)]),
    ("pow", lambda a, b: a ** b + a ** 3, [r(2, 3, shift=3.0), r(3, seed=1)]),
    ("abs_relu_clamp", lambda a: a.abs() + a.relu() * 2 + a.clamp(-0.3, 0.4), [spread(2, 3)]),
    ("matmul", lambda a, b: a @ b, [r(2, 3), r(3, 4, seed=1)]),
    ("matmul_3d_t", lambda a, b: a @ b.t(), [r(2, 2, 3), r(4, 3, seed=1)]),
    ("matmul_vec", lambda a, b: a @ b, [r(3, 4), r(4, seed=1)]),
    ("sum_mean", lambda a: a.sum(0) * a.mean(1, keepdim=True), [r(2, 3)]),
    ("amax_max_dim", lambda a: a.amax(1) + a.max(0).values.sum(), [spread(3, 4)]),
    ("softmax", lambda a: F.softmax(a, 1), [r(2, 4)]),
    ("log_softmax", lambda a: F.log_softmax(a, -1), [r(2, 3, 4)]),
    ("views", lambda a: a.permute(2, 0, 1).reshape(4, 6)[1::2, None, 2:] * 2, [r(2, 3, 4)]),
    ("gather_where", lambda a: a.gather(1, graphnn.tensor(IDX)) * graphnn.where(
        a[:, :3] > 0, a[:, :3], -a[:, :3]), [spread(2, 4)]),
    ("index_tensor", lambda a: a[graphnn.tensor([2, 0, 2])] * a[1], [r(3, 2)]),
    ("linear", lambda x, w, b: F.linear(x, w, b), [r(3, 4), r(2, 4, seed=1), r(2, seed=2)]),
    ("leaky_prelu", lambda x, w: F.leaky_relu(x, 0.1) + F.prelu(x, w),
     [spread(2, 3, 2), r(3, seed=1)]),
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1),
     [r(1, 2, 4, 4), r(2, 2, 3, 3, seed=1), r(2, seed=2)]),
    ("conv2d_strided_dilated_groups", lambda x, w: F.conv2d(x, w, stride=2, padding=1,
                                                            dilation=2, groups=2),
     [r(2, 2, 5, 5), r(4, 1, 2, 2, seed=1)]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), [spread(1, 2, 4, 4)]),
    ("max_pool2d_overlap_pad", lambda x: F.max_pool2d(x, 3, 2, padding=1), [spread(1, 1, 5, 5)]),
    ("cross_entropy", lambda x: F.cross_entropy(x, graphnn.tensor(TGT)), [r(3, 4)]),
    ("cross_entropy_weight_sum", lambda x, w: F.cross_entropy(x, graphnn.tensor(TGT), w,
                                                              reduction="sum"),
     [r(3, 4), np.abs(r(4, seed=1)) + 0.5], [0]),
    ("cross_entropy_probs", lambda x, p: F.cross_entropy(x, p),
     [r(3, 4), np.random.default_rng(3).dirichlet(np.ones(4), 3)], [0]),
    ("nll_mse", lambda x, y: F.nll_loss(F.log_softmax(x, 1), graphnn.tensor(TGT)) +
     F.mse_loss(x, y), [r(3, 4), r(3, 4, seed=1)]),
    # the elementwise math primitives; the rounding functions contribute zero gradients
    ("erf_expm1_log1p_round", traced(lambda a: a.erf() * a.expm1() + (a * a).log1p() +
     a.floor() * a + a.round() * a.ceil() + a.trunc()), [r(2, 3, scale=2.0)]),
    ("atan2_fmod_remainder", traced(lambda a, b: graphnn.atan2(a, b) + graphnn.fmod(a, b) *
     graphnn.remainder(a, -b)), [r(2, 3, scale=3.0), np.abs(r(3, seed=1)) + 0.7]),
    ("activations", traced(lambda a: F.gelu(a) + F.gelu(a, approximate="tanh") * F.elu(a, 0.5)
     + F.softplus(a, 2.0) * F.mish(a) + F.logsigmoid(a) + F.silu(a) * F.selu(a) +
     F.celu(a, 2.0) + F.hardswish(a) + F.softsign(a)), [r(2, 3, scale=2.0)]),
    # the primitives of padding, pooling, upsampling, scatter and sort
    ("pad_modes", traced(lambda a: F.pad(a, (1, 2, 2, 1), mode="reflect") + F.pad(
        a, (1, 2, 2, 1), mode="replicate") * F.pad(a, (1, 2, 2, 1), mode="circular")),
     [r(1, 2, 3, 4)]),
    ("scatter_add", lambda a, s: a.scatter_add(1, graphnn.tensor(IDX), s),
     [r(2, 4), r(2, 3, seed=1)]),
    ("sort_topk", traced(lambda a: a.sort(1).values * 2 + a.topk(4, 1).values * a),
     [spread(2, 4)]),
    ("max_pool_unpool", traced(lambda x: F.max_unpool2d(
        *F.max_pool2d(x, 2, return_indices=True), 2) * x), [spread(1, 2, 4, 4)]),
    ("avg_adaptive_bilinear", traced(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
     + F.adaptive_avg_pool2d(x, 3) * F.interpolate(x, size=(3, 3), mode="bilinear")),
     [r(1, 1, 5, 5)]),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1,
                                                         output_padding=1),
     [r(1, 2, 3, 3), r(2, 1, 3, 3, seed=1)]),
]


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_gradcheck(row):
    name, fn, inputs, *wrt = row
    gradcheck(fn, inputs, wrt[0] if wrt else None)


def test_gradcheck_detects_a_wrong_gradient():
    # the checker itself must be able to fail: detach() hides part of the dependence
    with pytest.raises(AssertionError):
        gradcheck(lambda a: a * a.detach(), [r(2, 3)])
