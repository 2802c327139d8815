"""The dump tool's formats and API, without running kernels: table, JSON against its schema,
DOT parsed back with pydot and networkx, SVG, Model Explorer's format, per-pass diffs, the
fusion report recorded by the fusion pass, errors, ``graphnn.dump.compiled`` and GRAPHNN_DEBUG."""
import json
import logging
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import networkx as nx
import numpy as np
import pydot
import pytest

import graphnn
import graphnn.nn as nn
from graphnn.cli import main
from graphnn.dump import DumpError, build_report, example_inputs, render, why_not_fused
from graphnn.dump.dot import as_dot
from graphnn.dump.jsondoc import schema
from graphnn.ir.passes.fusion import REASONS
from tests import models

# pydot's parser still calls pyparsing's old names
pytestmark = pytest.mark.filterwarnings("ignore:'setParseAction' deprecated")

ROOT = Path(__file__).resolve().parent.parent
MODELS = str(ROOT / "tests" / "models.py")


def report(factory=models.mlp, shapes=((4, 6),), **options):
    graphnn.manual_seed(0)
    return build_report(factory(), example_inputs(list(shapes)), **options)


class FiveReads(nn.Module):
    """One elementwise value read nine times (recomputation stops at eight reads) and a
    transposed view of a product (a layout change between kernels)."""

    def forward(self, x):
        e = x.exp()
        y = (e * 2 + e * 3) * e - e + e.relu() + e * 4 + e * 5 + e * 6 + e * 7
        return (x @ x.t()).t().tanh(), y


GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name, factory, shapes", [
    ("dump_mlp_train", models.mlp, [(4, 6)]),
    ("dump_conv_bn_train", models.conv_bn_block, [(2, 2, 8, 8)])])
def test_golden_table_and_fusion_report(name, factory, shapes):
    """The table and the fusion pass's reasons for a training step, as golden text
    (GRAPHNN_UPDATE_GOLDEN=1 rewrites it; review the diff): it documents which reads
    between kernels remain and why."""
    from graphnn.codegen import CPU

    graphnn.manual_seed(0)
    rep = build_report(factory(), example_inputs(shapes), train=True, why_not_fused=True,
                       dialect=CPU)
    text = render(rep, "table")
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("GRAPHNN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_table_has_fx_columns_and_the_kernel_of_each_node():
    rep = report()
    table = render(rep, "table")
    head = table.splitlines()[1].split()
    assert head == ["node", "op", "inputs", "shape", "dtype", "module", "kernel"]
    g = rep.graphs[0].graph
    for n in g.topo():
        row = next(line.split() for line in table.splitlines() if line.startswith(f"%{n} "))
        if "group" in g.meta(n):
            assert row[-1] == rep.graphs[0].program.launches[g.meta(n)["group"]].kernel


def test_json_follows_its_schema_and_references_resolve():
    rep = report(train=True, all_passes=True, why_not_fused=True, kernels=True)
    doc = json.loads(render(rep, "json"))
    jsonschema.validate(doc, schema())
    ids = {n["id"]: n for n in doc["nodes"]}
    assert len(ids) == len(doc["nodes"])
    for n in doc["nodes"]:
        assert all(i in ids for i in n["inputs"])
    for k in doc["kernels"]:
        assert k["source"].startswith(f"__kernel void {k['name']}(")
        assert all(ids[i]["kernel"] == k["name"] for i in k["nodes"])
    assert [p["name"] for p in doc["passes"][:10]] == ["dce", "conv_gemm", "simplify",
                                                       "products", "cse", "split_concat",
                                                       "split_reduce", "fuse", "rows",
                                                       "horizontal"]
    assert {r["reason"] for r in doc["why_not_fused"]} <= set(REASONS)
    # the schema is strict: a node without its type fails
    del doc["nodes"][0]["dtype"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema())


def _clusters(graph: pydot.Dot) -> dict[str, tuple[str, set[str]]]:
    """Kernel cluster name -> (its label, its node names), inside each graph's cluster."""
    out = {}
    for top in graph.get_subgraphs():
        for sub in top.get_subgraphs():
            out[sub.get_name().strip('"')] = (sub.get_label().strip('"'),
                                              {n.get_name().strip('"') for n in sub.get_nodes()})
    return out


def test_dot_has_one_cluster_per_kernel_and_parses_back():
    rep = report(train=True)
    (parsed,) = pydot.graph_from_dot_data(render(rep, "dot"))
    expected = {}
    for d in rep.graphs:
        for launch in d.program.launches:
            grp = d.graph.groups[launch.group]
            expected[f"cluster_{d.label}_k{grp.id}"] = (
                launch.kernel, {f"{d.label}_{n}" for n in grp.nodes()})
    assert _clusters(parsed) == expected
    g = nx.nx_pydot.from_pydot(parsed)
    for d in rep.graphs:
        ir_edges = sum(len(d.graph.args(n)) for n in d.graph.nodes()) + len(d.graph.outputs)
        assert sum(1 for u, _ in g.edges() if u.strip('"').startswith(d.label + "_")) == \
            ir_edges


def test_dot_collapses_a_large_graph_by_module():
    rep = report()
    (parsed,) = pydot.graph_from_dot_data(as_dot(rep, max_nodes=4))
    (top,) = parsed.get_subgraphs()
    assert top.get_subgraphs() == []            # no kernel clusters once collapsed
    boxes = {n.get_name().strip('"') for n in top.get_nodes()}
    assert boxes == {"inference_m_inputs", "inference_m_0", "inference_m_1",
                     "inference_m_2"}
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"'))
             for e in parsed.get_edges()}
    assert ("inference_m_0", "inference_m_1") in edges
    assert ("inference_m_1", "inference_m_2") in edges


