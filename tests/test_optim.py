"""Optimizers against PyTorch 2.13: each optimizer and option trains the same small MLP from
the same weights on the same data, and the parameters agree after every step; state dicts
have PyTorch's format and round-trip (PyTorch's into graphnn, graphnn's into a fresh
graphnn optimizer) with training continuing identically; the step is one compiled graph
that never recompiles for new scalars; bad arguments raise PyTorch's errors.

One MLP shape for every test: its forward and backward compile once per process."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import graphnn as G
from graphnn.optim import _graph

from tests.conftest import assert_close

_RNG = np.random.default_rng(7)
_X = _RNG.standard_normal((16, 4)).astype(np.float32)
_Y = _RNG.standard_normal((16, 3)).astype(np.float32)


def _mlp(L):
    return L.nn.Sequential(L.nn.Linear(4, 8), L.nn.Tanh(), L.nn.Linear(8, 3))


class Pair:
    """The same MLP in graphnn and torch, from the same weights, and the loss on one batch
    of data (mean squared error)."""

    def __init__(self, seed: int = 0, double: bool = False):
        torch.manual_seed(seed)
        self.t = _mlp(torch).double() if double else _mlp(torch)
        self.g = _mlp(G).double() if double else _mlp(G)
        self.g.load_state_dict(self.t.state_dict())
        x, y = (_X.astype(np.float64), _Y.astype(np.float64)) if double else (_X, _Y)
        self.tx, self.ty = torch.tensor(x), torch.tensor(y)
        self.gx, self.gy = G.tensor(x), G.tensor(y)

    def closures(self, topt, gopt):
        def tc():
            topt.zero_grad()
            loss = ((self.t(self.tx) - self.ty) ** 2).mean()
            loss.backward()
            return loss

        def gc():
            gopt.zero_grad()
            loss = ((self.g(self.gx) - self.gy) ** 2).mean()
            loss.backward()
            return loss

        return tc, gc

    def check(self, what: str, rtol: float = 2e-5, atol: float = 2e-6) -> None:
        for (name, p), q in zip(self.g.named_parameters(), self.t.parameters()):
            assert_close(p, q, rtol=rtol, atol=atol, what=f"{what}: {name}")


def _train(pair: Pair, topt, gopt, steps: int, what: str, **tol) -> None:
    tc, gc = pair.closures(topt, gopt)
    for i in range(steps):
        tc()
        gc()
        topt.step()
        gopt.step()
        pair.check(f"{what} step {i}", **tol)


# name, kwargs: every option of every optimizer, in a few configurations
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.1)),
    # lerp's other branch (weight 1 - beta1 >= 0.5), decoupled decay, maximize
    ("Adam", dict(lr=0.05, betas=(0.3, 0.9), maximize=True, decoupled_weight_decay=True,
                  weight_decay=0.1)),
    ("AdamW", dict(lr=0.05, amsgrad=True, weight_decay=0.3)),
    ("Adamax", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.05, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.05, betas=(0.9, 0.9), weight_decay=0.1)),   # rectified from step 6
    ("RAdam", dict(lr=0.05, betas=(0.9, 0.9), weight_decay=0.1, decoupled_weight_decay=True,
                   maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1,
                     maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2,
                     maximize=True)),
    ("Adadelta", dict(lr=1.0, rho=0.8, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("name,kwargs", CASES,
                         ids=[f"{n}-{'-'.join(k for k in kw if k != 'lr') or 'default'}"
                              for n, kw in CASES])
def test_trajectory_matches_torch(name, kwargs):
    pair = Pair()
    topt = getattr(torch.optim, name)(pair.t.parameters(), **kwargs)
    gopt = getattr(G.optim, name)(pair.g.parameters(), **kwargs)
    _train(pair, topt, gopt, 8, name)
    # the update of the MLP's 4 tensors is one fused kernel. In NAdam and Adadelta a state
    # tensor written by the step also feeds a value used more than once, which the fusion
    # pass recomputes in each user, so the state tensor is computed in a kernel of its own
    # (one horizontal kernel for all, then a few per tensor)
    launches = G.stats().launches
    gopt.step()
    launches = G.stats().launches - launches
    if name in ("NAdam", "Adadelta"):
        assert launches <= 1 + 3 * 4
    else:
        assert launches == 1
    # the state has PyTorch's keys, in PyTorch's order, with PyTorch's values
    topt.step()
    tsd, gsd = topt.state_dict(), gopt.state_dict()
    assert list(gsd["state"]) == list(tsd["state"])
    for i in tsd["state"]:
        assert list(gsd["state"][i]) == list(tsd["state"][i])
        for key, value in tsd["state"][i].items():
            assert_close(gsd["state"][i][key], value, rtol=1e-4, atol=1e-6, what=key)
    assert [{k: v for k, v in g.items()} for g in gsd["param_groups"]] == \
        tsd["param_groups"]


def test_param_groups_with_their_own_options():
    pair = Pair(1)

    def groups(m, L):
        return [{"params": m[0].parameters()},
                {"params": m[2].parameters(), "lr": 0.01, "betas": (0.5, 0.9),
                 "amsgrad": True}]

    topt = torch.optim.Adam(groups(pair.t, torch), lr=0.05, weight_decay=0.01)
    gopt = G.optim.Adam(groups(pair.g, G), lr=0.05, weight_decay=0.01)
    _train(pair, topt, gopt, 3, "groups")
    assert gopt.param_groups[1]["lr"] == 0.01 and gopt.param_groups[1]["amsgrad"]
    assert gopt.param_groups[0]["betas"] == (0.9, 0.999)


def test_parameters_without_gradient_are_skipped():
    pair = Pair(2)
    topt = torch.optim.Adam(pair.t.parameters(), lr=0.05)
    gopt = G.optim.Adam(pair.g.parameters(), lr=0.05)
    tc, gc = pair.closures(topt, gopt)
    for i in range(4):
        tc()
        gc()
        if i % 2 == 0:      # the first layer's bias skips every other step
            pair.t[0].bias.grad = None
            pair.g[0].bias.grad = None
        topt.step()
        gopt.step()
        pair.check(f"skip {i}")
    assert float(gopt.state[pair.g[0].bias]["step"]) == 2.0
    assert float(gopt.state[pair.g[0].weight]["step"]) == 4.0


@pytest.mark.parametrize("name,kwargs", [CASES[4], CASES[1], CASES[8]],
                         ids=["Adam-amsgrad", "SGD-momentum", "NAdam"])
def test_state_dict_round_trips(name, kwargs):
    """PyTorch's state dict loads into graphnn mid-training, and graphnn's loads into a
    fresh graphnn optimizer over a fresh model: training continues as PyTorch's does."""
    pair = Pair(3)
    topt = getattr(torch.optim, name)(pair.t.parameters(), **kwargs)
    gopt = getattr(G.optim, name)(pair.g.parameters(), **kwargs)
    _train(pair, topt, gopt, 2, "before")
    # torch -> graphnn: a graphnn optimizer that never stepped takes torch's state
    fresh = getattr(G.optim, name)(pair.g.parameters(), lr=0.5)
    fresh.load_state_dict(topt.state_dict())
    assert fresh.param_groups[0]["lr"] == kwargs["lr"]
    _train(pair, topt, fresh, 2, "loaded from torch")
    # graphnn -> graphnn: saved, loaded into a new optimizer over a copy of the model
    saved = fresh.state_dict()
    pair2 = Pair(3)
    pair2.t.load_state_dict(pair.t.state_dict())
    pair2.g.load_state_dict(pair.t.state_dict())
    copy = getattr(G.optim, name)(pair2.g.parameters(), **kwargs)
    copy.load_state_dict(saved)
    topt2 = getattr(torch.optim, name)(pair2.t.parameters(), **kwargs)
    topt2.load_state_dict(topt.state_dict())
    _train(pair2, topt2, copy, 2, "loaded from graphnn")


