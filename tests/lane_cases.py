"""The device lane's models: every kernel family on the tiniest shapes that still reach it.

Each case is ``fn(lib) -> list of arrays`` written once against the PyTorch API and run
with ``lib = graphnn`` (under Oclgrind in both dialects, and on PoCL) and ``lib = torch``.
Parameters are set from a seeded numpy generator in ``named_parameters`` order, so both
libraries start from the same weights and see the same inputs; the arrays returned are
outputs, gradients and parameters after optimizer steps. ``RANDOM`` cases draw random
numbers (dropout), so PyTorch cannot replay them: they are compared between devices only.

``tests/lane_run.py`` runs the cases in a subprocess; ``tests/test_oclgrind.py`` checks
them. Shapes are tiny because Oclgrind interprets every work-item.
"""
from __future__ import annotations

import numpy as np


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _t(lib, array, grad: bool = False):
    t = lib.tensor(np.ascontiguousarray(array))
    if grad:
        t.requires_grad_(True)
    return t


def _init(lib, model, seed: int = 0):
    """Every parameter from one seeded generator (scaled by its fan-in, as torch's inits)."""
    rng = _rng(seed)
    with lib.no_grad():
        for _, p in model.named_parameters():
            fan = max(1, int(np.prod(p.shape[1:]))) if p.dim() > 1 else max(1, p.shape[0])
            v = rng.standard_normal(tuple(p.shape)) / fan ** 0.5
            p.copy_(lib.tensor(v.astype(np.float32)))
    return model


def _np(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def _grads(model) -> list:
    return [_np(p.grad) for _, p in model.named_parameters() if p.grad is not None]


def _train(lib, model, x, loss_fn, steps: int = 2, lr: float = 0.05) -> list:
    """``steps`` SGD-with-momentum steps; the last loss, the gradients and the weights."""
    opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x))
        loss.backward()
        opt.step()
    return [_np(loss)] + _grads(model) + [_np(p) for p in model.parameters()]


def lenet(lib):
    nn, F = lib.nn, lib.nn.functional

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 3)
            self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 6 * 6, 120), nn.Linear(120, 84), \
                nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    # one image and one step: its weight gradients are most of the lane's simulated work
    net = _init(lib, LeNet())
    x = _t(lib, _rng(1).standard_normal((1, 1, 32, 32)).astype(np.float32))
    y = _t(lib, np.array([7]))
    out = _train(lib, net, x, lambda o: F.cross_entropy(o, y), steps=1)
    with lib.no_grad():
        net.eval()
        out.append(_np(net(x).softmax(1)))
    return out


def mlp(lib):
    nn = lib.nn
    net = _init(lib, nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 7), nn.GELU(),
                                   nn.Linear(7, 3)))
    x = _t(lib, _rng(2).standard_normal((3, 5)).astype(np.float32))
    target = _t(lib, _rng(3).standard_normal((3, 3)).astype(np.float32))
    return _train(lib, net, x, lambda o: nn.functional.mse_loss(o, target))


def conv_bn_relu_pool(lib):
    nn = lib.nn
    net = _init(lib, nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3),
                                   nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                   nn.Linear(27, 4)))
    x = _t(lib, _rng(4).standard_normal((2, 2, 6, 6)).astype(np.float32))
    y = _t(lib, np.array([0, 3]))
    out = _train(lib, net, x, lambda o: nn.functional.cross_entropy(o, y))
    out += [_np(net[1].running_mean), _np(net[1].running_var)]
    with lib.no_grad():
        net.eval()
        out.append(_np(net(x)))
    return out


def decoder(lib):
    """ConvTranspose (strided, output padding), nearest and bilinear upsampling, conv rows."""
    nn = lib.nn
    net = _init(lib, nn.Sequential(
        nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.Upsample(scale_factor=2), nn.Conv2d(3, 2, 3, padding=1),
        nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=False),
        nn.Conv2d(2, 1, 1)))
    x = _t(lib, _rng(5).standard_normal((1, 4, 2, 3)).astype(np.float32), grad=True)
    target = _t(lib, _rng(6).standard_normal((1, 1, 12, 18)).astype(np.float32))
    out = _train(lib, net, x, lambda o: nn.functional.mse_loss(o, target), steps=1)
    return out + [_np(x.grad)]


