"""``--format explorer``: the JSON graph format of Google's Model Explorer
(``pip install ai-edge-model-explorer``), the ``{"graphs": [...]}`` object its adapters
return, one graph per compiled graph. Each node's ``namespace`` is its module path with
``/`` separators, so the viewer opens a large model collapsed by module; attributes carry
the op's arguments, the kernel and the Python line; ``outputsMetadata`` carries
``tensor_shape`` (shown on edges).

With ``--profile`` the kernel times are also written as Model Explorer *node data* (its
per-node overlay, ``ModelNodeData``: per graph id, ``results`` by node id with a
``value``, here the microseconds of the kernel computing the node, and a color
``gradient``), to load beside the graph."""
from __future__ import annotations

import json

from graphnn.dump.dot import module_of
from graphnn.dump.info import group_kernel, source_line
from graphnn.dump.jsondoc import jsonable


def _kv(key: str, value) -> dict:
    return {"key": key, "value": value if isinstance(value, str) else json.dumps(value)}


def namespace(graph, n: int) -> str:
    """Module path as a Model Explorer namespace: ``layer1.0.conv1`` -> ``layer1/0/conv1``
    (parameters and buffers sit in their module's namespace, the model's inputs at the
    top)."""
    return module_of(graph, n, depth=1 << 16).replace(".", "/")


def graphs(report) -> dict:
    """The Model Explorer graphs object of a report."""
    out = []
    for d in report.graphs:
        g = d.graph
        names = group_kernel(d)
        nodes = []
        for n in g.topo():
            t = g.type(n)
            grp = g.meta(n).get("group")
            attrs = [_kv(k, jsonable(v)) for k, v in sorted(g.attrs(n).items())]
            attrs.append(_kv("node", f"%{n}"))
            if grp is not None:
                attrs.append(_kv("kernel", names.get(grp, f"k{grp}")))
            line = g.meta(n).get("line")
            if line:
                attrs.append(_kv("source", f"{line}  {source_line(g, n)}".rstrip()))
            nodes.append({
                "id": str(n), "label": g.op(n), "namespace": namespace(g, n),
                "subgraphIds": [], "attrs": attrs,
                "incomingEdges": [{"sourceNodeId": str(a), "sourceNodeOutputId": "0",
                                   "targetNodeInputId": str(k)}
                                  for k, a in enumerate(g.args(n))],
                "outputsMetadata": [{"id": "0", "attrs": [
                    _kv("tensor_shape", f"{t.dtype.name}[{','.join(str(s) for s in t.shape)}]"),
                    _kv("__tensor_tag", g.name(n) or f"%{n}")]}],
                "inputsMetadata": []})
        for i, o in enumerate(g.outputs):
            nodes.append({"id": f"output{i}", "label": "output", "namespace": "",
                          "subgraphIds": [], "attrs": [_kv("index", str(i))],
                          "incomingEdges": [{"sourceNodeId": str(o), "sourceNodeOutputId": "0",
                                             "targetNodeInputId": "0"}],
                          "outputsMetadata": [], "inputsMetadata": []})
        out.append({"id": d.label, "nodes": nodes})
    return {"graphs": out}


def as_explorer(report) -> str:
    return json.dumps(graphs(report), indent=1)


def node_data(report) -> str:
    """Model Explorer node data: per graph, each computed node's kernel time (us, median
    over the profiled calls). Raises ValueError when the report was not profiled."""
    if report.profile is None:
        raise ValueError("node data needs a profiled report (--profile)")
    times: dict[tuple[str, int], float] = {}
    for p in report.profile.launches:
        times[(p.graph, p.group)] = times.get((p.graph, p.group), 0.0) + p.time_us
    data = {}
    for d in report.graphs:
        g = d.graph
        results = {}
        for n in g.nodes():
            grp = g.meta(n).get("group")
            if grp is not None and (d.label, grp) in times:
                results[str(n)] = {"value": round(times[(d.label, grp)], 3)}
        data[d.label] = {"results": results,
                         "gradient": [{"stop": 0, "bgColor": "#ffffff"},
                                      {"stop": 1, "bgColor": "#d7301f"}]}
    return json.dumps(data, indent=1)
