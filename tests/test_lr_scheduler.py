"""Learning-rate schedulers against PyTorch 2.13: each scheduler's learning rates (and the
momentum the cyclic ones write) over 30 steps, with two parameter groups, equal to
PyTorch's; ``step(epoch)`` closed forms; composites; state dicts; PyTorch's warnings and
errors. The optimizers never see a gradient here, so ``optimizer.step()`` runs nothing."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import graphnn as G


def _opt(L, name: str = "SGD"):
    p1, p2 = L.nn.Parameter(L.zeros(2)), L.nn.Parameter(L.zeros(3))
    groups = [{"params": [p1]}, {"params": [p2], "lr": 0.5}]
    if name == "SGD":
        return L.optim.SGD(groups, lr=0.1, momentum=0.9)
    return getattr(L.optim, name)(groups, lr=0.1)


def _lambda(e):
    return 1.0 / (1 + e)


class Warmup:
    """A callable object: its attributes go into the scheduler's state dict."""

    def __init__(self):
        self.n = 3

    def __call__(self, e):
        return min(1.0, (e + 1) / self.n)


# name, kwargs, optimizer
CASES = [
    ("StepLR", dict(step_size=3, gamma=0.5), "SGD"),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3), "SGD"),
    ("ExponentialLR", dict(gamma=0.9), "SGD"),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01), "SGD"),
    ("LambdaLR", dict(lr_lambda=_lambda), "SGD"),
    ("LambdaLR", dict(lr_lambda=[_lambda, lambda e: 0.9 ** e]), "SGD"),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.95), "SGD"),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=31), "SGD"),
    ("OneCycleLR", dict(max_lr=[1.0, 2.0], epochs=3, steps_per_epoch=11, three_phase=True,
                        anneal_strategy="linear"), "Adam"),
    ("LinearLR", dict(start_factor=0.2, total_iters=6), "SGD"),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=40), "SGD"),
    ("ConstantLR", dict(factor=0.5, total_iters=4), "SGD"),
    ("PolynomialLR", dict(total_iters=20, power=2.0), "SGD"),
    ("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2, eta_min=0.001), "SGD"),
    ("CosineAnnealingWarmRestarts", dict(T_0=5), "SGD"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="triangular2"), "SGD"),
    ("CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, step_size_down=5,
                      mode="exp_range", gamma=0.9), "Adam"),
]


def _momentum(opt):
    g = opt.param_groups[0]
    return g["betas"][0] if "betas" in g else g["momentum"]


def _sequence(L, name, kwargs, optname, steps=30):
    opt = _opt(L, optname)
    sched = getattr(L.optim.lr_scheduler, name)(opt, **kwargs)
    out = [sched.get_last_lr() + [_momentum(opt)]]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr() + [_momentum(opt)])
    return np.array(out, dtype=np.float64), sched


@pytest.mark.parametrize("name,kwargs,optname", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_schedule_matches_torch(name, kwargs, optname):
    ours, sched = _sequence(G, name, kwargs, optname)
    ref, tsched = _sequence(torch, name, kwargs, optname)
    np.testing.assert_array_equal(ours, ref)
    # the state dict holds the same entries (the lambdas as PyTorch saves them)
    assert set(sched.state_dict()) == set(tsched.state_dict())


@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", dict(step_size=3, gamma=0.5)), ("MultiStepLR", dict(milestones=[2, 5])),
    ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR", dict(T_max=7)),
    ("LinearLR", dict(start_factor=0.2, total_iters=6)), ("ConstantLR", dict(factor=0.5)),
    ("PolynomialLR", dict(total_iters=10)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2))])
def test_step_with_epoch_uses_the_closed_form(name, kwargs):
    seqs = []
    for L in (G, torch):
        opt = _opt(L)
        sched = getattr(L.optim.lr_scheduler, name)(opt, **kwargs)
        seq = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in [3, 1, 7, 7, 12, 2.5 if name.startswith("CosineAnnealingW") else 2]:
                opt.step()
                sched.step(epoch)
                seq.append(sched.get_last_lr())
        seqs.append(np.array(seq))
    np.testing.assert_array_equal(*seqs)


