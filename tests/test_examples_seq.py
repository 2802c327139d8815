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


def test_char_lm_training_steps_match_pytorch():
    """Two SGD steps of the character Transformer (dropout off) from the same weights on the
    same windows of pydoc's topics."""
    import char_lm
    text = char_lm.corpus()[:5000]
    itos = char_lm.vocabulary(text)
    ids = np.array([itos.index(c) for c in text], np.int64)
    torch.manual_seed(0)
    ref = char_lm.make_model(torch, len(itos), dropout=0.0)
    ours = char_lm.make_model(graphnn, len(itos), dropout=0.0)
    ours.load_state_dict({k: graphnn.tensor(v.detach().numpy())
                          for k, v in ref.state_dict().items()})
    losses = []
    for lib, model in ((graphnn, ours), (torch, ref)):
        opt = lib.optim.SGD(model.parameters(), lr=0.5)
        data = char_lm.batches(ids, 4, np.random.default_rng(1))
        run = []
        for _ in range(2):
            x, y = next(data)
            opt.zero_grad()
            logits = model(lib.tensor(x))
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, len(itos)),
                                                   lib.tensor(y).reshape(-1))
            loss.backward()
            opt.step()
            run.append(float(loss.item()))
        losses.append(run)
    np.testing.assert_allclose(losses[0], losses[1], rtol=2e-4)
