"""``--format json``: one document with the nodes, kernels and passes of every graph, plus
the fusion report, profile, memory timeline and check when asked for. ``schema.json`` (JSON
Schema 2020-12, shipped beside this module) describes it; ``docs/dump.md`` explains it."""
from __future__ import annotations

import json
import math
from pathlib import Path

from graphnn.dump.info import group_kernel, kernel_infos, source_line, why_not_fused

SCHEMA_PATH = Path(__file__).with_name("schema.json")
VERSION = 1


def schema() -> dict:
    """The JSON Schema of the document ``as_json`` writes."""
    return json.loads(SCHEMA_PATH.read_text())


def jsonable(v):
    """Attribute values as JSON: tuples as lists, sizes as ints, non-finite floats as the
    strings "inf", "-inf" and "nan" (JSON has no such numbers)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else
                                           ("inf" if v > 0 else "-inf"))
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if hasattr(v, "item"):          # numpy scalars
        return jsonable(v.item())
    return str(v)


def document(report) -> dict:
    """The JSON document of a dump ``Report`` as a dict."""
    traced = report.traced
    dumped = traced.graphs
    doc = {"format": "graphnn-dump", "version": VERSION, "model": traced.name,
           "device": traced.device, "dialect": traced.dialect.name,
           "graphs": [], "nodes": [], "kernels": [], "passes": []}
    offsets, offset = {}, 0
    for d in dumped:
        offsets[d.label] = offset
        offset += max(d.graph.nodes(), default=-1) + 1
    profiled = {}
    if report.profile is not None:
        profiled = {(p.graph, p.index): p for p in report.profile.launches}
    for d in dumped:
        g, off = d.graph, offsets[d.label]
        names = group_kernel(d)
        stored = {s for grp in getattr(g, "groups", []) for s in grp.stores}
        doc["graphs"].append({"label": d.label, "traced_nodes": d.traced_nodes,
                              "inputs": [i + off for i in g.inputs],
                              "outputs": [o + off for o in g.outputs]})
        for n in g.topo():
            t = g.type(n)
            grp = g.meta(n).get("group")
            doc["nodes"].append({
                "id": n + off, "node": n, "graph": d.label, "op": g.op(n),
                "shape": [int(s) for s in t.shape], "dtype": t.dtype.name,
                "scope": g.name(n), "inputs": [a + off for a in g.args(n)],
                "attrs": jsonable(g.attrs(n)),
                "kernel": names.get(grp) if grp is not None else None,
                "stored": n in stored, "line": g.meta(n).get("line", ""),
                "source_line": source_line(g, n)})
        for k in kernel_infos(d):
            row = {"name": k.name, "graph": d.label, "index": k.index, "ops": k.ops,
                   "nodes": [m + off for m in k.nodes], "stores": [m + off for m in k.stores],
                   "scope": k.scope, "flops": k.flops, "bytes": k.bytes,
                   "global_size": list(k.global_size),
                   "local_size": list(k.local_size) if k.local_size else None}
            if report.kernels:
                row["source"] = k.source
            p = profiled.get((d.label, k.index))
            if p is not None:
                row.update(time_us=p.time_us, share=p.share, gbps=p.gbps, gflops=p.gflops)
            doc["kernels"].append(row)
        for i, (name, changed, nodes, kernels) in enumerate(d.passes):
            row = {"graph": d.label, "name": name, "changed": changed, "nodes": nodes,
                   "kernels": kernels}
            if d.snapshots and i + 1 < len(d.snapshots):
                from graphnn.dump.info import pass_diff
                shot = d.snapshots[i + 1]
                row["seconds"] = shot.seconds
                row["diff"] = pass_diff(d.snapshots[i].text, shot.text) if changed else []
            doc["passes"].append(row)
    if report.why:
        doc["why_not_fused"] = [
            {"graph": r.graph, "producer": r.producer + offsets[r.graph],
             "consumer": r.consumer + offsets[r.graph], "producer_kernel": r.producer_kernel,
             "consumer_kernel": r.consumer_kernel, "reason": r.reason, "detail": r.detail}
            for r in why_not_fused(dumped)]
    if report.profile is not None:
        p = report.profile
        doc["profile"] = {"runs": p.runs, "launches_per_call": p.launches_per_call,
                          "total_us": p.total_us, "compile_seconds": p.compile_seconds}
    if report.memory is not None:
        m = report.memory
        doc["memory"] = {"points": [{"graph": x.graph, "index": x.index, "kernel": x.kernel,
                                     "live_bytes": x.live_bytes} for x in m.points],
                         "baseline": m.baseline, "peak": m.peak}
    if report.check is not None:
        c = report.check
        bad = c.first_bad
        doc["check"] = {
            "atol": c.atol, "rtol": c.rtol,
            "first_bad": bad.node + offsets[bad.graph] if bad else None,
            "nodes": [{"id": x.node + offsets[x.graph], "graph": x.graph, "op": x.op,
                       "kernel": x.kernel, "stored": x.stored,
                       "max_abs": jsonable(x.max_abs), "max_rel": jsonable(x.max_rel),
                       "ok": x.ok} for x in c.nodes]}
    return doc


def as_json(report) -> str:
    return json.dumps(document(report), indent=1)
