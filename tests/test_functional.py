"""Differential tests of ``graphnn.nn.functional`` against ``torch.nn.functional``: forward
values and the gradients of every floating-point input (see ``test_ops.check_case``)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.test_ops import Case, check_case, ints, positive, randn, ties

F32 = np.float32


def F(lib):
    return lib.nn.functional


# shared inputs
X23 = randn(2, 3, seed=21)
X234 = randn(2, 3, 4, seed=22)
X4D = randn(2, 3, 4, 4, seed=23)
W1 = np.array([0.25], F32)
W3 = np.array([0.1, -0.3, 0.5], F32)
LIN_X = randn(4, 5, seed=24)
LIN_W = randn(3, 5, seed=25) * 0.5
LIN_B = randn(3, seed=26)

# convolution: x (2, 4, 6, 6); weights for groups 1 and 2
CX = randn(2, 4, 6, 6, seed=30)
CW = randn(3, 4, 3, 3, seed=31) * 0.3
CWG = randn(4, 2, 3, 3, seed=32) * 0.3
CW1 = randn(2, 4, 1, 1, seed=33)
CB = randn(3, seed=34)
CB4 = randn(4, seed=35)
PX = randn(2, 3, 6, 6, seed=36)
PT = ties(2, 3, 6, 6)

# classification: logits (4, 5), targets in [0, 5)
LOGITS = randn(4, 5, seed=40) * 2
TARGET = np.array([1, 0, 4, 1], np.int64)
TARGET_IGN = np.array([1, -100, 4, 1], np.int64)
TARGET_IGN2 = np.array([2, 0, 2, 3], np.int64)
CLS_W = positive(5, seed=41)
PROBS = np.random.default_rng(42).dirichlet(np.ones(5), 4).astype(F32)
LOGITS4D = randn(2, 5, 3, 3, seed=43)
TARGET4D = ints(2, 3, 3, low=0, high=5, seed=44)
LOGP = np.log(np.random.default_rng(45).dirichlet(np.ones(5), 4)).astype(F32)
MSE_T = randn(4, 5, seed=46)

ACT = [
    Case("relu", lambda T, x: F(T).relu(x), [X234]),
    Case("relu_zero", lambda T, x: F(T).relu(x), [ties(2, 3) - 0.5]),
    Case("leaky_relu", lambda T, x: F(T).leaky_relu(x), [X234]),
    Case("leaky_relu_slope", lambda T, x: F(T).leaky_relu(x, 0.2), [X23]),
    Case("leaky_relu_zero", lambda T, x: F(T).leaky_relu(x, 0.1), [ties(2, 3) - 0.5]),
    Case("relu6", lambda T, x: F(T).relu6(x), [X234 * 5]),
    Case("relu6_bounds", lambda T, x: F(T).relu6(x), [ties(2, 3) * 12 - 6]),
    Case("hardtanh", lambda T, x: F(T).hardtanh(x), [X234 * 2]),
    Case("tanh", lambda T, x: F(T).tanh(x), [X234]),
    Case("sigmoid", lambda T, x: F(T).sigmoid(x), [X234 * 4]),
    Case("prelu_1", lambda T, x, w: F(T).prelu(x, w), [X234, W1]),
    Case("prelu_c", lambda T, x, w: F(T).prelu(x, w), [X234, W3]),
    Case("prelu_4d", lambda T, x, w: F(T).prelu(x, w), [X4D, W3]),
    Case("softmax", lambda T, x: F(T).softmax(x, dim=1), [X234]),
    Case("softmax_last", lambda T, x: F(T).softmax(x, -1), [X4D]),
    Case("softmax_large", lambda T, x: F(T).softmax(x, 1), [X23 * 50]),
    Case("log_softmax", lambda T, x: F(T).log_softmax(x, dim=1), [X234]),
    Case("log_softmax_0", lambda T, x: F(T).log_softmax(x, 0), [X23]),
    Case("log_softmax_large", lambda T, x: F(T).log_softmax(x, -1), [X23 * 50]),
    Case("softmax_f64", lambda T, x: F(T).softmax(x, -1), [X23.astype(np.float64)]),
]

LINEAR = [
    Case("linear", lambda T, x, w, b: F(T).linear(x, w, b), [LIN_X, LIN_W, LIN_B]),
    Case("linear_nobias", lambda T, x, w: F(T).linear(x, w), [LIN_X, LIN_W]),
    Case("linear_1d", lambda T, x, w, b: F(T).linear(x, w, b), [LIN_X[0], LIN_W, LIN_B]),
    Case("linear_3d", lambda T, x, w, b: F(T).linear(x, w, b),
         [LIN_X.reshape(2, 2, 5), LIN_W, LIN_B]),
    Case("linear_relu", lambda T, x, w, b: F(T).relu(F(T).linear(x, w, b)),
         [LIN_X, LIN_W, LIN_B]),
]

CONV = [
    Case("conv2d", lambda T, x, w, b: F(T).conv2d(x, w, b), [CX, CW, CB]),
    Case("conv2d_nobias", lambda T, x, w: F(T).conv2d(x, w), [CX, CW]),
    Case("conv2d_stride", lambda T, x, w, b: F(T).conv2d(x, w, b, stride=2), [CX, CW, CB]),
    Case("conv2d_stride_hw", lambda T, x, w: F(T).conv2d(x, w, stride=(2, 1)), [CX, CW]),
    Case("conv2d_pad", lambda T, x, w, b: F(T).conv2d(x, w, b, padding=1), [CX, CW, CB]),
    Case("conv2d_pad_same", lambda T, x, w: F(T).conv2d(x, w, padding="same"), [CX, CW]),
    Case("conv2d_pad_hw", lambda T, x, w: F(T).conv2d(x, w, padding=(2, 0)), [CX, CW]),
    Case("conv2d_dilation", lambda T, x, w, b: F(T).conv2d(x, w, b, dilation=2), [CX, CW, CB]),
    Case("conv2d_all", lambda T, x, w, b: F(T).conv2d(x, w, b, stride=2, padding=2, dilation=2),
         [CX, CW, CB]),
    Case("conv2d_groups", lambda T, x, w, b: F(T).conv2d(x, w, b, groups=2), [CX, CWG, CB4]),
    Case("conv2d_groups_pad", lambda T, x, w: F(T).conv2d(x, w, padding=1, stride=2, groups=2),
         [CX, CWG]),
    Case("conv2d_depthwise", lambda T, x, w: F(T).conv2d(x, w, groups=4),
         [CX, randn(4, 1, 3, 3, seed=37)]),
    Case("conv2d_1x1", lambda T, x, w: F(T).conv2d(x, w), [CX, CW1]),
    Case("conv2d_unbatched", lambda T, x, w, b: F(T).conv2d(x, w, b, padding=1),
         [CX[0], CW, CB]),
    Case("conv2d_relu_pool", lambda T, x, w, b: F(T).max_pool2d(F(T).relu(F(T).conv2d(x, w, b,
                                                                                     padding=1)), 2),
         [CX, CW, CB]),
]

POOL = [
    Case("max_pool2d", lambda T, x: F(T).max_pool2d(x, 2), [PX]),
    Case("max_pool2d_ties", lambda T, x: F(T).max_pool2d(x, 2), [PT]),
    Case("max_pool2d_k3s1", lambda T, x: F(T).max_pool2d(x, 3, stride=1), [PX]),
    Case("max_pool2d_overlap_ties", lambda T, x: F(T).max_pool2d(x, 3, 2), [PT]),
    Case("max_pool2d_pad", lambda T, x: F(T).max_pool2d(x, 3, 2, padding=1), [PX]),
    Case("max_pool2d_dil", lambda T, x: F(T).max_pool2d(x, 2, 1, dilation=2), [PX]),
    Case("max_pool2d_ceil", lambda T, x: F(T).max_pool2d(x, 4, 3, ceil_mode=True), [PX]),
    Case("max_pool2d_rect", lambda T, x: F(T).max_pool2d(x, (2, 3), (1, 2)), [PX]),
    Case("max_pool2d_unbatched", lambda T, x: F(T).max_pool2d(x, 2), [PX[0]]),
]

LOSS = [
    Case("ce", lambda T, x, t: F(T).cross_entropy(x, t), [LOGITS, TARGET]),
    Case("ce_sum", lambda T, x, t: F(T).cross_entropy(x, t, reduction="sum"), [LOGITS, TARGET]),
    Case("ce_none", lambda T, x, t: F(T).cross_entropy(x, t, reduction="none"),
         [LOGITS, TARGET]),
    Case("ce_weight", lambda T, x, t, w: F(T).cross_entropy(x, t, weight=w),
         [LOGITS, TARGET, CLS_W], nograd=(2,)),
    Case("ce_weight_none", lambda T, x, t, w: F(T).cross_entropy(x, t, w, reduction="none"),
         [LOGITS, TARGET, CLS_W], nograd=(2,)),
    Case("ce_ignore", lambda T, x, t: F(T).cross_entropy(x, t), [LOGITS, TARGET_IGN]),
    Case("ce_ignore_index", lambda T, x, t: F(T).cross_entropy(x, t, ignore_index=2),
         [LOGITS, TARGET_IGN2]),
    Case("ce_ignore_weight_sum", lambda T, x, t, w: F(T).cross_entropy(
        x, t, w, ignore_index=2, reduction="sum"), [LOGITS, TARGET_IGN2, CLS_W], nograd=(2,)),
    Case("ce_probs", lambda T, x, p: F(T).cross_entropy(x, p), [LOGITS, PROBS]),
    Case("ce_probs_sum", lambda T, x, p: F(T).cross_entropy(x, p, reduction="sum"),
         [LOGITS, PROBS]),
    Case("ce_probs_none", lambda T, x, p: F(T).cross_entropy(x, p, reduction="none"),
         [LOGITS, PROBS]),
    Case("ce_probs_weight", lambda T, x, p, w: F(T).cross_entropy(x, p, w),
         [LOGITS, PROBS, CLS_W], nograd=(2,)),
    Case("ce_1d", lambda T, x, t: F(T).cross_entropy(x, t), [LOGITS[0], np.array(3)]),
    Case("ce_4d", lambda T, x, t: F(T).cross_entropy(x, t), [LOGITS4D, TARGET4D]),
    Case("ce_4d_none", lambda T, x, t: F(T).cross_entropy(x, t, reduction="none"),
         [LOGITS4D, TARGET4D]),
    Case("nll", lambda T, x, t: F(T).nll_loss(x, t), [LOGP, TARGET]),
    Case("nll_sum", lambda T, x, t: F(T).nll_loss(x, t, reduction="sum"), [LOGP, TARGET]),
    Case("nll_none", lambda T, x, t: F(T).nll_loss(x, t, reduction="none"), [LOGP, TARGET]),
    Case("nll_weight", lambda T, x, t, w: F(T).nll_loss(x, t, w), [LOGP, TARGET, CLS_W],
         nograd=(2,)),
    Case("nll_ignore", lambda T, x, t: F(T).nll_loss(x, t), [LOGP, TARGET_IGN]),
    Case("nll_of_log_softmax", lambda T, x, t: F(T).nll_loss(F(T).log_softmax(x, 1), t),
         [LOGITS, TARGET]),
    Case("mse", lambda T, x, y: F(T).mse_loss(x, y), [LOGITS, MSE_T]),
    Case("mse_sum", lambda T, x, y: F(T).mse_loss(x, y, reduction="sum"), [LOGITS, MSE_T]),
    Case("mse_none", lambda T, x, y: F(T).mse_loss(x, y, reduction="none"), [LOGITS, MSE_T]),
    Case("mse_target_nograd", lambda T, x, y: F(T).mse_loss(x, y), [LOGITS, MSE_T],
         nograd=(1,)),
]

ALL = ACT + LINEAR + CONV + POOL + LOSS


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_functional(case):
    check_case(case)


def test_case_ids_unique():
    assert len({c.id for c in ALL}) == len(ALL)


def test_cross_entropy_all_ignored_is_nan():
    import graphnn
    import torch
    from tests.conftest import pair
    x_g, x_t = pair(LOGITS)
    t_g, t_t = pair(np.full(4, -100, np.int64))
    ref = torch.nn.functional.cross_entropy(x_t, t_t)
    ours = graphnn.nn.functional.cross_entropy(x_g, t_g)
    assert np.isnan(ref.item()) and np.isnan(ours.item())
