"""Module object model against torch.nn 2.13: registration, lookup, iteration order, modes,
state_dict keys, repr strings, attribute errors. Each structure is built twice from the
same code, once with ``torch`` and once with ``graphnn`` as the library."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import graphnn

LIBS = (torch, graphnn)


def norm(s: str) -> str:
    return re.sub(r"\btorch\b", "graphnn", s)


def both(build):
    return build(torch), build(graphnn)


def raises_same(fn_t, fn_g):
    """Both raise; same exception type and (normalized) message."""
    with pytest.raises(Exception) as et:
        fn_t()
    with pytest.raises(Exception) as eg:
        fn_g()
    assert type(eg.value) is type(et.value) or isinstance(eg.value, type(et.value)), \
        (et.value, eg.value)
    # graphnn's message may start with the module and its inputs' shapes
    assert norm(str(eg.value)).endswith(norm(str(et.value)))


def make_net(lib):
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.register_buffer("steps", lib.zeros(1))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)
            self.scale = nn.Parameter(lib.ones(1))
            self.head = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
            self.act = nn.Tanh()

        def forward(self, x):
            return self.head(x) * self.scale

    return Net()


def test_named_members_order():
    t, g = both(make_net)
    for fn in ("named_parameters", "named_buffers", "named_modules", "named_children"):
        assert [n for n, _ in getattr(g, fn)()] == [n for n, _ in getattr(t, fn)()], fn
    assert [n for n, _ in g.named_parameters(recurse=False)] == \
        [n for n, _ in t.named_parameters(recurse=False)]
    assert [n for n, _ in g.named_parameters(prefix="m")] == \
        [n for n, _ in t.named_parameters(prefix="m")]
    assert [n for n, _ in g.named_modules(prefix="root")] == \
        [n for n, _ in t.named_modules(prefix="root")]
    assert [tuple(p.shape) for p in g.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert [tuple(b.shape) for b in g.buffers()] == [tuple(b.shape) for b in t.buffers()]
    assert len(list(g.children())) == len(list(t.children())) == 3
    assert len(list(g.modules())) == len(list(t.modules()))


def test_state_dict_keys_and_values():
    t, g = both(make_net)
    assert list(g.state_dict().keys()) == list(t.state_dict().keys())
    assert "scratch" not in g.state_dict()
    sd = g.state_dict(prefix="p.")
    assert list(sd) == list(t.state_dict(prefix="p."))
    kv = g.state_dict(keep_vars=True)
    assert kv["scale"] is g.scale and kv["scale"].requires_grad
    assert not g.state_dict()["scale"].requires_grad
    assert isinstance(g.state_dict()["scale"], graphnn.Tensor)
    assert type(g.state_dict()).__name__ == type(t.state_dict()).__name__ == "OrderedDict"


def test_shared_module_and_duplicates():
    def build(lib):
        nn = lib.nn
        lin = nn.Linear(2, 2)
        m = nn.Sequential(lin, nn.ReLU(), lin)
        return m

    t, g = both(build)
    assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in g.named_modules(remove_duplicate=False)] == \
        [n for n, _ in t.named_modules(remove_duplicate=False)]
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in g.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in t.named_parameters(remove_duplicate=False)]
    assert list(g.state_dict()) == list(t.state_dict())
    assert [n for n, _ in g.named_children()] == [n for n, _ in t.named_children()]


def test_get_submodule_parameter_buffer():
    t, g = both(make_net)
    assert g.get_submodule("head.0") is g.head[0]
    assert g.get_submodule("") is g
    assert g.get_parameter("head.2.bias") is g.head[2].bias
    assert g.get_parameter("scale") is g.scale
    assert g.get_buffer("steps") is g.steps
    for call in (lambda m: m.get_submodule("head.5"), lambda m: m.get_submodule("nope"),
                 lambda m: m.get_submodule("scale"), lambda m: m.get_parameter("head.0.nope"),
                 lambda m: m.get_parameter("steps"), lambda m: m.get_buffer("scale"),
                 lambda m: m.get_buffer("conv.nope")):
        raises_same(lambda: call(t), lambda: call(g))


def test_train_eval_requires_grad_zero_grad():
    t, g = both(make_net)
    for m in (t, g):
        assert m.training and m.head[0].training
        assert m.eval() is m
        assert not m.training and not m.head[1].training
        assert m.train() is m and m.head[1].training
        m.train(False)
        assert not m.conv.training
    raises_same(lambda: t.train("yes"), lambda: g.train("yes"))
    assert g.requires_grad_(False) is g
    assert not any(p.requires_grad for p in g.parameters())
    g.requires_grad_()
    assert all(p.requires_grad for p in g.parameters())
    g.train()
    out = g(graphnn.ones(2, 4))
    out.sum().backward()
    assert g.head[0].weight.grad is not None
    g.zero_grad(set_to_none=False)
    assert g.head[0].weight.grad is not None
    assert float(g.head[0].weight.grad.abs().sum()) == 0.0
    g.zero_grad()
    assert all(p.grad is None for p in g.parameters())


def test_apply_order_and_return():
    t, g = both(make_net)
    seen_t, seen_g = [], []
    assert t.apply(lambda m: seen_t.append(type(m).__name__)) is t
    assert g.apply(lambda m: seen_g.append(type(m).__name__)) is g
    assert seen_g == seen_t


def test_repr_of_every_layer():
    def build(lib):
        nn = lib.nn
        return nn.Sequential(
            nn.Linear(3, 4), nn.Linear(3, 4, bias=False), nn.Conv2d(1, 2, 3),
            nn.Conv2d(2, 4, (3, 5), stride=2, padding=1, dilation=2, groups=2, bias=False),
            nn.MaxPool2d(2), nn.MaxPool2d((2, 3), stride=1, padding=1), nn.ReLU(),
            nn.ReLU(inplace=True), nn.ReLU6(), nn.LeakyReLU(), nn.LeakyReLU(0.2, True),
            nn.PReLU(), nn.PReLU(3, 0.1), nn.Tanh(), nn.Sigmoid(), nn.Softmax(dim=1),
            nn.Softmax(), nn.LogSoftmax(dim=-1), nn.Flatten(), nn.Flatten(0, 2), nn.Dropout(),
            nn.Dropout(0.3), nn.Identity(), nn.CrossEntropyLoss(), nn.NLLLoss(), nn.MSELoss(),
            nn.Conv1d(2, 3, 3), nn.Conv1d(2, 4, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm1d(4), nn.BatchNorm2d(3, eps=1e-3, momentum=None, affine=False),
            nn.BatchNorm3d(2, track_running_stats=False),
            nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh()]),
            nn.ModuleDict({"a": nn.ReLU(), "b": nn.Linear(1, 1)}),
            nn.Sequential())

    t, g = both(build)
    assert norm(repr(g)) == norm(repr(t))
    for a, b in zip(g, t):
        assert repr(a) == norm(repr(b)), type(b).__name__


def test_custom_extra_repr_and_nesting():
    def build(lib):
        nn = lib.nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)

            def extra_repr(self):
                return "width=2\nmultiline=yes"

        class Leaf(nn.Module):
            def extra_repr(self):
                return "k=1"

        m = nn.Module()
        m.block = Block()
        m.leaf = Leaf()
        m.empty = nn.Module()
        return m

    t, g = both(build)
    assert repr(g) == repr(t)


def test_setattr_errors():
    def early(lib):
        class Bad(lib.nn.Module):
            def __init__(self):
                self.w = lib.nn.Parameter(lib.ones(1))

        return Bad()

    def early_module(lib):
        class Bad(lib.nn.Module):
            def __init__(self):
                self.fc = lib.nn.Linear(1, 1)

        return Bad()

    def early_buffer(lib):
        class Bad(lib.nn.Module):
            def __init__(self):
                self.register_buffer("b", lib.ones(1))

        return Bad()

    for f in (early, early_module, early_buffer):
        raises_same(lambda: f(torch), lambda: f(graphnn))

    t, g = both(make_net)

    def assign_tensor_to_param(m, lib):
        m.scale = lib.ones(1)

    def assign_int_to_module(m, lib):
        m.conv = 3

    def assign_int_to_buffer(m, lib):
        m.steps = 3

    for f in (assign_tensor_to_param, assign_int_to_module, assign_int_to_buffer):
        raises_same(lambda: f(t, torch), lambda: f(g, graphnn))
    raises_same(lambda: t.missing, lambda: g.missing)
    raises_same(lambda: t.register_parameter("a.b", None),
                lambda: g.register_parameter("a.b", None))
    raises_same(lambda: t.register_parameter("", None), lambda: g.register_parameter("", None))
    raises_same(lambda: t.register_parameter("act", None),
                lambda: g.register_parameter("act", None))
    raises_same(lambda: t.register_parameter("x", torch.ones(1)),
                lambda: g.register_parameter("x", graphnn.ones(1)))
    raises_same(lambda: t.register_buffer("y", 3), lambda: g.register_buffer("y", 3))
    raises_same(lambda: t.register_buffer("conv", None), lambda: g.register_buffer("conv", None))
    raises_same(lambda: t.add_module("x", 3), lambda: g.add_module("x", 3))
    raises_same(lambda: t.add_module(3, None), lambda: g.add_module(3, None))
    raises_same(lambda: t.add_module("scale", None), lambda: g.add_module("scale", None))


def test_setattr_reassignment_moves_between_kinds():
    t, g = both(make_net)
    for m, lib in ((t, torch), (g, graphnn)):
        m.scale = None                       # a parameter slot may hold None
        m.act = None                         # a module slot may hold None
        m.steps = lib.ones(3)                # a buffer slot takes a new tensor
        m.plain = lib.ones(2)                # a plain tensor is neither parameter nor buffer
        m.conv = lib.nn.Parameter(lib.ones(1))   # a module name rebinds to a parameter
        m.register_module("extra", lib.nn.ReLU())
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
    assert list(g.state_dict()) == list(t.state_dict())
    assert tuple(g.steps.shape) == (3,)
    for m in (t, g):
        del m.extra
        del m.steps
        del m.conv
        del m.plain
    assert list(g.state_dict()) == list(t.state_dict())
    raises_same(lambda: t.steps, lambda: g.steps)
    assert "head" in dir(g) and "act" in dir(g) and "scale" in dir(g)


def test_register_buffer_persistence():
    t, g = both(make_net)
    for m, lib in ((t, torch), (g, graphnn)):
        m.register_buffer("steps", lib.ones(1), persistent=False)
        m.register_buffer("scratch", lib.ones(2))
        m.register_buffer("none_buf", None)
    assert list(g.state_dict()) == list(t.state_dict())
    assert [n for n, _ in g.named_buffers()] == [n for n, _ in t.named_buffers()]


def test_module_init_rejects_args_and_missing_forward():
    raises_same(lambda: torch.nn.Module(3), lambda: graphnn.nn.Module(3))
    raises_same(lambda: torch.nn.Module()(torch.ones(1)),
                lambda: graphnn.nn.Module()(graphnn.ones(1)))


def test_parameter_basics():
    p_t = torch.nn.Parameter(torch.ones(2))
    p_g = graphnn.nn.Parameter(graphnn.ones(2))
    assert p_g.requires_grad and p_t.requires_grad
    assert isinstance(p_g, graphnn.Tensor)
    assert repr(p_g) == norm(repr(p_t))
    q = graphnn.nn.Parameter(graphnn.ones(2), requires_grad=False)
    assert not q.requires_grad
    e_t, e_g = torch.nn.Parameter(), graphnn.nn.Parameter()
    assert tuple(e_g.shape) == tuple(e_t.shape) == (0,)
    assert e_g.dtype == graphnn.float32
    assert isinstance(p_g.data, graphnn.Tensor) and not isinstance(p_g.data,
                                                                     graphnn.nn.Parameter)


def test_module_to_dtype_and_device():
    g = make_net(graphnn)
    assert g.double() is g
    assert g.head[0].weight.dtype == graphnn.float64
    assert g.steps.dtype == graphnn.float64
    x = graphnn.ones(2, 4, dtype=graphnn.float64)
    assert g(x).dtype == graphnn.float64
    assert g.float() is g and g.head[0].weight.dtype == graphnn.float32
    w = g.head[0].weight
    assert g.to(graphnn.float64) is g and g.head[0].weight is w   # moved in place
    assert g.to(dtype=graphnn.float32).head[0].weight.dtype == graphnn.float32
    assert g.type(graphnn.float64).scale.dtype == graphnn.float64
    g.float()
    assert g.cpu() is g and g.to("cpu") is g and g.to(graphnn.device("cpu")) is g
    assert g.to("cpu", graphnn.float32) is g
    with pytest.raises(TypeError, match="floating point"):
        g.to(graphnn.int64)
    with pytest.raises(RuntimeError, match="device"):
        g.to("nosuchdevice")


def test_half_and_bfloat16_convert_in_place():
    t, g = both(lambda L: L.nn.Sequential(L.nn.Linear(3, 2), L.nn.BatchNorm1d(2)))
    g.load_state_dict({k: graphnn.tensor(v.numpy()) for k, v in t.state_dict().items()})
    w = g[0].weight
    for conv, want in (("half", "float16"), ("bfloat16", "bfloat16"), ("float", "float32")):
        assert getattr(g, conv)() is g and getattr(t, conv)() is t
        assert g[0].weight is w and w.dtype == getattr(graphnn, want)   # p.data replaced
        assert g[1].num_batches_tracked.dtype == graphnn.int64          # ints stay
        for (k, a), b in zip(g.state_dict().items(), t.state_dict().values()):
            assert str(a.dtype) == str(b.dtype).replace("torch", "graphnn"), k
            np.testing.assert_array_equal(a.float().numpy(), b.float().numpy(), err_msg=k)


def test_device_objects_and_cuda():
    d = graphnn.device("cpu")
    assert str(d) == "cpu" and repr(d) == "device(type='cpu')"
    assert graphnn.device("cuda:1") == graphnn.device("cuda", 1)
    assert str(graphnn.device("cuda", 0)) == "cuda:0"
    assert isinstance(graphnn.cuda.is_available(), bool)
    dev = graphnn.device("cuda" if graphnn.cuda.is_available() else "cpu")
    m = graphnn.nn.Linear(2, 2).to(dev)
    assert isinstance(m, graphnn.nn.Linear)
    assert graphnn.ones(1).device.type in ("cpu", "gpu")


def test_deepcopy_copies_parameters_buffers_and_grads():
    import copy
    for L in (graphnn, torch):
        m = L.nn.Sequential(L.nn.Linear(2, 3), L.nn.BatchNorm1d(3))
        m(L.ones(4, 2) * L.arange(4.0).reshape(4, 1)).sum().backward()
        c = copy.deepcopy(m)
        assert c[0].weight is not m[0].weight and type(c[0].weight) is type(m[0].weight)
        assert c[0].weight.requires_grad
        assert np.array_equal(c[0].weight.detach().numpy(), m[0].weight.detach().numpy())
        assert c[0].weight.grad is None            # a Parameter's copy has no gradient
        assert np.array_equal(c[1].running_mean.numpy(), m[1].running_mean.numpy())
        with L.no_grad():
            c[0].weight.add_(1.0)
        assert not np.array_equal(c[0].weight.detach().numpy(), m[0].weight.detach().numpy())
        with pytest.raises(RuntimeError, match="Only Tensors created explicitly"):
            copy.deepcopy(m[0].weight * 2)