def _composites(L):
    opt = _opt(L)
    s1 = L.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5)
    s2 = L.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    seq = L.optim.lr_scheduler.SequentialLR(opt, [s1, s2], milestones=[5])
    opt2 = _opt(L)
    c1 = L.optim.lr_scheduler.ConstantLR(opt2, factor=0.1, total_iters=3)
    c2 = L.optim.lr_scheduler.ExponentialLR(opt2, gamma=0.9)
    chain = L.optim.lr_scheduler.ChainedScheduler([c1, c2])
    out = []
    for _ in range(25):
        opt.step()
        opt2.step()
        seq.step()
        chain.step()
        out.append(seq.get_last_lr() + chain.get_last_lr())
    return np.array(out), seq, chain


def test_sequential_and_chained_match_torch():
    ours, seq, chain = _composites(G)
    ref, tseq, tchain = _composites(torch)
    np.testing.assert_array_equal(ours, ref)
    assert set(seq.state_dict()) == set(tseq.state_dict())
    assert len(seq.state_dict()["_schedulers"]) == 2


def test_reduce_on_plateau_matches_torch():
    metrics = [5, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 2.9999, 2.9999, 2.9999, 2.9999, 1]
    seqs = []
    for L in (G, torch):
        opt = _opt(L)
        s1 = L.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, cooldown=1)
        s2 = L.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=1,
                                                    threshold=0.1, threshold_mode="abs",
                                                    min_lr=[0.01, 0.2])
        seq = []
        for m in metrics:
            s1.step(L.tensor(float(m)))     # a tensor metric is read on the host
            s2.step(-m)
            seq.append(s1.get_last_lr() + s2.get_last_lr())
        seqs.append(np.array(seq))
    np.testing.assert_array_equal(*seqs)


def test_state_dict_resumes_the_schedule():
    opt = _opt(G)
    sched = G.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=40)
    for _ in range(10):
        opt.step()
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 10
    opt2 = _opt(G)
    opt2.load_state_dict(opt.state_dict())
    sched2 = G.optim.lr_scheduler.OneCycleLR(opt2, max_lr=1.0, total_steps=40)
    sched2.load_state_dict(saved)
    for _ in range(10):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
    # a callable object's attributes are saved, functions are not
    lam = G.optim.lr_scheduler.LambdaLR(_opt(G), [Warmup(), _lambda])
    assert lam.state_dict()["lr_lambdas"] == [{"n": 3}, None]


def _warnings(L, fn) -> list[str]:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn(L)
    return [str(x.message) for x in w]


def test_warnings_match_torch():
    def early(L):     # scheduler.step() before optimizer.step()
        opt = _opt(L)
        L.optim.lr_scheduler.StepLR(opt, 2).step()

    def get_lr(L):    # get_lr() outside step()
        opt = _opt(L)
        L.optim.lr_scheduler.ExponentialLR(opt, 0.5).get_lr()

    def epoch(L):
        opt = _opt(L)
        s = L.optim.lr_scheduler.StepLR(opt, 2)
        opt.step()
        s.step(3)

    def overridden(L):
        opt = _opt(L)
        s = L.optim.lr_scheduler.StepLR(opt, 2)
        opt.step = lambda: None
        s.step()

    for fn in (early, get_lr, epoch, overridden):
        assert _warnings(G, fn) == _warnings(torch, fn), fn.__name__
        assert _warnings(G, fn), fn.__name__


