"""The seed documents' own examples (typos fixed), run with graphnn as torch and compared
with torch: TinyModel, add_module/children/modules, state_dict keys, Sequential forms,
ModuleList/ModuleDict/ParameterList/ParameterDict modules, apply(init_weights)."""
from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import torch

import graphnn


def norm(s: str) -> str:
    return re.sub(r"\btorch\b", "graphnn", s)


def run_both(example):
    return example(torch), example(graphnn)


def tiny_model(torch):
    class TinyModel(torch.nn.Module):
        def __init__(self):
            super(TinyModel, self).__init__()
            self.linear1 = torch.nn.Linear(100, 200)
            self.activation = torch.nn.ReLU()
            self.linear2 = torch.nn.Linear(200, 10)
            self.softmax = torch.nn.Softmax()

        def forward(self, x):
            x = self.linear1(x)
            x = self.activation(x)
            x = self.linear2(x)
            x = self.softmax(x)
            return x

    return TinyModel()


def test_tiny_model():
    t, g = run_both(tiny_model)
    assert repr(g) == repr(t)
    assert repr(g.linear2) == "Linear(in_features=200, out_features=10, bias=True)"
    assert [tuple(p.shape) for p in g.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert [id(p) for p in g.linear2.parameters()] == [id(p) for p in list(g.parameters())[2:]]
    assert all(repr(p).startswith("Parameter containing:\ntensor(") for p in g.parameters())
    g.load_state_dict(t.state_dict())
    x = np.random.default_rng(0).random((2, 100), dtype=np.float32)
    np.testing.assert_allclose(g(graphnn.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-6)


def test_add_module_children_modules():
    def example(torch):
        nn = torch.nn

        class Model(nn.Module):
            def __init__(self):
                super(Model, self).__init__()
                self.add_module("conv", nn.Conv2d(10, 20, 4))
                self.add_module("conv1", nn.Conv2d(20, 10, 4))

        model = Model()
        out = [repr(model.conv)]
        out += [repr(m) for m in model.children()]
        out += [repr(m) for m in model.modules()]
        out += [repr(m) for n, m in model.named_children() if n in ["conv4", "conv5", "conv1"]]
        out += [f"{type(p.data).__name__} {tuple(p.size())}" for p in model.parameters()]
        return out

    t, g = run_both(example)
    assert g == t
    assert g[0] == "Conv2d(10, 20, kernel_size=(4, 4), stride=(1, 1))"


def test_state_dict_keys_example():
    def example(torch):
        nn = torch.nn

        class Model(nn.Module):
            def __init__(self):
                super(Model, self).__init__()
                self.conv2 = nn.Linear(1, 2)
                self.vari = torch.rand([1])
                self.par = nn.Parameter(torch.rand([1]))
                self.register_buffer("buffer", torch.randn([2, 3]))

        return list(Model().state_dict().keys())

    t, g = run_both(example)
    assert g == t == ["par", "buffer", "conv2.weight", "conv2.bias"]


def test_conv_model_and_buffers():
    def example(torch):
        nn = torch.nn
        F = torch.nn.functional

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 20, 5)
                self.conv2 = nn.Conv2d(20, 20, 5)
                self.register_buffer("running", torch.zeros(20))

            def forward(self, x):
                x = F.relu(self.conv1(x))
                return F.relu(self.conv2(x))

        model = Model()
        return model, [(type(b).__name__, tuple(b.size())) for b in model.buffers()]

    (mt, bt), (mg, bg) = run_both(example)
    assert bg == bt
    mg.load_state_dict(mt.state_dict())
    x = np.random.default_rng(1).standard_normal((1, 1, 12, 12)).astype(np.float32)
    np.testing.assert_allclose(mg(graphnn.tensor(x)).detach().numpy(),
                               mt(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_sequential_examples():
    def example(torch):
        nn = torch.nn
        model_1 = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())
        model_2 = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 20, 5)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(20, 64, 5)),
            ("relu2", nn.ReLU()),
        ]))
        return repr(model_1) + repr(model_2)

    t, g = run_both(example)
    assert g == t


