"""The HTML viewer in a real headless browser (Debian's ``chromium``, which ``.ci/run``
installs): it renders the graph and the kernel list, searches, collapses a module into one
box, and links a kernel with its IR nodes, Python lines and OpenCL source (and a node back
to its kernel). The viewer takes its state from the URL's fragment; ``--dump-dom`` returns
the document after its script ran."""
import os
import re
import shutil
import subprocess

import pytest

import graphnn
from graphnn.dump import build_report, example_inputs, render
from tests import models

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    graphnn.manual_seed(0)
    # a training forward: batch statistics make several kernels (eval folds them into one)
    rep = build_report(models.conv_bn_block(), example_inputs([(2, 2, 8, 8)]), train=True,
                       why_not_fused=True)
    path = tmp_path_factory.mktemp("html") / "dump.html"
    path.write_text(render(rep, "html"))
    return path, rep.graphs[0]


def dom(path, fragment: str, tmp_path) -> str:
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=3000", "--dump-dom",
                          f"file://{path}#{fragment}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'data-ready="1"' in out.stdout, "the viewer's script did not finish"
    return out.stdout


def body(html: str, name: str) -> str:
    return re.search(rf'<body[^>]* data-{name}="([^"]*)"', html).group(1)


def test_html_is_self_contained(page):
    text = page[0].read_text()
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    assert "fetch(" not in text and "XMLHttpRequest" not in text


def test_renders_searches_and_collapses(page, tmp_path):
    path, dumped = page
    g = dumped.graph
    shown = [n for n in g.nodes() if g.op(n) != "const"]
    html = dom(path, "", tmp_path)
    assert int(body(html, "units")) == len(shown) == html.count('class="unit')
    assert html.count('<li class="kernel') == len(dumped.program.launches) > 1
    # search by op with module 1 (the BatchNorm) collapsed: exactly the relu nodes match,
    # the rest are dimmed, and the module's nodes are one box
    relus = [n for n in g.nodes() if g.op(n) == "relu"]
    bn = [n for n in shown if g.name(n) == "1" or g.name(n).startswith("1.")]
    assert relus and bn and not set(relus) & set(bn)
    html = dom(path, "search=relu&collapse=1", tmp_path)
    assert int(body(html, "matches")) == len(relus)
    assert len(re.findall(r'class="unit [^"]*match', html)) == len(relus)
    assert re.search(r'class="unit module collapsed[^"]*"[^>]*data-module="1"', html)
    assert int(body(html, "units")) == len(shown) - len(bn) + 1


def test_kernel_and_node_selection_link_both_ways(page, tmp_path):
    path, dumped = page
    g = dumped.graph
    launch = dumped.program.launches[-1]
    members = [n for n in g.groups[launch.group].nodes() if g.op(n) != "const"]
    # a kernel highlights its nodes and shows their Python lines and its source; the
    # search by shape runs alongside
    html = dom(path, f"kernel={launch.kernel}&search=[2,4,4,4]", tmp_path)
    assert int(body(html, "highlighted")) == len(members)
    assert f"__kernel void {launch.kernel}(" in html
    lines = {g.meta(n)["line"] for n in members}
    assert lines and all(line in html for line in lines)
    assert int(body(html, "matches")) == sum(
        1 for n in shown_nodes(g) if str(g.type(n)).endswith("[2,4,4,4]")) > 0
    # a node selects its kernel in the list
    node = members[0]
    html = dom(path, f"node={node}", tmp_path)
    assert re.search(rf'class="kernel sel" data-kernel="{launch.kernel}"', html)


def shown_nodes(g) -> list[int]:
    return [n for n in g.nodes() if g.op(n) != "const"]