def test_state_dict_format_and_step_tensor():
    pair = Pair(4)
    opt = G.optim.Adam([{"params": pair.g[0].parameters()},
                        {"params": pair.g[2].parameters(), "lr": 0.1}], lr=0.05)
    tc, gc = pair.closures(torch.optim.SGD(pair.t.parameters()), opt)
    gc()
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    st = sd["state"][2]
    assert isinstance(st["step"], G.Tensor) and st["step"].shape == () and \
        st["step"].dtype == G.float32 and float(st["step"]) == 1.0
    assert st["exp_avg"].shape == pair.g[2].weight.shape
    # the live state, as PyTorch's
    assert st["exp_avg"] is opt.state[pair.g[2].weight]["exp_avg"]


def test_changing_scalars_never_recompile():
    """A learning rate and beta1 that change every step (OneCycleLR cycles both), the step
    count and the bias corrections: 100 steps, zero compiles, one launch per step."""
    pair = Pair(5)
    opt = G.optim.Adam(pair.g.parameters(), lr=0.01)
    sched = G.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=110)
    _, gc = pair.closures(opt, opt)
    for _ in range(2):
        gc()
        opt.step()
        sched.step()
    G.reset_stats()
    launches = 0
    for _ in range(100):
        gc()
        before = G.stats().launches
        opt.step()
        launches += G.stats().launches - before
        sched.step()
    stats = G.stats()
    assert stats.compiles == 0 and stats.traces == 0
    assert launches == 100, "each step of the 4 parameters is one fused kernel"
    assert np.isfinite(pair.g[0].weight.detach().numpy()).all()


