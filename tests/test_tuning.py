"""Autotuning (``codegen/tuning.py``, ``runtime/tune.py``): every candidate configuration a
tuner may pick computes PyTorch's numbers on both sides of its blocks; a tuned shape class
is measured once per device, remembered on disk, re-measured when its record is damaged,
and skipped under ``GRAPHNN_TUNE=0`` and for small products."""
from __future__ import annotations

import json

import numpy as np
import pytest

import graphnn as G
from graphnn.codegen import tuning
from graphnn.codegen.blocking import CANDIDATES, MAX_VECTORS, kvec_blockings, nvec_blockings
from graphnn.codegen.tiled import LARGE, SMALL
from graphnn.runtime import get_runtime
from graphnn.runtime import tune as runtime_tune
from tests.conftest import assert_close
from tests.kernel_check import Case, around, check_all, dialect, matmul, own_dialect, \
    programs

pytestmark = pytest.mark.skipif(getattr(get_runtime(), "dialect", None) is None,
                                reason="tuning needs an OpenCL device (the reference "
                                       "runtime has no kernels)")


def forcing(index: int, asked: list):
    """A tuner that answers every question with its ``index``-th candidate (the last one
    where there are fewer) and records (key, pick)."""
    def tuner(d, q):
        pick = q.candidates[min(index, len(q.candidates) - 1)]
        asked.append((q.key, pick))
        return pick
    return tuner


def rand(*shape, seed=0):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)


def product_cases(rows: int, cols: int, kdepth: int) -> list[Case]:
    """Products with M around ``rows``, N around ``cols`` and K around ``kdepth`` in every
    layout, and a batched one: their forward and both gradients (the other layouts)."""
    out = []
    ms, ns, ks = around(rows), around(cols), around(kdepth)
    for i, (ta, tb) in enumerate([(False, False), (True, False), (False, True), (True, True)]):
        m, n, k = ms[i % 3], ns[(i + 1) % 3], ks[(i + 2) % 3]
        a = rand(k, m) if ta else rand(m, k)
        b = rand(n, k, seed=1) if tb else rand(k, n, seed=1)
        out.append(Case(lambda lib, x, y, ta=ta, tb=tb: matmul(lib, x, y, ta, tb), [a, b],
                        f"m{m} n{n} k{k} ta{ta:d} tb{tb:d}"))
    out.append(Case(lambda lib, x, y: x @ y, [rand(3, ms[2], ks[0]), rand(3, ks[0], ns[2])],
                    "batched"))
    return out


