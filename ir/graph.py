"""The IR graph: a thin wrapper over ``networkx.MultiDiGraph``.

Nodes are integer ids. Node attributes: ``op`` (a registry name, or ``input``/``param``/
``const``), ``attrs`` (static arguments), ``type`` (a TensorType inferred when the node is
added), ``name`` (module path or parameter name) and ``meta`` (source line, fusion group).
An edge ``u -> v`` with key ``k`` means "u is argument k of v"; a MultiDiGraph keeps both
edges of ``x + x``. Passes use this wrapper, never raw networkx edge order.

Passes query the graph far more often than they change it, so the wrapper memoises what is
derived from its structure (argument lists, the topological order, view resolution):
every mutation goes through a method here and bumps ``version``, which drops the memos.
A pass then costs O(N) in nodes, not O(N) per node.
"""
from __future__ import annotations

from typing import Any, Iterable

import networkx as nx

from graphnn.ir.types import TensorType

PLACEHOLDERS = ("input", "param")
LEAF_OPS = PLACEHOLDERS + ("const",)


class Graph:
    """A dataflow graph with ordered inputs and outputs."""

    def __init__(self) -> None:
        self.g = nx.MultiDiGraph()
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self._next = 0
        self._args: dict[int, tuple[int, ...]] = {}
        self.version = 0
        self._memo: dict[str, dict] = {}
        self._memo_version = -1

    def _changed(self) -> None:
        self.version += 1

    def memo(self, name: str) -> dict:
        """A cache for values derived from the graph's structure (``name`` picks one); it is
        emptied whenever the graph changes."""
        if self._memo_version != self.version:
            self._memo = {}
            self._memo_version = self.version
        return self._memo.setdefault(name, {})

    # -- construction -------------------------------------------------------------------
    def add(self, op: str, args: Iterable[int] = (), attrs: dict | None = None,
            name: str = "", type: TensorType | None = None, meta: dict | None = None) -> int:
        """Adds a node; its type is inferred from the op registry unless given."""
        from graphnn.ir.ops import infer_type

        args = list(args)
        attrs = dict(attrs or {})
        if type is None:
            type = infer_type(op, [self.type(a) for a in args], attrs)
        nid = self._next
        self._next += 1
        self.g.add_node(nid, op=op, attrs=attrs, type=type, name=name, meta=dict(meta or {}))
        for k, a in enumerate(args):
            self.g.add_edge(a, nid, key=k)
        self._args[nid] = tuple(args)
        self._changed()
        return nid

    def add_input(self, type: TensorType, name: str = "", op: str = "input") -> int:
        nid = self.add(op, (), {}, name=name, type=type)
        self.inputs.append(nid)
        return nid

    def add_const(self, value: float | int | bool, type: TensorType) -> int:
        return self.add("const", (), {"value": value}, type=type)

    # -- queries --------------------------------------------------------------------------
    def __contains__(self, nid: int) -> bool:
        return nid in self.g

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    def nodes(self) -> list[int]:
        return list(self.g.nodes)

    def op(self, nid: int) -> str:
        return self.g.nodes[nid]["op"]

    def attrs(self, nid: int) -> dict[str, Any]:
        return self.g.nodes[nid]["attrs"]

    def type(self, nid: int) -> TensorType:
        return self.g.nodes[nid]["type"]

    def name(self, nid: int) -> str:
        return self.g.nodes[nid]["name"]

    def meta(self, nid: int) -> dict[str, Any]:
        return self.g.nodes[nid]["meta"]

    def args(self, nid: int) -> list[int]:
        """Argument node ids in argument order."""
        return list(self._args[nid])

    def users(self, nid: int) -> list[tuple[int, int]]:
        """(user node, argument index) pairs, sorted for determinism."""
        return sorted((v, k) for _, v, k in self.g.out_edges(nid, keys=True))

    def user_nodes(self, nid: int) -> list[int]:
        return sorted({v for v, _ in self.users(nid)})

    def topo(self) -> list[int]:
        """Topological order, ties broken by node id so that output is deterministic."""
        memo = self.memo("topo")
        if "order" not in memo:
            memo["order"] = list(nx.lexicographical_topological_sort(self.g))
        return list(memo["order"])

    def position(self) -> dict[int, int]:
        """Node -> index in ``topo()`` (shared; do not modify)."""
        memo = self.memo("topo")
        if "position" not in memo:
            memo["position"] = {n: i for i, n in enumerate(self.topo())}
        return memo["position"]

    def ancestors(self, nodes: Iterable[int]) -> set[int]:
        """``nodes`` and every node they depend on, in one backward traversal."""
        seen = set(nodes)
        stack = list(seen)
        args = self._args
        while stack:
            for a in args[stack.pop()]:
                if a not in seen:
                    seen.add(a)
                    stack.append(a)
        return seen

    # -- mutation -------------------------------------------------------------------------
    def set_arg(self, nid: int, index: int, new: int) -> None:
        args = list(self._args[nid])
        old = args[index]
        self.g.remove_edge(old, nid, key=index)
        self.g.add_edge(new, nid, key=index)
        args[index] = new
        self._args[nid] = tuple(args)
        self._changed()

    def replace_all_uses(self, old: int, new: int) -> None:
        for user, k in self.users(old):
            self.set_arg(user, k, new)
        # a membership test in C first: most replaced values are not outputs, and rebuilding
        # the list for each made an unrolled recurrence's passes quadratic in its length
        if old in self.outputs:
            self.outputs = [new if o == old else o for o in self.outputs]

    def erase(self, nid: int) -> None:
        if self.users(nid):
            raise ValueError(f"cannot erase %{nid}: it still has users")
        self.remove_nodes([nid])

    def remove_nodes(self, nodes: Iterable[int]) -> None:
        """Removes ``nodes`` with their edges (any users must be among them)."""
        nodes = set(nodes)
        if not nodes:
            return
        self.g.remove_nodes_from(nodes)
        for n in nodes:
            del self._args[n]
        if nodes & set(self.inputs):
            self.inputs = [i for i in self.inputs if i not in nodes]
        self._changed()

    def copy(self) -> "Graph":
        other = Graph()
        other.g = self.g.copy()
        for n in other.g.nodes:
            d = other.g.nodes[n]
            d["attrs"] = dict(d["attrs"])
            d["meta"] = dict(d["meta"])
        other.inputs = list(self.inputs)
        other.outputs = list(self.outputs)
        other._next = self._next
        other._args = dict(self._args)
        return other

    # -- checking and printing ------------------------------------------------------------
    def verify(self) -> None:
        """Raises ValueError if the graph breaks an IR invariant (see DESIGN.md, IR)."""
        from graphnn.ir.ops import REGISTRY, infer_type

        if not nx.is_directed_acyclic_graph(self.g):
            raise ValueError("graph has a cycle")
        for n in self.g.nodes:
            op = self.op(n)
            keys = sorted(k for _, _, k in self.g.in_edges(n, keys=True))
            if keys != list(range(len(keys))):
                raise ValueError(f"%{n} ({op}) has argument keys {keys}")
            edges = sorted((k, u) for u, _, k in self.g.in_edges(n, keys=True))
            if tuple(u for _, u in edges) != self._args[n]:
                raise ValueError(f"%{n} ({op}) argument list disagrees with its edges")
            if op in PLACEHOLDERS:
                if n not in self.inputs:
                    raise ValueError(f"%{n} is a placeholder but not a graph input")
                continue
            if op == "const":
                continue
            if op not in REGISTRY:
                raise ValueError(f"%{n} has unregistered op {op!r}")
            inferred = infer_type(op, [self.type(a) for a in self.args(n)], self.attrs(n))
            if inferred != self.type(n):
                raise ValueError(f"%{n} ({op}) stores type {self.type(n)} but infers {inferred}")
        for o in self.outputs + self.inputs:
            if o not in self.g:
                raise ValueError(f"graph input/output %{o} is not a node")
        live = self.ancestors(self.outputs)
        dangling = [n for n in self.g.nodes if n not in live and n not in self.inputs]
        if dangling:
            raise ValueError(f"dangling nodes: {dangling}")

    def format_node(self, n: int) -> str:
        op = self.op(n)
        t = self.type(n)
        attrs = dict(self.attrs(n))
        if op == "const":
            rhs = f"const {attrs.pop('value')!r}"
        elif op in PLACEHOLDERS:
            rhs = op
        else:
            rhs = f"{op}({', '.join(f'%{a}' for a in self.args(n))})"
        if attrs:
            rhs += " {" + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(attrs.items())) + "}"
        line = f"%{n}: {t} = {rhs}"
        notes = [self.name(n)] if self.name(n) else []
        if "group" in self.meta(n):
            notes.append(f"k{self.meta(n)['group']}")
        if notes:
            line += "  # " + " ".join(notes)
        return line

    def __str__(self) -> str:
        lines = [self.format_node(n) for n in self.topo()]
        lines.append("return " + ", ".join(f"%{o}" for o in self.outputs))
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    return repr(v)
