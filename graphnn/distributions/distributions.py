"""The distributions themselves; formulas as torch.distributions computes them."""
from __future__ import annotations

import math

from graphnn import _ops, _random
from graphnn._dispatch import apply
from graphnn._tensor import Tensor
from graphnn.ir.types import broadcast_shapes
from graphnn.nn import functional as F


def _shape(sample_shape) -> tuple:
    return tuple(sample_shape) if not isinstance(sample_shape, int) else (sample_shape,)


def _as_tensor(v, like: Tensor | None = None) -> Tensor:
    if isinstance(v, Tensor):
        return v
    from graphnn._creation import tensor
    return tensor(float(v)) if like is None else like * 0.0 + float(v)


class Distribution:
    """Base class: ``batch_shape``, ``event_shape`` and sample shapes as PyTorch's."""

    has_rsample = False

    def __init__(self, batch_shape=(), event_shape=()):
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)

    @property
    def batch_shape(self):
        from graphnn._size import Size
        return Size(self._batch_shape)

    @property
    def event_shape(self):
        from graphnn._size import Size
        return Size(self._event_shape)

    def _extended_shape(self, sample_shape=()) -> tuple:
        return _shape(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape=()):
        from graphnn.autograd import no_grad
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError

    @property
    def stddev(self):
        return apply("sqrt", self.variance)

    def __repr__(self) -> str:
        parts = []
        for k in self._params:
            v = getattr(self, k)
            parts.append(f"{k}: {v if v.numel() == 1 else v.shape}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Normal(Distribution):
    """N(loc, scale^2); ``rsample`` is differentiable (loc + scale * eps)."""

    has_rsample = True
    _params = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        self.loc = _as_tensor(loc)
        self.scale = _as_tensor(scale)
        shape = broadcast_shapes(tuple(self.loc.shape), tuple(self.scale.shape))
        self.loc, self.scale = _ops.expand(self.loc, shape), _ops.expand(self.scale, shape)
        super().__init__(shape)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self.scale * self.scale

    def rsample(self, sample_shape=()):
        eps = _random.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        var = self.scale * self.scale
        return -((value - self.loc) ** 2) / (2 * var) - apply("log", self.scale) - \
            math.log(math.sqrt(2 * math.pi))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + apply("log", self.scale)


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or sigmoid(``logits``)), else 0."""

    _params = ("probs",)

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = _as_tensor(probs)
            eps = 1.1920928955078125e-07     # float32 eps: PyTorch's probs_to_logits clamp
            p = _ops.clamp(self.probs, eps, 1 - eps)
            self.logits = apply("log", p) - apply("log", 1.0 - p)
        else:
            self.logits = _as_tensor(logits)
            self.probs = apply("sigmoid", self.logits)
        self._params = ("probs",) if probs is not None else ("logits",)
        super().__init__(tuple(self.probs.shape))

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1.0 - self.probs)

    def sample(self, sample_shape=()):
        p = _ops.expand(self.probs.detach(), self._extended_shape(sample_shape))
        return _random.bernoulli(p)

    def log_prob(self, value):
        return -F.binary_cross_entropy_with_logits(self.logits, _ops.expand(
            _as_tensor(value), tuple(self.logits.shape)), reduction="none")

    def entropy(self):
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Categorical(Distribution):
    """A class index in [0, K) with probabilities ``probs`` (normalised) or
    softmax(``logits``) over the last dim."""

    _params = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            probs = _as_tensor(probs)
            self.probs = probs / _ops.sum(probs, -1, keepdim=True)
            eps = 1.1920928955078125e-07
            self.logits = apply("log", _ops.clamp(self.probs, eps, 1 - eps))
        else:
            logits = _as_tensor(logits)
            self.logits = logits - apply("logsumexp", logits, axes=(logits.dim() - 1,),
                                         keepdim=True)
            self.probs = apply("exp", self.logits)
        self._num_events = self.probs.shape[-1]
        super().__init__(tuple(self.probs.shape[:-1]))

    @property
    def mean(self):
        return _ops.mul(self.probs, float("nan"))[..., 0]

    @property
    def variance(self):
        return _ops.mul(self.probs, float("nan"))[..., 0]

    def sample(self, sample_shape=()):
        shape = _shape(sample_shape)
        probs = _ops.reshape(self.probs.detach(), (-1, self._num_events))
        n = 1
        for s in shape:
            n *= s
        draws = _random.multinomial(probs, max(n, 1), True)          # (B, n)
        draws = _ops.reshape(_ops.t(draws), shape + self._batch_shape) if n else \
            _ops.reshape(draws, shape + self._batch_shape)
        return draws

    def log_prob(self, value):
        value = _as_tensor(value)
        shape = tuple(broadcast_shapes(tuple(value.shape), self._batch_shape))
        logits = _ops.expand(self.logits, shape + (self._num_events,))
        idx = _ops.unsqueeze(_ops.expand(value, shape), -1)
        return _ops.squeeze(apply("gather", logits, idx, axis=len(shape)), -1)

    def entropy(self):
        eps_logits = _ops.clamp(self.logits, min=-3.4028234663852886e38)
        return -_ops.sum(eps_logits * self.probs, -1)
