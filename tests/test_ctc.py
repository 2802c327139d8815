"""CTC loss against PyTorch 2.13 on the same inputs: values for every reduction and both
target layouts, the gradient with respect to log_probs (given directly and through a
log_softmax), impossible alignments with and without zero_infinity, repeated labels,
unbatched input, a traced module and the bad-input errors. Four recursion graphs in all:
cases share shapes so that the layouts and reductions reuse one recursion."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

R = np.random.default_rng(7)
T, N, C, S = 7, 5, 5, 4
LOGITS = R.standard_normal((T, N, C)).astype(np.float32)
LOG_PROBS = torch.log_softmax(torch.tensor(LOGITS), 2).numpy()
# sample 0: repeated labels (the s - 2 skip is barred between equal labels); 1: shorter
# input; 2: empty target; 3: impossible (1 1 1 1 needs 7 frames, it has 5); 4: full
TARGETS = np.array([[2, 2, 3, 3], [1, 4, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [4, 3, 2, 1]])
INPUT_LENGTHS = [7, 4, 3, 5, 7]
TARGET_LENGTHS = [4, 2, 0, 4, 4]
CONCAT = np.concatenate([row[:n] for row, n in zip(TARGETS, TARGET_LENGTHS)])
WEIGHTS = R.uniform(0.5, 1.5, N).astype(np.float32)   # a non-uniform upstream gradient


def _both(fn_g, fn_t, logits: bool = False):
    """fn(F, x) on the same log-probabilities (or logits) in graphnn and torch: the values
    and the input gradient of sum(value * weights)."""
    data = LOGITS if logits else LOG_PROBS
    x = G.tensor(data, requires_grad=True)
    xt = torch.tensor(data, requires_grad=True)
    ours, ref = fn_g(G.nn.functional, x), fn_t(torch.nn.functional, xt)
    w = WEIGHTS if ours.dim() else np.float32(1.5)
    (ours * G.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    return ours, ref, x.grad, xt.grad


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_values_and_gradient(reduction, layout):
    # one recursion graph for all six cases: the layout and reduction run in small graphs
    tg, tt = (TARGETS, torch.tensor(TARGETS)) if layout == "padded" else \
        (CONCAT, torch.tensor(CONCAT))

    def call(F, x, lib):
        t = G.tensor(tg) if lib is G else tt
        lengths = (lib.tensor(INPUT_LENGTHS), lib.tensor(TARGET_LENGTHS))
        if layout == "concatenated" and lib is G:
            lengths = (tuple(INPUT_LENGTHS), list(TARGET_LENGTHS))   # tuples and lists too
        return F.ctc_loss(x, t, *lengths, reduction=reduction)

    ours, ref, g, gt = _both(lambda F, x: call(F, x, G), lambda F, x: call(F, x, torch))
    assert_close(ours, ref, what=f"{layout} {reduction} value")
    assert np.isinf(ours.detach().numpy()).any()      # the impossible sample
    # PyTorch's gradient is nan within the impossible sample's input length, 0 after it
    assert np.isnan(g.numpy()[:5, 3]).all() and not np.isnan(g.numpy()[5:, 3]).any()
    assert_close(g, gt, what=f"{layout} {reduction} gradient")


def test_zero_infinity_through_log_softmax_and_module():
    """zero_infinity: the impossible sample's loss and gradient are 0; the gradient with
    respect to logits through a log_softmax (the usual training setup)."""
    loss_g = G.nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)
    loss_t = torch.nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)
    lengths = [(torch.tensor(INPUT_LENGTHS), torch.tensor(TARGET_LENGTHS)),
               (G.tensor(INPUT_LENGTHS), G.tensor(TARGET_LENGTHS))]
    ours, ref, g, gt = _both(
        lambda F, x: loss_g(F.log_softmax(x, 2), G.tensor(TARGETS), *lengths[1]),
        lambda F, x: loss_t(F.log_softmax(x, 2), torch.tensor(TARGETS), *lengths[0]),
        logits=True)
    assert_close(ours, ref, what="zero_infinity mean value")
    assert np.isfinite(g.numpy()).all() and not g.numpy()[:, 3].any()
    assert_close(g, gt, what="zero_infinity gradient through log_softmax")
    # per sample: the impossible loss is 0, the others unchanged
    x = G.tensor(LOG_PROBS)
    per = G.nn.functional.ctc_loss(x, G.tensor(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS,
                                   reduction="none", zero_infinity=True)
    ref = torch.nn.functional.ctc_loss(torch.tensor(LOG_PROBS), torch.tensor(TARGETS),
                                       tuple(INPUT_LENGTHS), tuple(TARGET_LENGTHS),
                                       reduction="none", zero_infinity=True)
    assert_close(per, ref, what="zero_infinity per-sample values")
    assert per.detach().numpy()[3] == 0


def test_unbatched_and_blank():
    """(T, C) log_probs with (S,) targets and 0-d lengths give a 0-d loss; a blank other
    than 0 (class 0 is then a label, here repeated)."""
    x0 = LOG_PROBS[:, 0]

    def call(F, x, lib):
        return F.ctc_loss(x, lib.tensor([0, 0, 3]), lib.tensor(6), lib.tensor(3), blank=4,
                          reduction="none")

    x = G.tensor(x0, requires_grad=True)
    xt = torch.tensor(x0, requires_grad=True)
    ours, ref = call(G.nn.functional, x, G), call(torch.nn.functional, xt, torch)
    assert tuple(ours.shape) == tuple(ref.shape) == ()
    ours.backward()
    ref.backward()
    assert_close(ours, ref, what="unbatched value")
    assert_close(x.grad, xt.grad, what="unbatched gradient")


def _errors(lib):
    F = lib.nn.functional
    lp = lib.tensor(LOG_PROBS[:5, :2])
    t = lib.tensor(TARGETS[:2, :2])
    il, tl = lib.tensor([5, 5]), lib.tensor([2, 2])
    return [
        lambda: F.ctc_loss(lp, t, lib.tensor([6, 5]), tl),
        lambda: F.ctc_loss(lp, t, il, lib.tensor([3, 2])),
        lambda: F.ctc_loss(lp, t, lib.tensor([-1, 5]), tl),
        lambda: F.ctc_loss(lp, t, il, lib.tensor([-1, 2])),
        lambda: F.ctc_loss(lp, t, il, tl, blank=C),
        lambda: F.ctc_loss(lp, t, il, tl, blank=-1),
        lambda: F.ctc_loss(lp[None], t, il, tl),
        lambda: F.ctc_loss(lp[:, 0, 0], t, il, tl),
        lambda: F.ctc_loss(lp.long(), t, il, tl),
        lambda: F.ctc_loss(lp, t, lib.tensor([5]), tl),
        lambda: F.ctc_loss(lp, t, il, lib.tensor([2, 2, 2])),
        lambda: F.ctc_loss(lp, t, il.float(), tl),
        lambda: F.ctc_loss(lp, t[:1], il, tl),
        lambda: F.ctc_loss(lp, t[None], il, tl),
        lambda: F.ctc_loss(lp, lib.tensor([1, 2, 3]), il, tl),
        lambda: F.ctc_loss(lp, t, il, tl, reduction="bad"),
        lambda: F.ctc_loss(lp[:, :, :0], t, il, tl),
        lambda: lib.nn.CTCLoss(blank=9)(lp, t, il, tl),
    ]


def test_errors_match_pytorch():
    for i, (ours, ref) in enumerate(zip(_errors(G), _errors(torch))):
        with pytest.raises(Exception) as expected:
            ref()
        with pytest.raises(type(expected.value)) as got:
            ours()
        msg = str(expected.value).split("\n")[0]
        assert str(got.value).endswith(msg), f"case {i}: {got.value!r} vs {msg!r}"
        assert "ctc_loss" in str(got.value) or i == 15, f"case {i} names no function"


def _head(lib):
    """A linear head and CTC in one traced forward: the lengths are traced tensors, so
    their bounds are checked at every call and the concatenated targets are padded to
    their total length."""

    class Head(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(3, C)
            self.ctc = lib.nn.CTCLoss(reduction="sum")

        def forward(self, x, targets, input_lengths, target_lengths):
            return self.ctc(self.lin(x).log_softmax(2), targets, input_lengths,
                            target_lengths)

    return Head()


def test_inside_a_traced_module():
    head_g, head_t = _head(G), _head(torch)
    head_t.lin.load_state_dict({k: torch.tensor(v.detach().numpy())
                                for k, v in head_g.lin.state_dict().items()})
    x = R.standard_normal((6, 3, 3)).astype(np.float32)
    targets, il, tl = np.array([1, 2, 3, 3, 4]), [6, 5, 3], [2, 2, 1]
    ours = head_g(G.tensor(x), G.tensor(targets), G.tensor(il), G.tensor(tl))
    ref = head_t(torch.tensor(x), torch.tensor(targets), torch.tensor(il), torch.tensor(tl))
    ours.backward()
    ref.backward()
    assert_close(ours, ref, what="traced value")
    assert_close(head_g.lin.weight.grad, head_t.lin.weight.grad, what="traced weight gradient")
    with pytest.raises(RuntimeError, match="Head: Expected input_lengths to have value at "
                                           "most 6, but got value 7"):
        head_g(G.tensor(x), G.tensor(targets), G.tensor([7, 5, 3]), G.tensor(tl))
