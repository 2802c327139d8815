"""graphnn.load reads what torch 2.13's torch.save writes (zip and legacy formats) with a
restricted unpickler: values, dtypes, strides and storage sharing as torch.load gives them;
a pickle that names anything but tensors and containers is refused before it runs."""
from __future__ import annotations

import io
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import graphnn
import torch


def _checkpoint():
    """A state_dict-like dict with every storage dtype, views sharing one storage,
    non-contiguous and offset tensors, 0-d and empty tensors."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)
    sd = OrderedDict()
    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
               torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool):
        sd[f"t_{dt}".replace("torch.", "")] = (torch.randn(3, 5, generator=g) * 40).to(dt)
    sd["base"] = base
    sd["transposed"] = base.t()                 # non-contiguous view of base
    sd["row"] = base[2]                         # offset view
    sd["cols"] = base[1:, 1:5:2]                # offset and strided
    sd["expanded"] = base[0, :1].expand(3, 4)   # stride 0
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["steps"] = torch.tensor(7)
    return sd


def _check_same(ours, ref, name):
    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, graphnn.Tensor), name
        want = ref.float() if ref.dtype == torch.bfloat16 else ref
        if ref.dtype in (torch.int16, torch.int8, torch.uint8):
            want = ref.int()
        assert str(ours.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], name
        assert tuple(ours.shape) == tuple(ref.shape), name
        assert ours.stride() == ref.stride(), name
        assert ours.storage_offset() == ref.storage_offset(), name
        np.testing.assert_array_equal(ours.detach().numpy(), want.numpy(), err_msg=name)
    elif isinstance(ref, dict):
        assert type(ours).__name__ == type(ref).__name__ and list(ours) == list(ref), name
        for k in ref:
            _check_same(ours[k], ref[k], f"{name}.{k}")
    elif isinstance(ref, (list, tuple)):
        assert len(ours) == len(ref), name
        for i, (a, b) in enumerate(zip(ours, ref)):
            _check_same(a, b, f"{name}[{i}]")
    else:
        assert ours == ref, name


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_written_by_torch(tmp_path, legacy):
    sd = _checkpoint()
    path = tmp_path / "ckpt.pt"
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    # (not pytest.warns: a limited device's DeviceFeatureError must leave the block as it is)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = graphnn.load(path)
    assert any(issubclass(w.category, UserWarning) and
               re.search("BFloat16Storage.*widened", str(w.message)) for w in caught), caught
    assert list(ours) == list(sd)
    _check_same(ours, torch.load(path, weights_only=True), "sd")
    # tensors that shared a storage in torch share one here, at the same element distances
    for name in ("transposed", "row", "cols", "expanded"):
        assert ours[name]._storage is ours["base"]._storage
        assert (ours[name].data_ptr() - ours["base"].data_ptr() ==
                sd[name].data_ptr() - sd["base"].data_ptr())
    assert ours["t_float32"]._storage is not ours["base"]._storage


def test_shared_storage_sees_writes(tmp_path):
    base = torch.arange(6.0).reshape(2, 3)
    path = tmp_path / "views.pt"
    torch.save({"base": base, "col": base[:, 1]}, path)
    ours = graphnn.load(path)
    ours["base"].fill_(-1.0)       # as after torch.load: a write reaches the other view
    np.testing.assert_array_equal(ours["col"].numpy(), [-1.0, -1.0])


def test_checkpoint_structure_and_file_object(tmp_path):
    model = torch.nn.Linear(3, 2)
    # an Adam state_dict's layout (torch.optim itself imports torch._dynamo: seconds)
    optim = {"state": {i: {"step": torch.tensor(1.0), "exp_avg": torch.full_like(p, 0.1),
                           "exp_avg_sq": torch.full_like(p, 0.01)}
                       for i, p in enumerate(model.parameters())},
             "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-08,
                               "weight_decay": 0, "amsgrad": False, "params": [0, 1]}]}
    ckpt = {"model": model.state_dict(), "optim": optim, "epoch": 3,
            "name": "run-1", "shape": torch.Size([2, 3]), "dtype": torch.float64,
            "device": torch.device("cpu"), "blob": b"\x00\xff", "params": list(
                model.parameters()), "nested": [(1, 2.5, None, True), {"a": {7, 8}}]}
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    buf.seek(0)
    ours = graphnn.load(buf)
    ref = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    _check_same(ours["model"], ref["model"], "model")
    assert ours["model"]._metadata == ref["model"]._metadata
    _check_same(ours["optim"]["state"], ref["optim"]["state"], "optim.state")
    assert ours["optim"]["param_groups"] == ref["optim"]["param_groups"]
    assert (ours["epoch"], ours["name"], ours["blob"]) == (3, "run-1", b"\x00\xff")
    assert ours["shape"] == graphnn.Size([2, 3]) and ours["dtype"] is graphnn.float64
    assert ours["device"] == graphnn.device("cpu")
    assert ours["nested"] == [(1, 2.5, None, True), {"a": {7, 8}}]
    assert all(isinstance(p, graphnn.nn.Parameter) and p.requires_grad
               for p in ours["params"])
    _check_same(list(ours["params"]), [p.detach() for p in ref["params"]], "params")


def _net(T):
    class Net(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = T.nn.Conv2d(2, 4, 3)
            self.bn = T.nn.BatchNorm2d(4)
            self.fc = T.nn.Linear(4 * 4 * 4, 3)

        def forward(self, x):
            return self.fc(self.bn(self.conv(x)).relu().flatten(1))

    return Net()


def test_load_into_graphnn_model_matches_torch(tmp_path):
    torch.manual_seed(0)
    ref = _net(torch)
    ref.train()
    ref(torch.randn(8, 2, 6, 6))            # running statistics move away from 0 / 1
    ref.eval()
    path = tmp_path / "net.pth"
    torch.save(ref.state_dict(), path)
    ours = _net(graphnn)
    result = ours.load_state_dict(graphnn.load(path))
    assert repr(result) == "<All keys matched successfully>"
    ours.eval()
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6)).astype(np.float32)
    with graphnn.no_grad(), torch.no_grad():
        np.testing.assert_allclose(ours(graphnn.tensor(x)).numpy(), ref(torch.tensor(x)).numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert int(ours.bn.num_batches_tracked.item()) == 1


# -- malicious pickles ---------------------------------------------------------------------
class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


def _payloads(marker, tmp_path):
    # a module whose import alone would create the marker
    (tmp_path / "gnn_evil_mod.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef run(*a):\n    pass\n")
    evil_import = (b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01cgnn_evil_mod\nrun\nq\x02)Rq\x03s.")
    return {
        "os.system": (pickle.dumps({"w": _System(marker)}, protocol=2), "system"),
        "os.system-stack-global": (pickle.dumps({"w": _System(marker)}, protocol=4),
                                   "system"),
        "eval": (pickle.dumps([_Eval(marker)], protocol=2), "builtins.eval"),
        "import": (evil_import, "gnn_evil_mod.run"),
        "inst-opcode": (f"(S'touch {marker}'\nios\nsystem\n.".encode(), "opcode"),
        "reduce-in-tensor-args": (
            b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(cposix\nsystem\n(X"
            + len(f"touch {marker}").to_bytes(4, "little") + f"touch {marker}".encode()
            + b"tRK\x00)))tR.", "posix.system"),
    }


@pytest.mark.parametrize("container", ["raw", "zip", "legacy"])
def test_malicious_pickles_are_refused_before_running(tmp_path, monkeypatch, container):
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = tmp_path / "pwned"
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(2)}, good, _use_new_zipfile_serialization=container == "zip")
    for name, (payload, needle) in _payloads(marker, tmp_path).items():
        path = tmp_path / f"{name}.pt"
        if container == "zip":
            with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
                for item in src.infolist():
                    data = src.read(item)
                    dst.writestr(item, payload if item.filename.endswith("data.pkl") else data)
        elif container == "legacy":
            raw = good.read_bytes()
            head = b"".join(_legacy_head(raw))
            path.write_bytes(head + payload)
        else:
            path.write_bytes(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.}."
                             + payload)
        with pytest.raises(pickle.UnpicklingError) as err:
            graphnn.load(path)
        assert needle in str(err.value), f"{name}: {err.value}"
        assert not marker.exists(), f"{name}: the payload ran"
        assert "gnn_evil_mod" not in sys.modules, f"{name}: a module was imported"


def _legacy_head(raw: bytes):
    """The magic number, protocol and system-info pickles of a legacy file."""
    fh = io.BytesIO(raw)
    for _ in range(3):
        start = fh.tell()
        pickle.load(fh)
        yield raw[start:fh.tell()]


def test_pickled_module_is_refused_naming_its_class(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.linear.Linear"):
        graphnn.load(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_truncated_checkpoint_raises(tmp_path, legacy):
    path = tmp_path / "t.pt"
    torch.save({"w": torch.ones(100)}, path, _use_new_zipfile_serialization=not legacy)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 120])
    with pytest.raises(RuntimeError, match="truncated"):
        graphnn.load(path)


def test_safetensors_stays_the_save_format(tmp_path):
    path = tmp_path / "m.safetensors"
    graphnn.save({"w": graphnn.ones(2, 3)}, path)
    from safetensors.numpy import load_file
    assert load_file(str(path))["w"].shape == (2, 3)
    np.testing.assert_array_equal(graphnn.load(path)["w"].numpy(), np.ones((2, 3)))