def test_svg_renders_with_graphviz():
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz's dot is missing: .ci/run installs Debian's graphviz")
        pytest.skip("needs Graphviz's dot (apt-get install graphviz; .ci/run installs it)")
    svg = render(report(models.Chain, [(3, 4)]), "svg")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "k0_mul_add_tanh_relu" in svg


def test_svg_without_graphviz_names_the_packages(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(DumpError, match="apt-get install graphviz.*pip install graphviz"):
        render(report(models.Chain, [(3, 4)]), "svg")


def test_explorer_graph_uses_module_paths_as_namespaces():
    rep = report(models.conv_bn_block, [(2, 2, 8, 8)], train=True)
    doc = json.loads(render(rep, "explorer"))
    assert [g["id"] for g in doc["graphs"]] == ["forward", "backward"]
    for g, d in zip(doc["graphs"], rep.graphs):
        ids = {n["id"] for n in g["nodes"]}
        for n in g["nodes"]:
            assert all(e["sourceNodeId"] in ids for e in n["incomingEdges"])
            if n["id"].isdigit():
                scope = d.graph.name(int(n["id"]))
                if d.graph.op(int(n["id"])) not in ("input", "param"):
                    assert n["namespace"] == scope.replace(".", "/")
    conv = next(n for n in doc["graphs"][0]["nodes"] if n["label"] == "conv2d")
    assert conv["namespace"] == "0"
    shape = next(a for a in conv["outputsMetadata"][0]["attrs"] if a["key"] == "tensor_shape")
    assert shape["value"] == "float32[2,4,8,8]"


def test_all_passes_writes_a_file_per_pass_and_diffs(tmp_path, capsys):
    assert main(["dump", MODELS + ":mlp", "--input", "4,6", "--all-passes",
                 "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "inference.0.trace.txt" in names and "inference.10.horizontal.txt" in names
    fuse = (tmp_path / "inference.8.fuse.diff").read_text()
    assert "kernels: k0 = %2 %5 %7; k1 = %10 %13" in fuse
    # simplify removes the traced no-op views: the diff lists them as removed
    simplify = (tmp_path / "inference.3.simplify.diff").read_text().splitlines()
    assert simplify and all(line.startswith(("-", "~")) for line in simplify)
    assert "# inference pass 8 fuse: changed" in out
    assert not (tmp_path / "inference.5.cse.diff").exists()     # cse changed nothing


def test_fusion_report_comes_from_the_pass_and_covers_every_read():
    for factory, shapes, train in [(models.mlp, [(4, 6)], True),
                                   (models.conv_bn_block, [(2, 2, 8, 8)], True),
                                   (models.Softmax, [(2, 5)], False),
                                   (FiveReads, [(3, 3)], False)]:
        rep = report(factory, shapes, train=train, why_not_fused=True)
        rows = why_not_fused(rep.graphs)
        # softmax is one row kernel (ir/passes/rows.py): nothing is read across kernels
        assert (not rows if factory is models.Softmax else rows), factory
        assert all(r.reason in REASONS for r in rows), factory
        for r in rows:
            g = next(d.graph for d in rep.graphs if d.label == r.graph)
            assert any(dec.producer == r.producer and dec.consumer == r.consumer
                       for dec in g.fusion_decisions)
    rows = why_not_fused(report(FiveReads, [(3, 3)]).graphs)
    reasons = {r.reason: r.detail for r in rows}
    assert "recomputation stops at 8" in reasons["multiple_users"]
    assert reasons["layout_change"] == "through permute"
    text = render(report(models.mlp, [(4, 6)], why_not_fused=True), "text")
    assert "k0_matmul_add_relu -> k1_matmul_add: %7 read by %10: anchor_operand" in text


def test_bad_arguments_name_the_argument(capsys):
    for argv, message in [(["--after", "fusion"], "--after must be one of"),
                          (["--input", "4,6", "--dtype", "f32", "--dtype", "f64"], "--dtype"),
                          (["--input", "4,x"], "--input takes comma-separated sizes"),
                          (["--input", "4,7"], "--input/--dtype: tracing Sequential on "
                                               "inputs (float32[4, 7]) failed")]:
        args = ["dump", MODELS + ":mlp"] + (argv if "--input" in argv else
                                            ["--input", "4,6"] + argv)
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dump", MODELS + ":mlp", "--input", "4,6", "--format", "pdf"])
    with pytest.raises(DumpError, match="model: .* defines no 'nothing'"):
        graphnn.dump.load_model(MODELS + ":nothing")
    with pytest.raises(TypeError, match="example input 0 must be a tensor"):
        graphnn.dump(models.mlp(), np.zeros((4, 6), np.float32))
    with pytest.raises(DumpError, match="format must be one of"):
        graphnn.dump(models.mlp(), graphnn.zeros(4, 6), format="pdf")


def test_python_api_and_the_graphs_of_a_call():
    graphnn.manual_seed(0)
    net = models.mlp()
    x = graphnn.randn(4, 6)
    text = graphnn.dump(net, x)
    assert "k0_matmul_add_relu: matmul, add, relu  # 0" in text
    view = graphnn.dump.compiled(net)
    with pytest.raises(RuntimeError, match="call the model first"):
        view.graph
    with graphnn.no_grad():
        out = net(x)
    assert out.shape == (4, 3)
    assert list(view.graphs) == ["inference"]
    assert [k.ops for k in view.kernels] == [["matmul", "add", "relu"], ["matmul", "add"]]
    g = view.graph
    assert {g.op(n) for k in view.kernels for n in k.nodes} == {"matmul", "add", "relu"}
    net(x).sum().backward()
    assert list(view.graphs) == ["forward", "backward"]
    assert [k.name for k in view.kernels] == [
        launch.kernel for d in graphnn.dump.trace_model(net, [x], train=True).graphs
        for launch in d.program.launches]
    with pytest.raises(TypeError, match="must be a graphnn.nn.Module"):
        graphnn.dump.compiled(lambda t: t)


def test_debug_levels_log_compiles_launches_and_source(monkeypatch, caplog):
    class Cube(nn.Module):
        def forward(self, x):
            return x * x * x

    x = graphnn.randn(5)
    caplog.set_level(logging.DEBUG, logger="graphnn")
    monkeypatch.setenv("GRAPHNN_DEBUG", "3")
    Cube()(x).numpy()
    text = caplog.text
    assert "compiled Cube: 3 nodes, 1 kernels, 1 launches in " in text
    # the global size depends on the device's vector width (a work-item per vector on CPUs)
    assert re.search(r"launch Cube/k0_mul mul,mul global \[\d+\] local \[\d+\]: [\d.]+ us",
                     text), text
    assert "__kernel void k0_mul(" in text
    monkeypatch.setenv("GRAPHNN_DEBUG", "yes")
    with pytest.raises(ValueError, match="GRAPHNN_DEBUG must be 0, 1, 2 or 3"):
        Cube()(x)


def test_python_m_graphnn_dump():
    out = subprocess.run([sys.executable, "-m", "graphnn", "dump", MODELS + ":Chain",
                          "--input", "3,4", "--format", "json"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [k["ops"] for k in doc["kernels"]] == [["mul", "add", "tanh", "mul", "relu"]]
