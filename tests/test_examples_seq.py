"""The sequence-model examples: the LSTM tagger trains exactly like PyTorch from the same
initial weights and learns the tags."""
from __future__ import annotations

import os
import sys

import numpy as np
import torch

import graphnn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import lstm_tagger  # noqa: E402


def test_lstm_tagger_trains_like_pytorch():
    torch.manual_seed(0)
    _, ref_losses, state = lstm_tagger.train(torch, epochs=12)
    _, losses, _ = lstm_tagger.train(graphnn, epochs=12, state=state)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)
    assert losses[-1] < losses[0]
