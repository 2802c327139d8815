"""``--format html``: one self-contained file (no network) with the graph, each kernel's ops
and OpenCL source, the Python lines of its nodes, and the profile, memory timeline, check
and fusion report when measured. ``viewer.js`` and ``viewer.css`` beside this module are
inlined; the data is one JSON object in a ``<script type="application/json">`` element."""
from __future__ import annotations

import html
import json
from pathlib import Path

from graphnn.dump.dot import module_of
from graphnn.dump.info import group_kernel, kernel_infos, source_line, why_not_fused
from graphnn.dump.jsondoc import jsonable

_HERE = Path(__file__).parent


def viewer_data(report) -> dict:
    """What the viewer reads: per graph its nodes and kernels (node ids as in the text
    format), and the measurements."""
    profiled = {}
    if report.profile is not None:
        profiled = {(p.graph, p.index): p for p in report.profile.launches}
    graphs = []
    for d in report.graphs:
        g = d.graph
        names = group_kernel(d)
        nodes = []
        for n in g.topo():
            grp = g.meta(n).get("group")
            attrs = ", ".join(f"{k}={json.dumps(jsonable(v))}" for k, v in
                              sorted(g.attrs(n).items()))
            nodes.append({"id": n, "node": n, "op": g.op(n), "type": str(g.type(n)),
                          "scope": g.name(n), "module": module_of(g, n, depth=64),
                          "args": g.args(n), "kernel": names.get(grp) if grp is not None
                          else None, "group": grp, "line": g.meta(n).get("line", ""),
                          "src": source_line(g, n), "attrs": attrs})
        kernels = []
        for k in kernel_infos(d):
            row = {"name": k.name, "index": k.index, "group": k.group, "ops": k.ops,
                   "nodes": k.nodes, "scope": k.scope, "flops": k.flops, "bytes": k.bytes,
                   "source": k.source}
            p = profiled.get((d.label, k.index))
            if p is not None:
                row.update(time_us=p.time_us, share=p.share, gbps=p.gbps, gflops=p.gflops)
            kernels.append(row)
        graphs.append({"label": d.label, "nodes": nodes, "kernels": kernels,
                       "outputs": list(g.outputs)})
    data = {"model": report.traced.name, "device": report.traced.device, "graphs": graphs,
            "profile": None, "memory": None, "check": None, "why": None}
    if report.profile is not None:
        p = report.profile
        data["profile"] = {"runs": p.runs, "launches_per_call": p.launches_per_call,
                           "total_us": p.total_us, "compile_seconds": p.compile_seconds}
    if report.memory is not None:
        m = report.memory
        data["memory"] = {"points": [{"graph": x.graph, "index": x.index, "kernel": x.kernel,
                                      "live_bytes": x.live_bytes} for x in m.points],
                          "baseline": m.baseline, "peak": m.peak}
    if report.check is not None:
        data["check"] = {"atol": report.check.atol, "rtol": report.check.rtol, "nodes": [
            {"graph": x.graph, "node": x.node, "op": x.op, "kernel": x.kernel,
             "stored": x.stored, "max_abs": jsonable(x.max_abs),
             "max_rel": jsonable(x.max_rel), "ok": x.ok} for x in report.check.nodes]}
    if report.why:
        data["why"] = [{"graph": r.graph, "producer": r.producer, "consumer": r.consumer,
                        "producer_kernel": r.producer_kernel,
                        "consumer_kernel": r.consumer_kernel, "reason": r.reason,
                        "detail": r.detail} for r in why_not_fused(report.graphs)]
    return data


def as_html(report) -> str:
    data = json.dumps(viewer_data(report), separators=(",", ":"))
    # inside <script> only "</" could end the element early
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    title = html.escape(f"graphnn dump: {report.traced.name}")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
{(_HERE / "viewer.css").read_text()}
</style>
</head>
<body>
<header>
<h1 id="title"></h1>
<span id="graphs"></span>
<input id="search" type="search" placeholder="search name, op, shape, module">
<button id="collapse" title="collapse every top-level module">collapse modules</button>
<button id="expand">expand all</button>
<span id="status"></span>
</header>
<main>
<div id="graph"></div>
<div id="side"></div>
</main>
<script type="application/json" id="gnn-data">{data}</script>
<script>
{(_HERE / "viewer.js").read_text()}
</script>
</body>
</html>
"""