BAD = [
    ("not_optimizer", lambda L: L.optim.lr_scheduler.StepLR(object(), 2)),
    ("resume_without_initial_lr", lambda L: L.optim.lr_scheduler.StepLR(_opt(L), 2,
                                                                          last_epoch=3)),
    ("lambda_count", lambda L: L.optim.lr_scheduler.LambdaLR(_opt(L), [_lambda])),
    ("multiplicative_not_callable", lambda L: L.optim.lr_scheduler.MultiplicativeLR(
        _opt(L), [1.0, 2.0])),
    ("constant_factor", lambda L: L.optim.lr_scheduler.ConstantLR(_opt(L), factor=2.0)),
    ("linear_start", lambda L: L.optim.lr_scheduler.LinearLR(_opt(L), start_factor=0)),
    ("linear_end", lambda L: L.optim.lr_scheduler.LinearLR(_opt(L), end_factor=1.5)),
    ("plateau_factor", lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_opt(L), factor=1.0)),
    ("plateau_mode", lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_opt(L), mode="up")),
    ("plateau_threshold_mode", lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(
        _opt(L), threshold_mode="x")),
    ("plateau_min_lrs", lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_opt(L),
                                                                         min_lr=[0.1])),
    ("warm_restarts_T0", lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        _opt(L), T_0=0)),
    ("warm_restarts_Tmult", lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        _opt(L), T_0=2, T_mult=0)),
    ("warm_restarts_epoch", lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        _opt(L), T_0=2).step(-1)),
    ("onecycle_steps", lambda L: L.optim.lr_scheduler.OneCycleLR(_opt(L), 1.0)),
    ("onecycle_total", lambda L: L.optim.lr_scheduler.OneCycleLR(_opt(L), 1.0, total_steps=0)),
    ("onecycle_pct", lambda L: L.optim.lr_scheduler.OneCycleLR(_opt(L), 1.0, total_steps=10,
                                                               pct_start=1)),
    ("onecycle_anneal", lambda L: L.optim.lr_scheduler.OneCycleLR(
        _opt(L), 1.0, total_steps=10, anneal_strategy="exp")),
    ("onecycle_max_lr_count", lambda L: L.optim.lr_scheduler.OneCycleLR(
        _opt(L), [1.0], total_steps=10)),
    ("onecycle_no_momentum", lambda L: L.optim.lr_scheduler.OneCycleLR(
        _opt(L, "Adagrad"), 1.0, total_steps=10)),
    ("onecycle_past_end", lambda L: [s.step() for s in
                                     [L.optim.lr_scheduler.OneCycleLR(_opt(L), 1.0,
                                                                      total_steps=2)]
                                     for _ in range(3)]),
    ("cyclic_mode", lambda L: L.optim.lr_scheduler.CyclicLR(_opt(L), 0.1, 1.0, mode="x")),
    ("sequential_empty", lambda L: L.optim.lr_scheduler.SequentialLR(_opt(L), [], [])),
    ("sequential_milestones", lambda L: (lambda o: L.optim.lr_scheduler.SequentialLR(
        o, [L.optim.lr_scheduler.StepLR(o, 2)], [3]))(_opt(L))),
    ("sequential_other_optimizer", lambda L: (lambda o: L.optim.lr_scheduler.SequentialLR(
        o, [L.optim.lr_scheduler.StepLR(_opt(L), 2)], []))(_opt(L))),
    ("chained_plateau", lambda L: L.optim.lr_scheduler.ChainedScheduler(
        [L.optim.lr_scheduler.ReduceLROnPlateau(_opt(L))])),
    ("chained_empty", lambda L: L.optim.lr_scheduler.ChainedScheduler([])),
]


def _error(L, fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(L)
    except Exception as e:      # noqa: BLE001  (the type is what is compared)
        return type(e), str(e)
    return None, None


@pytest.mark.parametrize("what,fn", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments_raise_pytorchs_errors(what, fn):
    ttype, tmsg = _error(torch, fn)
    gtype, gmsg = _error(G, fn)
    assert ttype is not None, f"{what}: torch accepted it"
    assert gtype is ttype, f"{what}: {gtype} ({gmsg}) != {ttype} ({tmsg})"
    # optimizer reprs inside messages name the object, whose address differs
    strip = lambda s: " ".join(w for w in s.split() if "0x" not in w)   # noqa: E731
    assert strip(gmsg) == strip(tmsg), what


def test_cosine_formula_reference():
    """The chainable cosine form reaches eta_min at T_max and base_lr again at 2 T_max."""
    opt = _opt(G)
    sched = G.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5, eta_min=0.0)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[5] == pytest.approx(0.0, abs=1e-12)
    assert lrs[10] == pytest.approx(0.1, rel=1e-12)
    assert lrs[2] == pytest.approx(0.05 * (1 + math.cos(math.pi * 2 / 5)), rel=1e-12)
