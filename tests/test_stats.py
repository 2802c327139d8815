"""``graphnn.stats()`` and ``reset_stats()``: one place for the counters."""
from __future__ import annotations

import graphnn as G


def test_stats_count_what_a_training_step_does():
    G.reset_stats()
    zero = G.stats()
    assert (zero.traces, zero.compiles, zero.launches, zero.syncs) == (0, 0, 0, 0)
    m = G.nn.Sequential(G.nn.Linear(5, 7), G.nn.ReLU(), G.nn.Linear(7, 2))
    x = G.randn(3, 5)
    loss = m(x).sum()
    loss.backward()
    s = G.stats()
    assert s.traces == 1
    assert s.compiles >= 2          # forward and backward graphs (and the eager sum)
    assert s.launches > 0 and s.syncs == 0
    assert s.peak_device_bytes > 0
    assert s.compile_seconds >= s.passes_seconds + s.codegen_seconds
    loss.item()
    assert G.stats().syncs == 1
    m.zero_grad()
    before = G.stats()
    m(x).sum().backward()           # the second step: no trace, no compile
    after = G.stats()
    assert (after.traces, after.compiles) == (before.traces, before.compiles)
    assert after.launches > before.launches
    G.reset_stats()
    assert G.stats().launches == 0
