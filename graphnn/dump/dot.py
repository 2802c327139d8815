"""``--format dot`` (Graphviz source: one cluster per fused kernel, nodes labelled with op,
shape and module path) and ``--format svg`` (rendered by Graphviz's ``dot`` program).

A graph of more than ``MAX_NODES`` nodes is drawn collapsed by module: one box per
top-level module (with its node and kernel counts) and one edge per pair of modules that
exchange values, since thousands of boxes are neither laid out quickly nor readable."""
from __future__ import annotations

from graphnn.dump.info import group_kernel, is_compute
from graphnn.dump.model import DumpError, Dumped
from graphnn.ir.graph import PLACEHOLDERS, Graph
from graphnn.ir.views import VIEW_OPS

MAX_NODES = 300

_KERNEL_COLORS = ("#dbe9f6", "#fde2c8", "#d9f0d3", "#f3d6e8", "#e8e1f5", "#fff3bf")


def _q(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _type(graph: Graph, n: int) -> str:
    t = graph.type(n)
    return str(t)


def _label(graph: Graph, n: int) -> str:
    op = graph.op(n)
    if op == "const":
        return f"%{n} const {graph.attrs(n)['value']!r}"
    head = f"%{n} {op}"
    scope = graph.name(n)
    return head + "\n" + _type(graph, n) + (f"\n{scope}" if scope else "")


def module_of(graph: Graph, n: int, depth: int = 1) -> str:
    """The module a node belongs to, cut to ``depth`` components: a parameter's or buffer's
    module is its name without the last component (``fc1.weight`` -> ``fc1``); the
    model's own inputs (``arg0``) belong to none."""
    name = graph.name(n)
    if graph.op(n) in PLACEHOLDERS:
        name = name.rsplit(".", 1)[0] if "." in name else ""
    return ".".join(name.split(".")[:depth]) if name else ""


def as_dot(report, max_nodes: int = MAX_NODES) -> str:
    """Graphviz source for every graph of the report (forward and backward side by side
    as two clusters of kernel clusters)."""
    times = {}
    if report.profile is not None:
        times = {(p.graph, p.index): p for p in report.profile.launches}
    lines = ["digraph graphnn {", '  rankdir=TB; compound=true; newrank=true;',
             '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica",'
             ' fontsize=10];', '  edge [fontname="Helvetica", fontsize=8, color="#555555"];']
    edges = []
    for d in report.graphs:
        lines.append(f"  subgraph {_q('cluster_' + d.label)} {{")
        lines.append(f"    label={_q(d.label)}; fontname=\"Helvetica-Bold\"; style=dashed;")
        # nodes inside the clusters; edges at the top level, where tools that read DOT
        # without clusters (networkx via pydot) see them
        body, more = _collapsed(d, max_nodes) if len(d.graph) > max_nodes else _full(d, times)
        lines += body
        edges += more
        lines.append("  }")
    lines += edges
    lines.append("}")
    return "\n".join(lines) + "\n"


def _full(d: Dumped, times: dict) -> tuple[list[str], list[str]]:
    g, label = d.graph, d.label
    names = group_kernel(d)
    by_group: dict[int, list[int]] = {}
    free = []
    for n in g.topo():
        grp = g.meta(n).get("group")
        (by_group.setdefault(grp, []) if grp is not None else free).append(n)
    out = []

    def node(n: int, indent: str) -> str:
        op = g.op(n)
        attrs = [f"label={_q(_label(g, n))}", f"tooltip={_q(g.meta(n).get('line', ''))}"]
        if op in PLACEHOLDERS:
            attrs.append('shape=ellipse, fillcolor="#eeeeee"')
        elif op == "const":
            attrs.append('shape=plaintext, style=""')
        elif op in VIEW_OPS:
            attrs.append('style="rounded,dashed"')
        return f"{indent}{_q(f'{label}_{n}')} [{', '.join(attrs)}];"

    for n in free:
        out.append(node(n, "    "))
    launch_index = {}
    if d.program is not None:
        for i, launch in enumerate(d.program.launches):
            launch_index.setdefault(launch.group, i)
    for grp, members in sorted(by_group.items()):
        name = names.get(grp, f"k{grp}")
        p = times.get((label, launch_index.get(grp)))
        title = name + (f"\n{p.time_us:.1f} us ({p.share:.0%})" if p is not None else "")
        color = _KERNEL_COLORS[grp % len(_KERNEL_COLORS)]
        out.append(f"    subgraph {_q(f'cluster_{label}_k{grp}')} {{")
        out.append(f"      label={_q(title)}; style=\"rounded,filled\"; "
                   f"fillcolor={_q(color)}; color=\"#888888\";")
        out += [node(n, "      ") for n in members]
        out.append("    }")
    edges = []
    for n in g.topo():
        for a in g.args(n):
            # a value read from memory by another kernel: drawn heavier
            crosses = is_compute(g, a) and g.meta(a).get("group") != g.meta(n).get("group")
            style = ', penwidth=2, color="#1f5fa8"' if crosses else ""
            edges.append(f"  {_q(f'{label}_{a}')} -> {_q(f'{label}_{n}')} "
                         f"[tooltip={_q(_type(g, a))}{style}];")
    for i, o in enumerate(g.outputs):
        out.append(f"    {_q(f'{label}_out{i}')} [label={_q(f'output {i}')}, shape=ellipse, "
                   'fillcolor="#eeeeee"];')
        edges.append(f"  {_q(f'{label}_{o}')} -> {_q(f'{label}_out{i}')};")
    return out, edges


def _collapsed(d: Dumped, max_nodes: int) -> tuple[list[str], list[str]]:
    g, label = d.graph, d.label
    members: dict[str, list[int]] = {}
    for n in g.topo():
        if g.op(n) == "const":
            continue
        key = module_of(g, n) or ("inputs" if g.op(n) in PLACEHOLDERS else "(top level)")
        members.setdefault(key, []).append(n)
    box = {n: key for key, ns in members.items() for n in ns}
    out = [f"    label={_q(f'{label}: {len(g)} nodes > {max_nodes}, collapsed by module')};"]
    for key, ns in members.items():
        kernels = {g.meta(n).get("group") for n in ns} - {None}
        text = f"{key}\n{len(ns)} nodes, {len(kernels)} kernels"
        out.append(f"    {_q(f'{label}_m_{key}')} [label={_q(text)}];")
    edges = set()
    for n in g.topo():
        for a in g.args(n):
            if a in box and n in box and box[a] != box[n]:
                edges.add((box[a], box[n]))
    return out, [f"  {_q(f'{label}_m_{a}')} -> {_q(f'{label}_m_{b}')};"
                 for a, b in sorted(edges)]


def as_svg(dot_source: str) -> str:
    """Renders DOT source to SVG with Graphviz. Raises DumpError naming what to install when
    the ``graphviz`` Python package or the ``dot`` program is missing."""
    hint = ("--format svg renders with Graphviz: install the dot program (Debian/Ubuntu: "
            "apt-get install graphviz; elsewhere https://graphviz.org/download/) and the "
            "Python package (pip install graphviz, or pip install 'graphnn[dump]'); "
            "--format dot writes the source without either")
    try:
        import graphviz
    except ImportError:
        raise DumpError(hint + " [missing: the graphviz Python package]") from None
    try:
        return graphviz.Source(dot_source).pipe(format="svg").decode()
    except graphviz.ExecutableNotFound:
        raise DumpError(hint + " [missing: the dot program]") from None
