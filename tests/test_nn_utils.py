"""``nn.utils`` against PyTorch 2.13: gradient clipping by norm (every norm type: the
returned total and the clipped gradients, in place), by value, ``get_total_norm`` /
``clip_grads_with_norm_``, non-finite norms, iterables read once, and the parameter/vector
conversions. A clip is one compiled graph over all gradients."""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch

import graphnn as G

from tests.conftest import assert_close

SHAPES = [(8, 4), (8,), (3,), (5,)]    # the last one without a gradient


def _params(seed: int, with_grad=(True, True, True, False)):
    rng = np.random.default_rng(seed)
    gp, tp = [], []
    for shape, has in zip(SHAPES, with_grad):
        w = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        g.reshape(-1)[:2] = 0.0      # zeros count for norm_type 0
        p, t = G.nn.Parameter(G.tensor(w)), torch.tensor(w, requires_grad=True)
        if has:
            p.grad, t.grad = G.tensor(g), torch.tensor(g)
        gp.append(p)
        tp.append(t)
    return gp, tp


def _check_grads(gp, tp, what: str) -> None:
    for i, (p, t) in enumerate(zip(gp, tp)):
        if t.grad is None:
            assert p.grad is None
        else:
            assert_close(p.grad, t.grad, rtol=1e-5, atol=1e-7, what=f"{what} grad {i}")


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, -math.inf, 0, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.7, 1e4])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    gp, tp = _params(1)
    before = [p.grad for p in gp]
    total = G.nn.utils.clip_grad_norm_((p for p in gp), max_norm, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_((p for p in tp), max_norm, norm_type=norm_type)
    assert total.shape == () and total.dtype == G.float32
    assert_close(total, ref, rtol=1e-5, what=f"total norm {norm_type}")
    _check_grads(gp, tp, f"norm {norm_type}")
    assert all(b is p.grad for b, p in zip(before, gp)), "clipped in place"


def test_clip_is_one_graph_and_a_new_max_norm_does_not_recompile():
    gp, _ = _params(2, (True,) * 4)
    G.reset_stats()
    G.nn.utils.clip_grad_norm_(gp, 1.0, norm_type=2.0)
    assert G.stats().traces == 1
    G.reset_stats()
    for m in (0.5, 0.25, 3.0):
        G.nn.utils.clip_grad_norm_(gp, m, norm_type=2.0)
    stats = G.stats()
    assert stats.compiles == 0 and stats.traces == 0 and stats.syncs == 0
    # one reduction per gradient (norm and square in its epilogue), one for the total and
    # one scaling kernel per gradient: no eager op per tensor per arithmetic step
    assert stats.launches <= 3 * (2 * len(gp) + 1)


def test_non_finite_norms():
    gp, tp = _params(3)
    bad = np.full(SHAPES[0], np.inf, np.float32)
    gp[0].grad, tp[0].grad = G.tensor(bad), torch.tensor(bad)
    kept = [p.grad.numpy().copy() for p in gp if p.grad is not None]
    errors = []
    for L, ps in ((G, gp), (torch, tp)):
        with pytest.raises(RuntimeError) as e:
            L.nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    for k, p in zip(kept, [p for p in gp if p.grad is not None]):
        np.testing.assert_array_equal(p.grad.numpy(), k)    # nothing changed
    # without the check, both scale by the non-finite norm
    total = G.nn.utils.clip_grad_norm_(gp, 1.0)
    ref = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    assert math.isinf(float(total)) and math.isinf(float(ref))
    for p, t in zip(gp, tp):
        if t.grad is not None:
            np.testing.assert_array_equal(np.isnan(p.grad.numpy()), np.isnan(t.grad.numpy()))


def test_empty_parameters():
    for L in (G, torch):
        assert float(L.nn.utils.clip_grad_norm_([], 1.0)) == 0.0
        w = L.ones(2, requires_grad=True)      # no gradient
        assert float(L.nn.utils.clip_grad_norm_(w, 1.0)) == 0.0
    msgs = []
    for L in (G, torch):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            L.nn.utils.clip_grad_norm_((p for p in []), 1.0)
        msgs.append([str(x.message) for x in w])
    assert msgs[0] == msgs[1] and msgs[0]


def test_total_norm_and_clip_with_norm_match_torch():
    gp, tp = _params(4)
    grads_g = [p.grad for p in gp if p.grad is not None]
    grads_t = [p.grad for p in tp if p.grad is not None]
    total = G.nn.utils.get_total_norm(grads_g, 3.0)
    ref = torch.nn.utils.get_total_norm(grads_t, 3.0)
    assert_close(total, ref, rtol=1e-5)
    G.nn.utils.clip_grads_with_norm_(gp, 0.5, total)
    torch.nn.utils.clip_grads_with_norm_(tp, 0.5, ref)
    _check_grads(gp, tp, "clip_grads_with_norm_")


@pytest.mark.parametrize("clip", [0.3, 5.0])
def test_clip_grad_value_matches_torch(clip):
    gp, tp = _params(5)
    G.nn.utils.clip_grad_value_((p for p in gp), clip)
    torch.nn.utils.clip_grad_value_((p for p in tp), clip)
    _check_grads(gp, tp, "clip value")


def test_deprecated_clip_grad_norm_warns():
    for L in (G, torch):
        gp = [L.ones(2, requires_grad=True)]
        gp[0].grad = L.ones(2)
        with pytest.warns(FutureWarning, match="clip_grad_norm_"):
            L.nn.utils.clip_grad_norm(gp, 1.0)


def test_parameters_to_vector_and_back():
    gp, tp = _params(6)
    vg = G.nn.utils.parameters_to_vector(p for p in gp)
    vt = torch.nn.utils.parameters_to_vector(p for p in tp)
    assert_close(vg, vt)
    assert vg.requires_grad and vg.grad_fn is not None
    weights = np.arange(vt.numel(), dtype=np.float32)    # each element its own gradient
    (vg * G.tensor(weights)).sum().backward()
    (vt * torch.tensor(weights)).sum().backward()
    for p, t in zip(gp, tp):
        assert_close(p.grad, t.grad)
    new = np.arange(vt.numel(), dtype=np.float32) / 10
    ng, nt = G.tensor(new), torch.tensor(new)
    G.nn.utils.vector_to_parameters(ng, (p for p in gp))
    torch.nn.utils.vector_to_parameters(nt, tp)
    for p, t in zip(gp, tp):
        assert_close(p, t)
        assert tuple(p.shape) == tuple(t.shape)
    # the parameters view the vector: writing the vector writes them, as in PyTorch
    ng.mul_(2)
    nt.mul_(2)
    for p, t in zip(gp, tp):
        assert_close(p, t)
    errors = []
    for L in (G, torch):
        with pytest.raises(TypeError) as e:
            L.nn.utils.vector_to_parameters([1.0, 2.0], [L.ones(2)])
        errors.append(str(e.value))
    assert errors[0] == errors[1]


def test_norm_type_strings_and_ints_as_torch():
    """``norm_type`` may be an int or "inf" (it goes through float(), as in PyTorch)."""
    gp, tp = _params(7)
    total = G.nn.utils.clip_grad_norm_(gp, 1.0, norm_type="inf")
    ref = torch.nn.utils.clip_grad_norm_(tp, 1.0, norm_type="inf")
    assert_close(total, ref)
    assert re.fullmatch(r"graphnn.Size\(\[\]\)", repr(total.shape))