def conv_gemm(lib):
    """Convolutions as GEMMs over im2col columns (``ir/passes/conv_gemm.py``): a strided
    3 x 3 (the element kernel), a padded 3 x 3 on rows of one vector and a lane (the row
    kernel; direct in the GPU dialect) and a 1 x 1 convolution of 16 channels, both
    gradients."""
    nn = lib.nn
    net = _init(lib, nn.Sequential(nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU(),
                                   nn.Conv2d(16, 16, 3, padding=1), nn.Conv2d(16, 16, 1)))
    x = _t(lib, _rng(11).standard_normal((1, 16, 9, 9)).astype(np.float32), grad=True)
    target = _t(lib, _rng(12).standard_normal((1, 16, 5, 5)).astype(np.float32))
    out = _train(lib, net, x, lambda o: nn.functional.mse_loss(o, target), steps=1)
    return out + [_np(x.grad)]


def pooling(lib):
    """Overlapping max pooling (argmax + scatter_set backward), unpooling, average pooling."""
    nn, F = lib.nn, lib.nn.functional
    x = _t(lib, _rng(7).standard_normal((1, 2, 5, 7)).astype(np.float32), grad=True)
    p, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    u = F.max_unpool2d(p, idx, 3, 2, 1, output_size=(5, 7))
    a = F.avg_pool2d(x, 2, ceil_mode=True)
    ad = F.adaptive_avg_pool2d(x, (2, 3))
    loss = (p * p).sum() + (u * x).sum() + a.sum() * 0.5 + (ad * ad).sum()
    loss.backward()
    return [_np(p), _np(idx), _np(u), _np(a), _np(ad), _np(x.grad)]


def lstm(lib):
    nn = lib.nn
    net = _init(lib, nn.LSTM(3, 4, batch_first=True))
    x = _t(lib, _rng(8).standard_normal((2, 3, 3)).astype(np.float32), grad=True)
    out, (h, c) = net(x)
    ((out * out).sum() + h.sum() + c.sum()).backward()
    return [_np(out), _np(h), _np(c), _np(x.grad)] + _grads(net)


def transformer(lib):
    nn = lib.nn
    layer = _init(lib, nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True))
    x = _t(lib, _rng(9).standard_normal((2, 3, 8)).astype(np.float32), grad=True)
    mask = _t(lib, np.array([[False, False, True], [False, False, False]]))
    y = layer(x, src_key_padding_mask=mask)
    (y * y).sum().backward()
    return [_np(y), _np(x.grad)] + _grads(layer)


def long_rows(lib):
    """Sums over runs long enough for the GPU dialect's work-group reduction
    (codegen/workgroup.py): layer norm over 300 features and a plain row sum, forward and
    backward."""
    x = _t(lib, (_rng(12).standard_normal((3, 300)) * 2 + 1).astype(np.float32), grad=True)
    w = _t(lib, _rng(13).standard_normal(300).astype(np.float32), grad=True)
    y = lib.nn.functional.layer_norm(x, (300,), w, None, 1e-5)
    s = (x * x).sum(1)
    ((y * y).sum() + s.sum()).backward()
    return [_np(y), _np(s), _np(x.grad), _np(w.grad)]


def embedding(lib):
    nn = lib.nn
    emb = _init(lib, nn.Embedding(10, 4, padding_idx=3))
    ids = _t(lib, np.array([[1, 3, 9, 1], [5, 5, 5, 0]]))
    e = emb(ids)
    (e * e).sum().backward()
    return [_np(e), _np(emb.weight.grad)]


def losses(lib):
    """The losses with class-index targets, forward and gradient (CTC, a composition of
    the same gathers and log-sum-exps unrolled over time, is left to tests/test_ctc.py)."""
    F = lib.nn.functional
    rng = _rng(10)
    x = _t(lib, rng.standard_normal((4, 5)).astype(np.float32), grad=True)
    y = _t(lib, np.array([1, 0, 4, 2]))
    w = _t(lib, np.array([1.0, 2.0, 0.5, 1.0, 1.5], np.float32))
    terms = [F.cross_entropy(x, y, weight=w, ignore_index=2),
             F.cross_entropy(x, y, label_smoothing=0.1),
             F.nll_loss(F.log_softmax(x, 1), y, reduction="sum"),
             F.multi_margin_loss(x, y)]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    total.backward()
    return [_np(t) for t in terms] + [_np(x.grad)]