def test_large_groups_run_as_graphs_that_repeat():
    """A parameter of ``ALONE`` elements or more gets a graph of its own, compiled once per
    shape; small ones are sorted by shape and run ``MAX_CHUNK`` to a graph."""
    shapes = [(384, 384), (3, 5), (5,)] * 8
    assert 384 * 384 >= _graph.ALONE and _graph.MAX_CHUNK == 16
    ps = [G.nn.Parameter(G.tensor(_RNG.standard_normal(s).astype(np.float32)))
          for s in shapes]
    ts = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in ps]
    gopt, topt = G.optim.SGD(ps, lr=0.1, momentum=0.9), torch.optim.SGD(ts, lr=0.1, momentum=0.9)
    G.reset_stats()
    for i in range(2):
        for p, t in zip(ps, ts):
            g = _RNG.standard_normal(tuple(p.shape)).astype(np.float32)
            p.grad, t.grad = G.tensor(g), torch.tensor(g)
        before = G.stats().launches
        gopt.step()
        topt.step()
        assert G.stats().launches - before == 8 + 1    # 8 alone, 1 chunk of 16
    assert G.stats().compiles <= 3
    for p, t in zip(ps, ts):
        assert_close(p, t, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search_fn):
    pair = Pair(6)
    kw = dict(lr=0.5, max_iter=5, history_size=3, line_search_fn=line_search_fn)
    topt = torch.optim.LBFGS(pair.t.parameters(), **kw)
    gopt = G.optim.LBFGS(pair.g.parameters(), **kw)
    tc, gc = pair.closures(topt, gopt)
    for i in range(3):
        tl, gl = topt.step(tc).detach(), gopt.step(gc).detach()
        assert abs(float(tl) - float(gl)) <= 1e-5 * abs(float(tl))
        pair.check(f"lbfgs {i}", rtol=1e-4, atol=1e-5)
        tkey, gkey = next(iter(pair.t.parameters())), next(iter(pair.g.parameters()))
        assert gopt.state[gkey]["func_evals"] == topt.state[tkey]["func_evals"]
        assert gopt.state[gkey]["n_iter"] == topt.state[tkey]["n_iter"]
    assert sorted(gopt.state_dict()["state"][0]) == sorted(topt.state_dict()["state"][0])


def _lbfgs_steps(pair, topt, gopt, steps: int, what: str) -> None:
    tc, gc = pair.closures(topt, gopt)
    for i in range(steps):
        topt.step(tc)
        gopt.step(gc)
        pair.check(f"{what} {i}", rtol=1e-4, atol=1e-5)