def test_module_list_example():
    def example(torch):
        nn = torch.nn

        class MyModule(nn.Module):
            def __init__(self):
                super(MyModule, self).__init__()
                self.linears = nn.ModuleList([nn.Linear(10, 10) for i in range(10)])

            def forward(self, x):
                # ModuleList can act as an iterable, or be indexed using ints
                for i, l in enumerate(self.linears):
                    x = self.linears[i // 2](x) + l(x)
                return x

        return MyModule()

    t, g = run_both(example)
    assert repr(g) == repr(t)
    g.load_state_dict(t.state_dict())
    x = np.random.default_rng(2).standard_normal((2, 10)).astype(np.float32) * 0.1
    np.testing.assert_allclose(g(graphnn.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_module_dict_example():
    def example(torch):
        nn = torch.nn

        class MyModule(nn.Module):
            def __init__(self):
                super(MyModule, self).__init__()
                self.choices = nn.ModuleDict({
                    "conv": nn.Conv2d(10, 10, 3),
                    "pool": nn.MaxPool2d(3),
                })
                self.activations = nn.ModuleDict([
                    ["lrelu", nn.LeakyReLU()],
                    ["prelu", nn.PReLU()],
                ])

            def forward(self, x, choice, act):
                x = self.choices[choice](x)
                x = self.activations[act](x)
                return x

        return MyModule()

    t, g = run_both(example)
    assert repr(g) == repr(t)
    g.load_state_dict(t.state_dict())
    x = np.random.default_rng(3).standard_normal((1, 10, 6, 6)).astype(np.float32)
    for choice in ("conv", "pool"):
        for act in ("lrelu", "prelu"):
            xt = torch.tensor(x, requires_grad=True)
            xg = graphnn.tensor(x, requires_grad=True)
            yt, yg = t(xt, choice, act), g(xg, choice, act)
            np.testing.assert_allclose(yg.detach().numpy(), yt.detach().numpy(), rtol=1e-4,
                                       atol=1e-5)
            yt.sum().backward()
            yg.sum().backward()
            np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g.activations.prelu.weight.grad.numpy(),
                               t.activations.prelu.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_parameter_list_and_dict_examples():
    def example(torch):
        nn = torch.nn

        class ListModule(nn.Module):
            def __init__(self):
                super(ListModule, self).__init__()
                self.params = nn.ParameterList([nn.Parameter(torch.randn(10, 10))
                                                for i in range(10)])

            def forward(self, x):
                # ParameterList can act as an iterable, or be indexed using ints
                for i, p in enumerate(self.params):
                    x = self.params[i // 2].mm(x) + p.mm(x)
                return x

        class DictModule(nn.Module):
            def __init__(self):
                super(DictModule, self).__init__()
                self.params = nn.ParameterDict({
                    "left": nn.Parameter(torch.randn(5, 10)),
                    "right": nn.Parameter(torch.randn(5, 10)),
                })

            def forward(self, x, choice):
                x = self.params[choice].mm(x)
                return x

        return ListModule(), DictModule()

    (lt, dt), (lg, dg) = run_both(example)
    assert repr(lg) == norm(repr(lt)) and repr(dg) == norm(repr(dt))
    lg.load_state_dict(lt.state_dict())
    dg.load_state_dict(dt.state_dict())
    x = np.random.default_rng(4).standard_normal((10, 2)).astype(np.float32) * 0.05
    np.testing.assert_allclose(lg(graphnn.tensor(x)).detach().numpy(),
                               lt(torch.tensor(x)).detach().numpy(), rtol=1e-3, atol=1e-4)
    for choice in ("left", "right"):
        np.testing.assert_allclose(dg(graphnn.tensor(x), choice).detach().numpy(),
                                   dt(torch.tensor(x), choice).detach().numpy(), rtol=1e-4,
                                   atol=1e-5)


def test_apply_init_weights():
    def example(torch):
        nn = torch.nn
        printed = []

        @torch.no_grad()
        def init_weights(m):
            printed.append(repr(m))
            if type(m) == nn.Linear:
                m.weight.fill_(1.0)
                printed.append(repr(m.weight))

        net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
        printed.append(repr(net.apply(init_weights)))
        return printed

    t, g = run_both(example)
    assert g == t
    assert g[1] == "Parameter containing:\ntensor([[1., 1.],\n        [1., 1.]], " \
                   "requires_grad=True)"