OPTIMIZERS = {
    "SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": dict(lr=0.05, amsgrad=True), "AdamW": dict(lr=0.05), "Adamax": dict(lr=0.05),
    "NAdam": dict(lr=0.05), "RAdam": dict(lr=0.05), "RMSprop": dict(lr=0.01, centered=True),
    "Adagrad": dict(lr=0.1), "Adadelta": dict(lr=1.0), "LBFGS": dict(lr=0.5, max_iter=3)}


def optimizers(lib):
    """Two steps of each optimizer on a small regression."""
    rng = _rng(11)
    x = _t(lib, rng.standard_normal((4, 3)).astype(np.float32))
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    b0 = rng.standard_normal(2).astype(np.float32)
    out = []
    for name, kw in OPTIMIZERS.items():
        w, b = _t(lib, w0, grad=True), _t(lib, b0, grad=True)
        opt = getattr(lib.optim, name)([w, b], **kw)

        def closure():
            opt.zero_grad()
            loss = ((x @ w + b) ** 2).sum()
            loss.backward()
            return loss

        for _ in range(2):
            opt.step(closure)
        out += [_np(w), _np(b)]
    return out


def indexing(lib):
    """Index writes, sorts and long sums: int64 scatter_add, both argsort kernels, the
    vectorised and the two-stage sums."""
    rng = _rng(12)
    i = lib.zeros(4, dtype=lib.int64).index_add(0, _t(lib, np.array([1, 1, 3])),
                                                 _t(lib, np.array([1, 2, 3])))
    v = _t(lib, rng.standard_normal((3, 40)).astype(np.float32))
    r = _t(lib, rng.standard_normal((8, 3)).astype(np.float32))
    big = _t(lib, rng.standard_normal((3, 9000)).astype(np.float32))
    return [_np(i), _np(v.sort(1).indices), _np(v.sort(1).values), _np(r.argsort(0)),
            _np(v.sum(1)), _np((big * big).sum()), _np(big.amax(0))]


def float64(lib):
    """Double precision: scatter_add's 64-bit compare-and-swap, a softmax, a GEMM."""
    x = lib.zeros(5, 3, dtype=lib.float64)
    s = x.scatter_add(0, _t(lib, np.array([[0, 4, 4], [4, 4, 0]])),
                      lib.ones(2, 3, dtype=lib.float64))
    a = _t(lib, _rng(14).standard_normal((4, 6)))
    return [_np(s), _np(a.softmax(1)), _np(a @ a.T)]


def packed(lib):
    """GEMMs reading B from packed panels (an L2 taken as 1 byte packs every product): a
    Linear's forward (its weight transposed into panels) and backward, a batched product."""
    rt = None
    if lib.__name__ == "graphnn":
        import dataclasses
        from graphnn.runtime import get_runtime
        rt = get_runtime()
        saved, rt.dialect = rt.dialect, dataclasses.replace(rt.dialect, l2_bytes=1)
    try:
        lin = _init(lib, lib.nn.Linear(9, 17), seed=15)
        rng = _rng(15)
        x = _t(lib, rng.standard_normal((5, 9)).astype(np.float32), grad=True)
        out = lin(x).relu()
        out.sum().backward()
        a = _t(lib, rng.standard_normal((2, 5, 9)).astype(np.float32), grad=True)
        b = _t(lib, rng.standard_normal((2, 9, 17)).astype(np.float32), grad=True)
        (a @ b).sum().backward()
        return [_np(out), _np(x.grad), _np(a.grad), _np(b.grad)] + _grads(lin)
    finally:
        if rt is not None:
            rt.dialect = saved


def dropout(lib):
    """Random numbers (counter-based): dropout masks in training and their gradient."""
    nn = lib.nn
    lib.manual_seed(0)
    net = _init(lib, nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.3), nn.ReLU(),
                                   nn.Linear(8, 2)))
    x = _t(lib, _rng(13).standard_normal((3, 6)).astype(np.float32))
    out = net(x)
    (out * out).sum().backward()
    return [_np(out)] + _grads(net)


CASES = {"lenet": lenet, "mlp": mlp, "conv_bn_relu_pool": conv_bn_relu_pool,
         "decoder": decoder, "conv_gemm": conv_gemm, "pooling": pooling, "lstm": lstm,
         "transformer": transformer,
         "long_rows": long_rows, "embedding": embedding, "losses": losses, "optimizers": optimizers,
         "indexing": indexing, "float64": float64, "packed": packed, "dropout": dropout}
RANDOM = {"dropout"}
