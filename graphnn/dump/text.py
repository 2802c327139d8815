"""The terminal formats: ``text`` (the typed IR, one line per node), ``table`` (fx-style
columns) and the sections that follow either (passes, fusion report, profile, memory,
numeric check)."""
from __future__ import annotations

from graphnn.dump.info import group_kernel, pass_diff, why_not_fused
from graphnn.dump.model import Dumped
from graphnn.ir.graph import PLACEHOLDERS


def as_text(dumped: list[Dumped], kernels: bool = False) -> str:
    """Per graph: the passes run, the graph (``%7: f32[4,5] = add(%5, %6)  # fc1 k2``) and
    its kernels with their flops and bytes; ``kernels`` adds the OpenCL source."""
    parts = []
    for d in dumped:
        if d.passes:
            steps = ", ".join(f"{name} {'changed' if changed else 'no change'} ({nodes} nodes"
                              + (f", {n_k} kernels)" if n_k else ")")
                              for name, changed, nodes, n_k in d.passes)
            parts.append(f"# {d.label} passes: traced {d.traced_nodes} nodes; {steps}")
        parts.append(f"# {d.label} graph")
        parts.append(str(d.graph))
        if d.program is not None:
            n = len(d.program.launches)
            parts.append(f"# {d.label} kernels ({n} launch{'es' if n != 1 else ''}, "
                         "one OpenCL program)")
            for launch in d.program.launches:
                parts.append(f"{launch.kernel}: {', '.join(launch.ops)}"
                             + (f"  # {launch.scope}" if launch.scope else "")
                             + f"  [{launch.flops} flops, {launch.bytes} bytes]")
            if kernels:
                parts.append(f"# {d.label} OpenCL source")
                parts.append(d.program.source)
        parts.append("")
    return "\n".join(parts)


def as_table(dumped: list[Dumped], kernels: bool = False) -> str:
    """One row per node: node, op, inputs, shape, dtype, module, kernel (torch.fx's
    ``print_tabular`` columns plus the kernel that computes the node)."""
    parts = []
    for d in dumped:
        g = d.graph
        names = group_kernel(d)
        rows = [("node", "op", "inputs", "shape", "dtype", "module", "kernel")]
        for n in g.topo():
            t = g.type(n)
            op = g.op(n)
            if op == "const":
                op = f"const {g.attrs(n)['value']!r}"
            grp = g.meta(n).get("group")
            rows.append((f"%{n}", op, ", ".join(f"%{a}" for a in g.args(n)),
                         "[" + ",".join(str(s) for s in t.shape) + "]", t.dtype.name,
                         g.name(n), names.get(grp, "") if grp is not None else
                         ("input" if g.op(n) in PLACEHOLDERS else "")))
        widths = [min(max(len(r[i]) for r in rows), 48) for i in range(len(rows[0]))]
        parts.append(f"# {d.label} graph: {len(g)} nodes, outputs "
                     + ", ".join(f"%{o}" for o in g.outputs))
        for j, r in enumerate(rows):
            parts.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if j == 0:
                parts.append("  ".join("-" * w for w in widths))
        if kernels and d.program is not None:
            parts.append(f"# {d.label} OpenCL source")
            parts.append(d.program.source)
        parts.append("")
    return "\n".join(parts)


def passes_section(dumped: list[Dumped]) -> str:
    """What each pass changed (``--all-passes``): a compact diff per pass."""
    lines = []
    for d in dumped:
        shots = d.snapshots
        for i in range(1, len(shots)):
            before, now = shots[i - 1], shots[i]
            diff = pass_diff(before.text, now.text) if now.changed else []
            lines.append(f"# {d.label} pass {i} {now.name}: "
                         f"{'changed' if now.changed else 'no change'}, "
                         f"{len(diff)} lines of diff, {now.seconds * 1e3:.1f} ms")
            lines += [f"  {x}" for x in diff]
    return "\n".join(lines)