def _assert_lbfgs_state_close(gstate: dict, tstate: dict) -> None:
    assert list(gstate) == list(tstate)
    for key, value in tstate.items():
        ours = gstate[key]
        if isinstance(value, list):     # old_dirs, old_stps, ro, al (with None)
            assert len(ours) == len(value), key
            for i, (a, b) in enumerate(zip(ours, value)):
                assert (a is None) == (b is None), f"{key}[{i}]"
                if b is not None:
                    assert isinstance(a, G.Tensor), f"{key}[{i}]"
                    assert_close(a, b, rtol=1e-3, atol=1e-4, what=f"{key}[{i}]")
        elif isinstance(value, torch.Tensor):
            assert isinstance(ours, G.Tensor), key
            assert_close(ours, value, rtol=1e-3, atol=1e-4, what=key)
        else:   # func_evals, n_iter, prev_loss, H_diag or t as Python numbers
            assert ours == pytest.approx(value, rel=1e-4), key


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_round_trips(line_search_fn):
    """The state holds graphnn tensors with PyTorch's values; PyTorch's state loads into
    graphnn, and graphnn's into a fresh optimizer over a copy of the model: training goes
    on as PyTorch's (the history rolls over: 4 pairs kept of more). In float64: over six
    steps the line search amplifies float32 rounding (PyTorch's own float32 run is 3.5e-4
    from its float64 run after five), and the sums round differently on each CPU."""
    pair = Pair(10, double=True)
    kw = dict(lr=0.5, max_iter=4, history_size=4, line_search_fn=line_search_fn)
    topt = torch.optim.LBFGS(pair.t.parameters(), **kw)
    gopt = G.optim.LBFGS(pair.g.parameters(), **kw)
    _lbfgs_steps(pair, topt, gopt, 2, "before")
    _assert_lbfgs_state_close(gopt.state_dict()["state"][0], topt.state_dict()["state"][0])
    fresh = G.optim.LBFGS(pair.g.parameters(), **kw)
    fresh.load_state_dict(topt.state_dict())
    _lbfgs_steps(pair, topt, fresh, 2, "loaded from torch")
    saved = fresh.state_dict()
    pair2 = Pair(10, double=True)
    pair2.t.load_state_dict(pair.t.state_dict())
    pair2.g.load_state_dict(pair.t.state_dict())
    copy = G.optim.LBFGS(pair2.g.parameters(), **kw)
    copy.load_state_dict(saved)
    topt2 = torch.optim.LBFGS(pair2.t.parameters(), **kw)
    topt2.load_state_dict(topt.state_dict())
    _lbfgs_steps(pair2, topt2, copy, 2, "loaded from graphnn")
    _assert_lbfgs_state_close(copy.state[pair2.g[0].weight], topt2.state[pair2.t[0].weight])


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_host_reads_do_not_grow_with_parameters(line_search_fn):
    """The vector math runs on the device; the host reads the loss and a few scalars per
    evaluation and iteration, stacked into one read, however many parameters there are
    (reading each gradient would cost one synchronisation per parameter)."""
    counts = []
    for hidden in (0, 4):     # 4 and 12 parameters
        G.manual_seed(0)
        layers = [G.nn.Linear(4, 8), G.nn.Tanh()]
        for _ in range(hidden):
            layers += [G.nn.Linear(8, 8), G.nn.Tanh()]
        model = G.nn.Sequential(*layers, G.nn.Linear(8, 3))
        x, y = G.tensor(_X), G.tensor(_Y)
        opt = G.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4,
                            line_search_fn=line_search_fn)

        def closure():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss

        opt.step(closure)       # compiles
        state = opt.state[opt.param_groups[0]["params"][0]]
        evals, iters = state["func_evals"], state["n_iter"]
        G.reset_stats()
        opt.step(closure)
        syncs = G.stats().syncs
        evals, iters = state["func_evals"] - evals, state["n_iter"] - iters
        # one read per evaluation, at most two more per iteration
        assert syncs <= evals + 2 * iters, (hidden, syncs, evals, iters)
        counts.append((syncs, evals, iters))
    if line_search_fn is None:
        assert counts[0] == counts[1] == (8, 4, 4)


def test_zero_grad_and_add_param_group():
    pair = Pair(7)
    opt = G.optim.SGD(pair.g[0].parameters(), lr=0.1)
    _, gc = pair.closures(opt, opt)
    gc()
    w = pair.g[0].weight
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and float(w.grad.abs().sum()) == 0.0
    opt.zero_grad()
    assert w.grad is None
    opt.add_param_group({"params": pair.g[2].weight, "momentum": 0.5})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["momentum"] == 0.5
    assert opt.param_groups[1]["params"] == [pair.g[2].weight]
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter "
                                         "group"):
        opt.add_param_group({"params": [w]})


