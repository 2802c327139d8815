"""A small character-level Transformer language model trained on the English prose in the
standard library's ``pydoc_data.topics``, with a progress bar, printing the loss and a
sampled continuation.

    python examples/char_lm.py [steps]

``make_model(lib, ...)`` and ``batches(...)`` run on graphnn or torch, so the test can
compare training steps of the two."""
from __future__ import annotations

import sys

import numpy as np

CONTEXT, D_MODEL, HEADS, LAYERS = 64, 64, 4, 2


def corpus() -> str:
    from pydoc_data.topics import topics
    return "\n".join(topics[k] for k in sorted(topics))


def vocabulary(text: str) -> list[str]:
    return sorted(set(text))


def make_model(lib, vocab: int, context: int = CONTEXT, dropout: float = 0.1):
    nn = lib.nn

    class CharTransformer(nn.Module):
        """Token and position embeddings, a causal Transformer encoder, a linear head:
        (N, T) character ids -> (N, T, vocab) logits."""

        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, D_MODEL)
            self.pos = nn.Embedding(context, D_MODEL)
            layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, 4 * D_MODEL, dropout,
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(D_MODEL)
            self.head = nn.Linear(D_MODEL, vocab)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(
                context))
            self.register_buffer("positions", lib.arange(context))

        def forward(self, ids):
            x = self.tok(ids) + self.pos(self.positions)
            return self.head(self.norm(self.encoder(x, mask=self.mask)))

    return CharTransformer()


def batches(ids: np.ndarray, batch: int, rng: np.random.Generator, context: int = CONTEXT):
    """Endless (inputs, targets) batches of random windows (N, context) int64."""
    while True:
        starts = rng.integers(0, ids.size - context - 1, batch)
        x = np.stack([ids[s:s + context] for s in starts])
        y = np.stack([ids[s + 1:s + context + 1] for s in starts])
        yield x, y


def sample(lib, model, prompt: str, stoi: dict, itos: list, n: int = 200) -> str:
    """Continues ``prompt`` by ``n`` characters drawn from the model's softmax; the window
    is always CONTEXT long (left-padded), so one compiled graph serves every step."""
    ids = [stoi.get(c, 0) for c in prompt][-CONTEXT:]
    out = []
    with lib.no_grad():
        for _ in range(n):
            window = [0] * (CONTEXT - len(ids)) + ids
            logits = model(lib.tensor([window]))[0, -1]
            nxt = int(lib.multinomial(lib.softmax(logits, -1), 1).item())
            ids = (ids + [nxt])[-CONTEXT:]
            out.append(itos[nxt])
    return "".join(out)


def main(steps: int = 300) -> None:
    import graphnn
    from tqdm import tqdm
    graphnn.manual_seed(0)
    text = corpus()
    itos = vocabulary(text)
    stoi = {c: i for i, c in enumerate(itos)}
    ids = np.array([stoi[c] for c in text], np.int64)
    model = make_model(graphnn, len(itos))
    opt = graphnn.optim.AdamW(model.parameters(), lr=3e-3)
    loss_fn = graphnn.nn.CrossEntropyLoss()
    data = batches(ids, 16, np.random.default_rng(0))
    with tqdm(range(steps), desc="training", unit="step") as bar:
        for _ in bar:
            x, y = next(data)
            opt.zero_grad()
            logits = model(graphnn.tensor(x))
            loss = loss_fn(logits.reshape(-1, len(itos)), graphnn.tensor(y).reshape(-1))
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    prompt = "The for statement "
    print(f"\nloss {loss.item():.3f}; sample after {prompt!r}:")
    print(prompt + sample(graphnn, model, prompt, stoi, itos))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
