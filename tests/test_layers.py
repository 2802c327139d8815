"""The front end's core imports in layers: tensor data at the bottom, tracing, the tape,
compilation and dispatch above it, ops above those, ``nn.functional`` on top. Every import
(module level or inside a function) points to the same layer or a lower one, and the
import graph has no cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent / "graphnn"

LAYERS = [
    ["_errors", "_storage", "_format", "_size", "_device", "_tensor"],   # data
    ["_trace", "autograd", "_compile", "_dispatch", "_stats"],            # trace, tape, compile
    ["_views", "_ops", "_inplace", "_index", "_sort", "_creation"],                          # ops
    ["nn.functional._base", "nn.functional.activation", "nn.functional.conv",  # nn
     "nn.functional.dropout", "nn.functional.loss", "nn.functional.norm",
     "nn.functional.sparse", "nn.functional.distance", "nn.functional.loss_pointwise",
     "nn.functional.shape", "nn.functional.attention", "nn.functional.pad",
     "nn.functional.conv_nd",
     "nn.functional", "_math"],
    ["_sampling", "_random"],                                             # random API
]
LAYER = {m: i for i, mods in enumerate(LAYERS) for m in mods}


def _imports(module: str) -> set[str]:
    path = ROOT / module.replace(".", "/")
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__" and \
                node.args and isinstance(node.args[0], ast.Constant):
            names.append(str(node.args[0].value))
        for n in names:
            if n.startswith("graphnn."):
                target = n[len("graphnn."):]
                if target in LAYER and target != module:
                    found.add(target)
    return found


def test_core_imports_point_down_and_have_no_cycle():
    g = nx.DiGraph()
    for module in LAYER:
        for target in _imports(module):
            g.add_edge(module, target)
            assert LAYER[target] <= LAYER[module], \
                f"graphnn.{module} (layer {LAYER[module]}) imports graphnn.{target} " \
                f"(layer {LAYER[target]})"
    assert list(nx.simple_cycles(g)) == []
