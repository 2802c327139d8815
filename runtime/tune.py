"""Autotuning: the fastest of a kernel family's candidate configurations, measured on the
device once per shape class and remembered on disk.

Codegen asks (``codegen/tuning.py``): a ``Question`` names a shape class, lists candidate
configurations (the family's rule's pick first) and carries a probe graph of the same
shape. The first time a device meets a class, ``Tuner`` compiles the probe once per
candidate, runs each a few times on random inputs and keeps the one with the least device
time (OpenCL profiling events, summed over the probe's launches; the best of up to
``ROUNDS`` runs, the candidates taken in turn each round, fewer once a candidate has used
``BUDGET`` seconds). The record goes to ``tune-<device>.json`` in the build cache's
directory (``GRAPHNN_CACHE``), keyed by the device identity (driver and PoCL versions
included, as the build cache is) and ``VERSION``, so later processes reuse it without
measuring. ``GRAPHNN_TUNE=0`` turns
tuning off: every family uses its rule's pick. A process tunes for at most
``GRAPHNN_TUNE_BUDGET`` seconds (``PROCESS_BUDGET``); later questions take the rule's pick
without a record, and a later process measures them.

Tuning happens inside a compile; its time is counted in ``graphnn.stats().tune_seconds``
(not in the compile phases it interrupts), and the probes' launches and builds are not
counted as the program's own."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyopencl as cl

from graphnn.runtime.cache import cache_dir, cache_max, write_atomic
from graphnn.runtime.debug import LOG

VERSION = 1         # bump when a family's kernels change enough to void old measurements
ROUNDS = 9          # timed runs per candidate, at most
BUDGET = 0.2        # seconds of device time per candidate after which fewer runs suffice
MARGIN = 0.10       # another candidate must beat the rule's pick by more than this share
# seconds of tuning per process (``GRAPHNN_TUNE_BUDGET``) after which questions take the
# rule's pick unrecorded, for a later process to measure: a class costs 1-3 s (builds of
# every candidate), and ResNet-18's block stack asks 25 of them in its first step (55 s)
PROCESS_BUDGET = 8.0

# counters read by graphnn.stats()
STATS = {"tunings": 0, "tune_seconds": 0.0, "deferred": 0}


def enabled() -> bool:
    """``GRAPHNN_TUNE``: unset or anything but ``0`` tunes."""
    return os.environ.get("GRAPHNN_TUNE", "1").strip() != "0"


def process_budget() -> float:
    """``GRAPHNN_TUNE_BUDGET``: seconds of tuning per process (``PROCESS_BUDGET`` unless
    set; a malformed value is refused with a ValueError naming the variable)."""
    raw = os.environ.get("GRAPHNN_TUNE_BUDGET")
    if raw is None:
        return PROCESS_BUDGET
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"GRAPHNN_TUNE_BUDGET must be a number of seconds, got {raw!r}") \
            from None
    if not value >= 0:
        raise ValueError(f"GRAPHNN_TUNE_BUDGET must be 0 or more seconds, got {raw!r}")
    return value


@dataclass(frozen=True)
class Record:
    """One shape class's measurement: device seconds per candidate (the best run each) and
    how long tuning took."""
    candidates: tuple
    seconds: tuple[float, ...]
    tuning_seconds: float

    @property
    def pick(self) -> tuple:
        """The fastest candidate, or the rule's pick (the first) when it is within
        ``MARGIN`` of the fastest: a difference that small is run-to-run noise, and the
        rule's kernel is the one every test and every other machine runs."""
        best = min(range(len(self.seconds)), key=self.seconds.__getitem__)
        if self.seconds[0] <= self.seconds[best] * (1 + MARGIN):
            return self.candidates[0]
        return self.candidates[best]

    def to_json(self) -> dict:
        return {"candidates": [list(c) for c in self.candidates],
                "seconds": list(self.seconds), "tuning_seconds": self.tuning_seconds}

    @staticmethod
    def from_json(obj: dict) -> "Record":
        return Record(tuple(tuple(c) for c in obj["candidates"]),
                      tuple(float(s) for s in obj["seconds"]), float(obj["tuning_seconds"]))


