"""The all-MiniLM-L6-v2 example: graphnn's sentence embeddings equal a torch run of the same
model code with the same real weights (a 6-layer BERT)."""
from __future__ import annotations

import os
import sys

import numpy as np
import torch

import graphnn

from tests.conftest import assert_close

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import minilm_embed as minilm  # noqa: E402


def test_minilm_embeddings_match_torch():
    ids, mask = minilm.tokenize(["The cat sits on the mat.", "Graphs fuse kernels."])
    ours = minilm.load(graphnn)
    ref = minilm.load(torch)
    with graphnn.no_grad():
        e_g = ours(graphnn.tensor(ids), graphnn.tensor(mask)).numpy()
    with torch.no_grad():
        e_t = ref(torch.tensor(ids), torch.tensor(mask)).numpy()
    assert_close(e_g, e_t, rtol=1e-4, atol=2e-5)
    assert np.allclose(np.linalg.norm(e_g, axis=1), 1.0, atol=1e-5)