def why_section(dumped: list[Dumped]) -> str:
    """``--why-not-fused``: every read of one kernel's value by another kernel and the
    reason the fusion pass recorded."""
    from graphnn.ir.passes.fusion import REASONS

    rows = why_not_fused(dumped)
    lines = [f"# why not fused: {len(rows)} reads between kernels"]
    for r in rows:
        lines.append(f"{r.graph}: {r.producer_kernel} -> {r.consumer_kernel}: "
                     f"%{r.producer} read by %{r.consumer}: {r.reason}"
                     + (f" ({r.detail})" if r.detail else ""))
    used = sorted({r.reason for r in rows if r.reason in REASONS})
    if used:
        lines.append("# reasons")
        lines += [f"{k}: {REASONS[k]}" for k in used]
    return "\n".join(lines)


def profile_section(profile) -> str:
    """``--profile``: per launch, device time (OpenCL profiling events, median over the
    runs), share of the call, bytes and GB/s, flops and GFLOP/s; then the totals."""
    lines = [f"# profile: median of {profile.runs} calls after a warm-up call, "
             f"{profile.launches_per_call} launches per call, {profile.total_us:.1f} us "
             "of device time per call",
             f"{'graph':<9} {'kernel':<40} {'us':>9} {'share':>6} {'bytes':>10} {'GB/s':>7} "
             f"{'flops':>11} {'GFLOP/s':>8}"]
    for p in profile.launches:
        lines.append(f"{p.graph:<9} {p.kernel[:40]:<40} {p.time_us:9.1f} {p.share:6.1%} "
                     f"{p.bytes:10d} {p.gbps:7.2f} {p.flops:11d} {p.gflops:8.2f}")
    lines.append("# compile time: " + ", ".join(f"{k} {v:.3f} s"
                                                for k, v in profile.compile_seconds.items())
                 + f"; total {sum(profile.compile_seconds.values()):.3f} s")
    return "\n".join(lines)


def memory_section(memory) -> str:
    """``--memory``: live device bytes after each launch, as a bar timeline, and the peak."""
    lines = ["# memory: device bytes held by live buffers after each launch"]
    top = max([p.live_bytes for p in memory.points] + [1])
    for label in memory.baseline:
        lines.append(f"{label}: {memory.baseline[label]} bytes live before the first launch, "
                     f"peak {memory.peak.get(label, 0)} bytes")
        for p in memory.points:
            if p.graph == label:
                bar = "#" * max(1, round(40 * p.live_bytes / top))
                lines.append(f"  {p.index:4d} {p.kernel[:36]:<36} {p.live_bytes:12d} {bar}")
    return "\n".join(lines)


def check_section(check) -> str:
    """``--check``: per computed node, the device's error against the reference; the first
    node over the tolerance is flagged with its kernel."""
    bad = check.first_bad
    lines = [f"# check: device against the numpy reference, atol {check.atol:g}, "
             f"rtol {check.rtol:g}"]
    lines.append("FIRST MISMATCH: " + (
        f"{bad.graph} %{bad.node} ({bad.op}, module {bad.scope or '-'}) in kernel "
        f"{bad.kernel}: max abs error {bad.max_abs:.3g}, max rel error {bad.max_rel:.3g}"
        if bad else "none: every stored value is within tolerance"))
    for c in check.nodes:
        if c.stored:
            lines.append(f"{c.graph:<9} %{c.node:<5} {c.op:<20} {c.kernel[:36]:<36} "
                         f"abs {c.max_abs:<10.3g} rel {c.max_rel:<10.3g} "
                         f"{'ok' if c.ok else 'MISMATCH'}")
        else:
            lines.append(f"{c.graph:<9} %{c.node:<5} {c.op:<20} {c.kernel[:36]:<36} "
                         "fused: checked through its kernel's stored values")
    return "\n".join(lines)
