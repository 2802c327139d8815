"""What every dump format shows of a graph: its nodes, its kernels with their source, the
kernel pairs that did not fuse and why (from the fusion pass's own record), and the
difference each pass made."""
from __future__ import annotations

import linecache
import re
from dataclasses import dataclass

from graphnn.dump.model import Dumped
from graphnn.ir.graph import LEAF_OPS, Graph
from graphnn.ir.views import VIEW_OPS


@dataclass
class KernelInfo:
    """One launch of a compiled graph. Deduplicated kernels share ``name`` and ``source``."""

    graph: str              # "inference", "forward" or "backward"
    index: int              # position in the launch plan
    name: str
    group: int              # the fusion group (``meta['group']`` of its nodes)
    ops: list[str]
    nodes: list[int]        # IR nodes it computes, in topological order
    stores: list[int]       # nodes it writes to memory
    scope: str              # the module path of its first node
    flops: int              # estimate (the anchor's registry rule, else one per element)
    bytes: int              # bytes of the buffers it reads and writes
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    source: str             # its OpenCL C function


_KERNEL = re.compile(r"^__kernel void (\w+)\(", re.M)


def kernel_sources(source: str) -> dict[str, str]:
    """Kernel name -> the text of its function in a generated program."""
    out = {}
    for m in _KERNEL.finditer(source):
        end = source.find("\n}\n", m.start())
        out[m.group(1)] = source[m.start():end + 2 if end >= 0 else len(source)]
    return out


def kernel_infos(d: Dumped) -> list[KernelInfo]:
    """The launches of ``d``'s program, in launch order (empty before the fusion pass)."""
    if d.program is None:
        return []
    g = d.graph
    sources = kernel_sources(d.program.source)
    groups = {grp.id: grp for grp in g.groups}
    order = g.position()
    out = []
    for i, launch in enumerate(d.program.launches):
        grp = groups.get(launch.group)
        nodes = sorted(grp.nodes(), key=order.__getitem__) if grp is not None else []
        out.append(KernelInfo(d.label, i, launch.kernel, launch.group, list(launch.ops), nodes,
                              list(grp.stores) if grp is not None else [], launch.scope,
                              launch.flops, launch.bytes, tuple(launch.global_size),
                              tuple(launch.local_size) if launch.local_size else None,
                              sources.get(launch.kernel, "")))
    return out


def group_kernel(d: Dumped) -> dict[int, str]:
    """Fusion group -> the name of its (first) launch."""
    out: dict[int, str] = {}
    if d.program is not None:
        for launch in d.program.launches:
            out.setdefault(launch.group, launch.kernel)
    return out


def source_line(graph: Graph, n: int) -> str:
    """The text of the Python line that made node ``n`` ("" when unknown)."""
    meta = graph.meta(n)
    path, line = meta.get("file"), meta.get("line", "")
    if not path or ":" not in line:
        return ""
    return linecache.getline(path, int(line.rsplit(":", 1)[1])).strip()


def is_compute(graph: Graph, n: int) -> bool:
    return graph.op(n) not in LEAF_OPS and graph.op(n) not in VIEW_OPS


def base(graph: Graph, n: int) -> int:
    while graph.op(n) in VIEW_OPS:
        n = graph.args(n)[0]
    return n


@dataclass
class UnfusedRead:
    """A value one kernel stores and an adjacent kernel reads, and why they stayed apart."""

    graph: str
    producer_kernel: str
    consumer_kernel: str
    producer: int
    consumer: int
    reason: str             # a key of ir.passes.fusion.REASONS ("unrecorded" if none)
    detail: str


def why_not_fused(dumped: list[Dumped]) -> list[UnfusedRead]:
    """Every read of one kernel's value by another kernel, with the reason the fusion pass
    recorded when it decided (``graph.fusion_decisions``), in the consumer's order."""
    out = []
    for d in dumped:
        g = d.graph
        decisions = getattr(g, "fusion_decisions", None)
        if decisions is None or d.program is None:
            continue
        recorded = {}
        for dec in decisions:
            recorded.setdefault((dec.producer, dec.consumer), dec)
        names = group_kernel(d)
        seen = set()
        for n in g.topo():
            gn = g.meta(n).get("group")
            if gn is None:
                continue
            for a in g.args(n):
                b = base(g, a)
                gb = g.meta(b).get("group")
                if gb is None or gb == gn or (b, n) in seen or not is_compute(g, b):
                    continue
                seen.add((b, n))
                dec = recorded.get((b, n))
                out.append(UnfusedRead(d.label, names.get(gb, f"k{gb}"),
                                       names.get(gn, f"k{gn}"), b, n,
                                       dec.reason if dec else "unrecorded",
                                       dec.detail if dec else ""))
    return out


_GROUP = re.compile(r" k(\d+)$")


def _parse(text: str) -> tuple[dict[str, tuple[str, str]], str]:
    """Graph text -> ({"%n": (line without its kernel note, kernel)}, return line)."""
    nodes, ret = {}, ""
    for line in text.splitlines():
        if line.startswith("return"):
            ret = line
        elif line.startswith("%"):
            m = _GROUP.search(line) if "  # " in line else None
            body = line[:m.start()].rstrip() if m else line
            if body.endswith("  #"):
                body = body[:-3]
            nodes[line.split(":", 1)[0]] = (body, f"k{m.group(1)}" if m else "")
    return nodes, ret


def pass_diff(before: str, after: str) -> list[str]:
    """A compact diff of two graph texts: ``- line`` removed nodes, ``+ line`` added ones,
    ``~ old -> new`` changed ones, and one ``kernels:`` line per kernel the pass formed."""
    a, ret_a = _parse(before)
    b, ret_b = _parse(after)
    out = [f"- {a[k][0]}" for k in a if k not in b]
    for k in b:
        if k not in a:
            out.append(f"+ {b[k][0]}")
        elif a[k][0] != b[k][0]:
            out.append(f"~ {a[k][0]}  ->  {b[k][0].split(' = ', 1)[-1]}")
    if ret_a != ret_b:
        out.append(f"~ {ret_a}  ->  {ret_b}")
    kernels: dict[str, list[str]] = {}
    for k, (_, grp) in b.items():
        if grp and (k not in a or a[k][1] != grp):
            kernels.setdefault(grp, []).append(k)
    if kernels:
        out.append("kernels: " + "; ".join(f"{grp} = {' '.join(ks)}"
                                           for grp, ks in sorted(kernels.items(),
                                                                 key=lambda x: int(x[0][1:]))))
    return out
