"""The graphnn command: devices and dump."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from graphnn.cli import main

ROOT = Path(__file__).resolve().parent.parent
LENET = str(ROOT / "examples" / "lenet.py") + ":LeNet"


def run(capsys, *argv) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_devices(capsys):
    out = run(capsys, "devices")
    assert "Portable Computing Language" in out and "max work-group" in out
    assert out.count("\n*") + out.startswith("*") == 1


def test_dump_text_shows_fused_kernels(capsys):
    out = run(capsys, "dump", LENET, "--input", "4,1,32,32")
    assert "k0_conv2d_add_relu_max_pool2d: conv2d, add, relu, max_pool2d  # conv1" in out
    assert "= matmul(" in out and "# fc1 k2" in out


def test_dump_json(capsys):
    doc = json.loads(run(capsys, "dump", LENET, "--input", "4,1,32,32", "--format", "json"))
    assert {"id", "op", "shape", "dtype", "scope", "inputs"} <= set(doc["nodes"][0])
    assert doc["kernels"][0]["ops"] == ["conv2d", "add", "relu", "max_pool2d"]
    assert doc["kernels"][0]["scope"] == "conv1"
    ids = {n["id"] for n in doc["nodes"]}
    assert all(i in ids for n in doc["nodes"] for i in n["inputs"])


def test_dump_train_after_trace_and_kernels(capsys):
    out = run(capsys, "dump", LENET, "--input", "2,1,32,32", "--train")
    assert "# forward graph" in out and "# backward graph" in out
    assert "conv2d_weight_grad" in out and "max_pool2d_grad" in out
    traced = run(capsys, "dump", LENET, "--input", "2,1,32,32", "--after", "trace")
    assert "kernels" not in traced and "k0" not in traced
    src = run(capsys, "dump", LENET, "--input", "2,1,32,32", "--kernels")
    assert "__kernel void k0_conv2d_add_relu_max_pool2d(" in src


def test_dump_bad_arguments():
    with pytest.raises(SystemExit):
        main(["dump", "nofile.py:X", "--input", "1"])
    with pytest.raises(SystemExit):
        main(["dump", LENET, "--input", "1,x"])


def test_console_entry_point():
    out = subprocess.run([sys.executable, "-m", "graphnn", "devices"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "compute units" in out.stdout
