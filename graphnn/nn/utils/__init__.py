"""``graphnn.nn.utils``: gradient clipping and variable-length sequences (``rnn``)."""
from graphnn.nn.utils import rnn  # noqa: F401
from graphnn.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
