"""load_state_dict results and errors against torch; save/load through safetensors."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import graphnn


def norm(s: str) -> str:
    return re.sub(r"\btorch\b", "graphnn", s)


def net(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))


def test_load_from_torch_numpy_and_array_like():
    t, g = net(torch), net(graphnn)
    res = g.load_state_dict(t.state_dict())                       # objects with __array__
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == repr(t.load_state_dict(t.state_dict()))
    g.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    g.load_state_dict({k: graphnn.tensor(v.numpy()) for k, v in t.state_dict().items()})
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[k].numpy(), v.numpy())
    assert g.state_dict()["1.num_batches_tracked"].dtype == graphnn.int64


def test_load_errors_match_torch():
    t, g = net(torch), net(graphnn)
    sd_t = t.state_dict()
    del sd_t["0.bias"]
    sd_t["extra"] = torch.ones(1)
    sd_t["2.weight"] = torch.ones(2, 3)
    sd_g = {k: v.numpy() for k, v in sd_t.items()}
    with pytest.raises(RuntimeError) as et:
        t.load_state_dict(sd_t)
    with pytest.raises(RuntimeError) as eg:
        g.load_state_dict(sd_g)
    assert str(eg.value) == norm(str(et.value))
    del sd_t["2.weight"], sd_g["2.weight"]
    rt, rg = t.load_state_dict(sd_t, strict=False), g.load_state_dict(sd_g, strict=False)
    assert rg.missing_keys == rt.missing_keys and rg.unexpected_keys == rt.unexpected_keys
    assert type(rg).__name__ == "IncompatibleKeys"


def test_save_and_load_safetensors(tmp_path):
    g = net(graphnn)
    path = tmp_path / "m.safetensors"
    graphnn.save(g.state_dict(), path)
    assert open(path, "rb").read(1) != b"\x80"                # not a pickle
    sd = graphnn.load(path)
    assert list(sd) == list(g.state_dict())
    h = net(graphnn)
    h.load_state_dict(sd)
    for k, v in g.state_dict().items():
        np.testing.assert_array_equal(h.state_dict()[k].numpy(), v.numpy())
    with pytest.raises(TypeError):
        graphnn.save(g, path)