class Tuner:
    """``Dialect.tuner`` of an OpenCL runtime: ``tuner(dialect, question)`` -> config."""

    def __init__(self, rt):
        self.rt = rt
        digest = hashlib.sha256("\0".join([f"v{VERSION}", *rt.info.identity]).encode())
        self.file = f"tune-{digest.hexdigest()[:20]}.json"
        self._records: dict[str, dict[str, Record]] = {}    # per directory: key -> record

    @property
    def path(self) -> Path:
        return cache_dir() / self.file

    def records(self) -> dict[str, Record]:
        """The records of this device in the current cache directory (read once)."""
        path = self.path
        key = str(path)
        if key not in self._records:
            self._records[key] = _read(path)
        return self._records[key]

    def __call__(self, d, q) -> tuple:
        if not enabled():
            return q.candidates[0]
        known = self.records().get(q.key)
        if known is not None and known.candidates == q.candidates:
            return known.pick
        if STATS["tune_seconds"] >= process_budget():
            # this process has tuned enough: the rule's pick, unrecorded (a later process
            # measures the class), so that a large model's first step stays seconds long
            STATS["deferred"] += 1
            return q.candidates[0]
        record = self.measure(d, q)
        self.records()[q.key] = record
        _write(self.path, q.key, record)
        return record.pick

    def measure(self, d, q) -> Record:
        """Times every candidate of ``q`` on the probe graph; the runtime's counters (and
        any profiler) are left as they were."""
        rt = self.rt
        saved = (rt.launches, rt.syncs, rt.builds, rt.source_builds, rt.build_seconds,
                 rt.profiler)
        rt.profiler = None
        start = time.perf_counter()
        try:
            seconds = self._time_all(d, q)
        finally:
            (rt.launches, rt.syncs, rt.builds, rt.source_builds, rt.build_seconds,
             rt.profiler) = saved
        spent = time.perf_counter() - start
        STATS["tunings"] += 1
        STATS["tune_seconds"] += spent
        record = Record(q.candidates, tuple(seconds), spent)
        LOG.info("tuned %s in %.2f s: %s of %s (device ms %s)", q.key, spent, record.pick,
                 list(q.candidates), ", ".join(f"{s * 1e3:.3f}" for s in seconds))
        return record

    def _time_all(self, d, q) -> list[float]:
        from graphnn.codegen import lower
        from graphnn.ir.passes import run_pipeline

        rt = self.rt
        graph = q.probe()
        run_pipeline(graph, label="tune", options=d.pass_options())
        rng = np.random.default_rng(0)
        inputs = [rt.upload(rng.standard_normal(graph.type(n).shape).astype(
            graph.type(n).dtype.np), private=True, dtype=graph.type(n).dtype)
            for n in graph.inputs]
        exes: list = []         # per candidate: its executable, None where it failed
        for cand in q.candidates:
            asked = []

            def forced(_d, other, cand=cand, asked=asked):
                if other.key != q.key:
                    return other.candidates[0]
                asked.append(other.key)
                return cand

            program = lower(graph, dataclasses.replace(d, tuner=forced))
            if not asked:       # the probe took another path: nothing to choose between
                return [0.0] + [math.inf] * (len(q.candidates) - 1)
            try:
                exe = rt.executable(program, "tune")
                exe.run(inputs)         # the untimed first run
                rt.queue.finish()
            except (RuntimeError, cl.Error) as e:
                if not exes:        # the rule's own pick must work
                    raise
                # a device may refuse a candidate (registers, local memory): not a choice
                LOG.info("tuning %s: candidate %s failed on %s: %s", q.key, cand,
                         rt.info.short, e)
                exe = None
            exes.append(exe)
        return _best_times(rt, exes, inputs)


def _best_times(rt, exes: list, inputs) -> list[float]:
    """Per executable, the least device seconds of up to ``ROUNDS`` runs (inf for None).
    The rounds take the candidates in turn, so that a drift in the machine's speed (a
    neighbour's load, a frequency change) reaches all of them alike: timed one candidate
    after the other, the first candidate of a class measured 1.99 ms against 0.99 for
    another that ran alike. Fewer rounds once one candidate has used ``BUDGET``
    seconds."""
    best = [math.inf] * len(exes)
    spent = [0.0] * len(exes)
    for i in range(ROUNDS):
        for c, exe in enumerate(exes):
            if exe is None:
                continue
            events: list = []
            exe.run(inputs, observe=lambda _i, ev: events.append(ev))
            rt.queue.finish()
            took = sum(ev.profile.end - ev.profile.start for ev in events) * 1e-9
            best[c], spent[c] = min(best[c], took), spent[c] + took
        if i and max(spent) > BUDGET:
            break
    return best


def _read(path: Path) -> dict[str, Record]:
    """The records in ``path``; a missing, truncated or malformed file reads as none (it
    is rewritten whole at the next store)."""
    try:
        raw = json.loads(path.read_text())
        return {key: Record.from_json(obj) for key, obj in raw["records"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write(path: Path, key: str, record: Record) -> None:
    """Adds ``record`` to the file: re-read (another process may have added records), then
    written to a private temporary file renamed over it (readers see a whole file). Not
    written when ``GRAPHNN_CACHE_MAX=0`` keeps nothing on disk; a failure to write (a
    read-only home) only costs a measurement next time."""
    if cache_max() == 0:
        return
    records = _read(path)
    records[key] = record
    body = {"version": VERSION, "records": {k: r.to_json() for k, r in records.items()}}
    write_atomic(path, json.dumps(body, sort_keys=True).encode())
