"""``graphnn.distributions``: ``Categorical``, ``Normal`` and ``Bernoulli`` with PyTorch's
constructors, ``sample``/``rsample``, ``log_prob``, ``entropy``, ``mean``, ``variance``;
samples come from graphnn's generator (device ops inside a traced forward)."""
from graphnn.distributions.distributions import Bernoulli, Categorical, Distribution, Normal

__all__ = ["Distribution", "Categorical", "Normal", "Bernoulli"]
