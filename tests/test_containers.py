"""Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict against torch."""
from __future__ import annotations

import re
from collections import OrderedDict

import pytest
import torch

import graphnn


def norm(s: str) -> str:
    return re.sub(r"\btorch\b", "graphnn", s)


def same(fn):
    a, b = fn(torch), fn(graphnn)
    assert (norm(a) if isinstance(a, str) else a) == b, (a, b)


def seq(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Tanh())


def names(m):
    return [n for n, _ in m.named_modules()]


def test_sequential_indexing_and_mutation():
    same(lambda lib: repr(seq(lib)))
    same(lambda lib: repr(seq(lib)[-1]) + repr(seq(lib)[1:3]) + type(seq(lib)[::2]).__name__)
    same(lambda lib: names(seq(lib)[1:]))
    same(lambda lib: len(seq(lib)))
    same(lambda lib: [type(m).__name__ for m in seq(lib)])

    def mutate(lib):
        nn = lib.nn
        s = seq(lib)
        s.append(nn.Sigmoid())
        s.insert(1, nn.ReLU6())
        s.insert(-1, nn.Identity())
        s.extend([nn.LeakyReLU()])
        popped = s.pop(0)
        del s[1]
        s[0] = nn.Tanh()
        t = s + nn.Sequential(nn.ReLU())
        return repr(s) + repr(popped) + repr(t) + str(names(t))

    same(mutate)
    same(lambda lib: repr(lib.nn.Sequential(OrderedDict([("conv1", lib.nn.Conv2d(1, 2, 3)),
                                                         ("relu", lib.nn.ReLU())]))))

    def od_slice(lib):
        s = lib.nn.Sequential(OrderedDict([("a", lib.nn.ReLU()), ("b", lib.nn.Tanh())]))
        return repr(s[1:]) + repr(s[-1])

    same(od_slice)
    for bad in (lambda s: s[10], lambda s: s.insert(9, s[0])):
        with pytest.raises(IndexError):
            bad(seq(graphnn))
        with pytest.raises(IndexError):
            bad(seq(torch))


def test_sequential_forward_matches():
    t, g = seq(torch), seq(graphnn)
    g.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    import numpy as np
    x = np.arange(6, dtype=np.float32).reshape(3, 2) / 6
    np.testing.assert_allclose(g(graphnn.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_module_list():
    def build(lib):
        nn = lib.nn
        ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        ml.append(nn.ReLU())
        ml.extend([nn.Tanh(), nn.Tanh()])
        ml.insert(1, nn.Sigmoid())
        ml += [nn.ReLU()]
        del ml[0]
        out = repr(ml) + str(len(ml)) + repr(ml[-1]) + repr(ml[1:3]) + str(names(ml))
        out += repr(ml + nn.ModuleList([nn.ReLU()]))
        ml[0] = nn.Identity()
        return out + repr(ml) + str([n for n, _ in ml.named_parameters()])

    same(build)
    same(lambda lib: repr(lib.nn.ModuleList()))


def test_module_dict():
    def build(lib):
        nn = lib.nn
        md = nn.ModuleDict({"conv": nn.Conv2d(1, 1, 3), "pool": nn.MaxPool2d(3)})
        md.update([("act", nn.ReLU())])
        md.update(nn.ModuleDict({"b": nn.Tanh()}))
        md.update(OrderedDict([("pool", nn.Identity())]))
        md["x"] = nn.Sigmoid()
        out = repr(md) + str(list(md.keys())) + str([type(v).__name__ for v in md.values()])
        out += str([k for k, _ in md.items()]) + str("act" in md) + str(len(md))
        out += repr(md.pop("act")) + str(list(md))
        del md["x"]
        out += str(list(md))
        md.clear()
        return out + repr(md) + str(len(md))

    same(build)
    for lib in (torch, graphnn):
        with pytest.raises(TypeError):
            lib.nn.ModuleDict().update(3)
        with pytest.raises(ValueError):
            lib.nn.ModuleDict().update([("a", lib.nn.ReLU(), 3)])


def test_parameter_list_and_dict():
    def plist(lib):
        pl = lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2, 3)), lib.ones(4)])
        pl.append(lib.zeros(1, dtype=lib.float64))
        pl.extend([lib.ones(2)])
        out = repr(pl) + str(len(pl)) + str([type(p).__name__ for p in pl])
        out += str([p.requires_grad for p in pl]) + str([n for n, _ in pl.named_parameters()])
        pl[0] = lib.ones(5)
        return out + repr(pl[0]) + repr(pl[1:])

    same(plist)

    def pdict(lib):
        pd = lib.nn.ParameterDict({"left": lib.nn.Parameter(lib.zeros(5, 10)),
                                   "right": lib.zeros(5, 10)})
        pd["extra"] = lib.ones(1)
        pd.update({"z": lib.ones(2)})
        out = repr(pd) + str(list(pd.keys())) + str(type(pd["right"]).__name__)
        out += str("left" in pd) + str(len(pd)) + str([n for n, _ in pd.named_parameters()])
        out += repr(pd.pop("extra")) + str(list(pd))
        return out + str(list(pd.state_dict()))

    same(pdict)