def test_generators_are_read_once_and_named_parameters():
    pair = Pair(8)
    opt = G.optim.Adam(pair.g.parameters())     # a generator
    assert len(opt.param_groups[0]["params"]) == 4
    named = G.optim.SGD(pair.g.named_parameters(), lr=0.1)
    tnamed = torch.optim.SGD(pair.t.named_parameters(), lr=0.1)
    assert named.param_groups[0]["param_names"] == tnamed.param_groups[0]["param_names"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["0.weight", "0.bias",
                                                                    "2.weight", "2.bias"]


def test_step_hooks_and_repr():
    pair = Pair(9)
    opt, topt = G.optim.SGD(pair.g.parameters(), lr=0.1), torch.optim.SGD(pair.t.parameters(),
                                                                          lr=0.1)
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
    opt.step()
    h1.remove()
    opt.step()
    assert seen == ["pre", "post", "post"]
    assert repr(opt) == repr(topt)


def _leaf_and_nonleaf(L):
    w = L.ones(3, requires_grad=True)
    return w, w * 2


# (what, fn(L) building the optimizer); the same error type and message as PyTorch
BAD = [
    ("non_leaf", lambda L: L.optim.SGD([_leaf_and_nonleaf(L)[1]], lr=0.1)),
    ("empty", lambda L: L.optim.Adam([], lr=0.1)),
    ("empty_generator", lambda L: L.optim.Adam((p for p in []), lr=0.1)),
    ("tensor_not_iterable", lambda L: L.optim.SGD(L.ones(2, requires_grad=True), lr=0.1)),
    ("not_a_tensor", lambda L: L.optim.SGD([1.0], lr=0.1)),
    ("set_group", lambda L: L.optim.SGD([{"params": {L.ones(2, requires_grad=True)}}], lr=0.1)),
    ("negative_lr", lambda L: L.optim.Adam([L.ones(2, requires_grad=True)], lr=-1.0)),
    ("sgd_negative_lr", lambda L: L.optim.SGD([L.ones(2, requires_grad=True)], lr=-0.5)),
    ("beta0", lambda L: L.optim.Adam([L.ones(2, requires_grad=True)], betas=(1.0, 0.9))),
    ("beta1", lambda L: L.optim.AdamW([L.ones(2, requires_grad=True)], betas=(0.9, -0.1))),
    ("betas_mixed", lambda L: L.optim.Adam([L.ones(2, requires_grad=True)], betas=(0, 0.9))),
    ("nadam_beta", lambda L: L.optim.NAdam([L.ones(2, requires_grad=True)], betas=(0.9, 1.5))),
    ("eps", lambda L: L.optim.RAdam([L.ones(2, requires_grad=True)], eps=-1e-8)),
    ("weight_decay", lambda L: L.optim.Adamax([L.ones(2, requires_grad=True)],
                                              weight_decay=-0.1)),
    ("momentum", lambda L: L.optim.SGD([L.ones(2, requires_grad=True)], lr=0.1,
                                       momentum=-0.9)),
    ("nesterov", lambda L: L.optim.SGD([L.ones(2, requires_grad=True)], lr=0.1,
                                       nesterov=True)),
    ("rmsprop_alpha", lambda L: L.optim.RMSprop([L.ones(2, requires_grad=True)], alpha=-0.5)),
    ("adagrad_lr_decay", lambda L: L.optim.Adagrad([L.ones(2, requires_grad=True)],
                                                   lr_decay=-1.0)),
    ("adagrad_init", lambda L: L.optim.Adagrad([L.ones(2, requires_grad=True)],
                                               initial_accumulator_value=-1.0)),
    ("adadelta_rho", lambda L: L.optim.Adadelta([L.ones(2, requires_grad=True)], rho=1.5)),
    ("nadam_momentum_decay", lambda L: L.optim.NAdam([L.ones(2, requires_grad=True)],
                                                     momentum_decay=-1.0)),
    ("lbfgs_groups", lambda L: L.optim.LBFGS([{"params": [L.ones(2, requires_grad=True)]},
                                              {"params": [L.ones(2, requires_grad=True)]}])),
    ("fused_foreach", lambda L: L.optim.Adam([L.ones(2, requires_grad=True)], fused=True,
                                             foreach=True)),
    ("duplicate_across_groups", lambda L: (lambda w: L.optim.SGD(
        [{"params": [w]}, {"params": [w]}], lr=0.1))(L.ones(2, requires_grad=True))),
    ("load_wrong_groups", lambda L: L.optim.SGD([L.ones(2, requires_grad=True)], lr=0.1)
     .load_state_dict({"state": {}, "param_groups": []})),
    ("load_wrong_sizes", lambda L: L.optim.SGD([L.ones(2, requires_grad=True)], lr=0.1)
     .load_state_dict({"state": {}, "param_groups": [{"params": [0, 1], "lr": 0.1}]})),
]


def _error(L, fn):
    try:
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
    # typenames differ only in the package name (graphnn.FloatTensor); graphnn's message
    # starts with the optimizer's name and ends with PyTorch's text
    assert gmsg.endswith(re.sub(r"\btorch\.", "graphnn.", tmsg)), what


def test_duplicate_parameters_warn():
    for L in (torch, G):
        w = L.ones(2, requires_grad=True)
        with pytest.warns(UserWarning, match="duplicate parameters"):
            L.optim.SGD([w, w], lr=0.1)


def test_chunk_size_respects_kernel_arguments():
    assert _graph.chunk_size(6, 2) == _graph.MAX_CHUNK
    assert _graph.chunk_size(3, 10) == 5        # 23 buffers a parameter
    assert _graph.chunk_size(0, 100) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _graph.chunk_size(0, 0) >= 1