@pytest.mark.parametrize("l2", [1 << 40, 1], ids=["direct", "packed"])
@pytest.mark.parametrize("index", range(CANDIDATES))
def test_every_cpu_candidate(index, l2, monkeypatch):
    """Each of the CPU GEMM's candidate register blocks (broadcast kernel, B direct or in
    panels, and the dot-product kernel), forced for every product, around its own rows,
    columns and a vector of K."""
    monkeypatch.setattr(tuning, "MIN_FLOPS", 0)
    asked: list = []
    with dialect("cpu", tuner=forcing(index, asked), l2_bytes=l2) as d:
        nblk = nvec_blockings(d, 1 << 12, 64)[index]
        # N around a whole number of the block's panels at least MAX_VECTORS vectors wide,
        # where every N has the same candidates (narrower N have fewer vectors to use)
        panels = -(-(MAX_VECTORS * nblk.width + 1) // nblk.cols)
        width, krows, kcols = kvec_blockings(d, 1 << 12, 64, 64)[
            min(index, len(kvec_blockings(d, 1 << 12, 64, 64)) - 1)]
        cases = product_cases(nblk.rows, panels * nblk.cols, width)
        cases += [Case(lambda lib, x, y: matmul(lib, x, y, False, True),
                       [rand(m, width + 1), rand(n, width + 1, seed=2)], f"kvec m{m} n{n}")
                  for m, n in zip(around(krows), around(kcols))]
        check_all(cases)
    kinds = {key.split("/")[0] for key, _ in asked}
    assert "gemm-nvec-packed" if l2 == 1 else "gemm-nvec-direct" in kinds, kinds
    if l2 != 1:
        assert "gemm-kvec" in kinds, kinds
    assert any(pick == (nblk.width, nblk.vectors, nblk.rows) for _, pick in asked), asked


@pytest.mark.parametrize("tile", [SMALL, LARGE], ids=["small", "large"])
def test_every_gpu_tile(tile, monkeypatch):
    """Both tiles of the GPU dialect's GEMM, whichever the rule would pick, around the
    tile's rows, columns and k slice."""
    monkeypatch.setattr(tuning, "MIN_FLOPS", 0)
    want = (tile.bm, tile.bn, tile.bk, tile.tm, tile.tn)
    asked: list = []

    def tuner(d, q):
        asked.append(q.key)
        return want if want in q.candidates else q.candidates[0]

    with dialect("gpu", tuner=tuner) as d:
        if tile.local_bytes > d.local_mem or d.max_work_group < 256:
            pytest.skip(f"device {d.device} cannot hold a {tile.bm} x {tile.bn} tile")
        check_all(product_cases(tile.bm, tile.bn, tile.bk)[::2])
    assert any(key.startswith("gemm-tiled/") for key in asked), asked


def test_decide_keeps_the_rule_for_small_products_and_foreign_picks():
    q = tuning.Question("k", ((1,), (2,)), lambda: None, flops=tuning.MIN_FLOPS)
    with dialect("cpu", tuner=lambda d, q: (2,)) as d:
        assert tuning.decide(d, q) == (2,)
        small = tuning.Question("k", q.candidates, q.probe, flops=tuning.MIN_FLOPS - 1)
        assert tuning.decide(d, small) == (1,)
    with dialect("cpu", tuner=lambda d, q: (3,)) as d:
        assert tuning.decide(d, q) == (1,)      # not a candidate: the rule's pick
    assert tuning.size_class(1000) == "2^10" and tuning.size_class(5) == "5"


@pytest.fixture
def tuned(tmp_path, monkeypatch):
    """Tuning on, into an empty cache directory, with a fresh memory of records, whatever
    this process has tuned before (no budget)."""
    monkeypatch.setenv("GRAPHNN_TUNE", "1")
    monkeypatch.setenv("GRAPHNN_TUNE_BUDGET", "1e9")
    monkeypatch.setenv("GRAPHNN_CACHE", str(tmp_path))
    tuner = get_runtime().dialect.tuner
    monkeypatch.setattr(tuner, "_records", {})
    return tuner


def big_product(extra: int = 0):
    """A product just large enough to be tuned (``tuning.MIN_FLOPS``); ``extra`` makes it
    larger by that much in each dimension: a graph of the same shape class that no test
    compiled before (a compiled eager op is reused without asking the tuner again)."""
    n = round((tuning.MIN_FLOPS / 2) ** (1 / 3)) + extra
    a, b = rand(n, n), rand(n, n, seed=1)
    return a, b, G.tensor(a) @ G.tensor(b)


def test_tuning_measures_once_and_remembers(tuned):
    """The first product of a class is timed (every candidate, on the device), its record
    written to disk; a new process (records forgotten) reads it back without timing."""
    before = G.stats()
    a, b, c = big_product()
    assert_close(c, a @ b, rtol=1e-4, atol=1e-3)
    after = G.stats()
    assert after.tunings - before.tunings == 1
    assert after.tune_seconds > before.tune_seconds
    assert after.launches - before.launches <= 3     # the probes' launches not counted
    body = json.loads(tuned.path.read_text())
    (key, rec), = body["records"].items()
    assert len(rec["candidates"]) >= 2 and all(np.isfinite(rec["seconds"]))
    assert all(s > 0 for s in rec["seconds"])
    pick = runtime_tune.Record.from_json(rec).pick
    tuned._records.clear()                          # as a new process would start
    asked: list = []
    own = get_runtime().dialect.tuner

    def spy(d, q):
        pick = own(d, q)
        asked.append((q.key, pick))
        return pick

    with own_dialect(tuner=spy):
        with programs() as progs:
            a, b, c2 = big_product(1)
            assert_close(c2, a @ b, rtol=1e-4, atol=1e-3)
    assert G.stats().tunings == after.tunings
    assert (key, pick) in asked and progs


def test_a_damaged_record_is_measured_again(tuned):
    tuned.path.parent.mkdir(parents=True, exist_ok=True)
    tuned.path.write_text('{"records": {"gemm-')           # a truncated file
    before = G.stats().tunings
    a, b, c = big_product(2)
    assert_close(c, a @ b, rtol=1e-4, atol=1e-3)
    assert G.stats().tunings == before + 1
    assert json.loads(tuned.path.read_text())["records"]     # rewritten whole


def test_tuning_off(tuned, monkeypatch):
    monkeypatch.setenv("GRAPHNN_TUNE", "0")
    before = G.stats().tunings
    a, b, c = big_product(3)
    assert_close(c, a @ b, rtol=1e-4, atol=1e-3)
    assert G.stats().tunings == before and not tuned.path.exists()


def test_the_fastest_candidate_wins():
    rec = runtime_tune.Record(((1,), (2,), (3,)), (3e-3, float("inf"), 1e-3), 0.5)
    assert rec.pick == (3,)
    assert runtime_tune.Record.from_json(json.loads(json.dumps(rec.to_json()))) == rec
    close = 1e-3 * (1 + runtime_tune.MARGIN / 2)        # within the noise: the rule stays
    assert runtime_tune.Record(((1,), (2,)), (close, 1e-3), 0.5).pick == (1,)


def test_candidates_are_timed_in_turn():
    """The timed runs take the candidates in turn, round after round (a drift in the
    machine's speed reaches all of them alike); each keeps its least time, a failed
    candidate (None) measures inf, and rounds stop early once one has used ``BUDGET``."""
    order: list[int] = []

    class Event:
        def __init__(self, took: float):
            self.profile = type("P", (), {"start": 0, "end": int(took * 1e9)})()

    class Fake:
        def __init__(self, c: int, times: list[float]):
            self.c, self.times = c, iter(times)

        def run(self, inputs, observe=None):
            order.append(self.c)
            observe(0, Event(next(self.times)))

    class Queue:
        def finish(self):
            pass

    rt = type("RT", (), {"queue": Queue()})()
    rounds = runtime_tune.ROUNDS
    exes = [Fake(0, [3e-3, 2e-3] + [4e-3] * rounds), None, Fake(2, [1e-3] * rounds)]
    assert runtime_tune._best_times(rt, exes, []) == pytest.approx([2e-3, float("inf"), 1e-3])
    assert order == [0, 2] * rounds
    order.clear()
    slow = runtime_tune.BUDGET * 0.6       # past the budget after two rounds
    exes = [Fake(0, [slow] * rounds), Fake(1, [1e-3] * rounds)]
    assert runtime_tune._best_times(rt, exes, []) == pytest.approx([slow, 1e-3])
    assert order == [0, 1, 0, 1]


def test_the_probe_keeps_a_symbolic_batch_symbolic():
    """A traced model's batch is symbolic, and its kernel text differs from a static size's:
    the probe must time the kernel that runs (``tuning.matmul_probe``)."""
    from graphnn.ir.symbolic import SymInt, is_symbolic
    from graphnn.ir.types import float32

    m = SymInt(64, ("dim", 1))
    g = tuning.matmul_probe(m, 32, 16, 0, False, True, float32)()
    a, b = g.inputs
    assert is_symbolic(g.type(a).shape[0]) and g.type(b).shape == (32, 16)
    assert tuning.size_class(m) == "*"


def test_a_spent_budget_defers_to_the_rule(tuned, monkeypatch):
    """Past ``GRAPHNN_TUNE_BUDGET`` seconds of tuning in this process a new class takes the
    rule's pick, unrecorded (a later process measures it); a malformed budget is refused."""
    monkeypatch.setenv("GRAPHNN_TUNE_BUDGET", "0")
    before = G.stats()
    a, b, c = big_product(4)
    assert_close(c, a @ b, rtol=1e-4, atol=1e-3)
    after = G.stats()
    assert after.tunings == before.tunings and not tuned.path.exists()
    assert after.tunings_deferred == before.tunings_deferred + 1
    monkeypatch.setenv("GRAPHNN_TUNE_BUDGET", "soon")
    with pytest.raises(ValueError, match="GRAPHNN_TUNE_BUDGET"):
        runtime_tune.process_budget()
    monkeypatch.delenv("GRAPHNN_TUNE_BUDGET")
    assert runtime_tune.process_budget() == runtime_tune.PROCESS_BUDGET
