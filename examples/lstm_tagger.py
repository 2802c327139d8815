"""The seed's ``LSTMTagger`` (Embedding -> LSTM -> Linear -> log_softmax), trained on part
of speech tags as in PyTorch's sequence-models tutorial, and printing its tags.

    python examples/lstm_tagger.py

``train(lib)`` runs on graphnn or on torch, so the test can compare the two runs."""
from __future__ import annotations

import numpy as np

TRAINING_DATA = [
    ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
]
TAG_TO_IX = {"DET": 0, "NN": 1, "V": 2}
EMBEDDING_DIM = HIDDEN_DIM = 6


def word_index() -> dict[str, int]:
    ix: dict[str, int] = {}
    for sent, _ in TRAINING_DATA:
        for word in sent:
            ix.setdefault(word, len(ix))
    return ix


def make_model(lib, vocab_size: int):
    class LSTMTagger(lib.nn.Module):
        def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
            super().__init__()
            self.hidden_dim = hidden_dim
            self.word_embeddings = lib.nn.Embedding(vocab_size, embedding_dim)
            self.lstm = lib.nn.LSTM(embedding_dim, hidden_dim)
            self.hidden2tag = lib.nn.Linear(hidden_dim, tagset_size)

        def forward(self, sentence):
            embeds = self.word_embeddings(sentence)
            lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
            tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
            return lib.nn.functional.log_softmax(tag_space, dim=1)

    return LSTMTagger(EMBEDDING_DIM, HIDDEN_DIM, vocab_size, len(TAG_TO_IX))


def train(lib, epochs: int = 300, state: dict | None = None, progress=None):
    """Trains from ``state`` (numpy arrays; the model's own init when None); returns the
    model, the per-epoch summed losses and the initial state. ``progress(loss)`` is called
    after each epoch."""
    word_to_ix = word_index()
    model = make_model(lib, len(word_to_ix))
    if state is not None:
        model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    loss_function = lib.nn.NLLLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1)
    prepare = lambda seq, ix: lib.tensor([ix[w] for w in seq], dtype=lib.long)  # noqa: E731
    losses = []
    for _ in range(epochs):
        total = 0.0
        for sentence, tags in TRAINING_DATA:
            model.zero_grad()
            tag_scores = model(prepare(sentence, word_to_ix))
            loss = loss_function(tag_scores, prepare(tags, TAG_TO_IX))
            loss.backward()
            optimizer.step()
            total += float(loss.item())
        losses.append(total)
        if progress is not None:
            progress(total)
    return model, losses, initial


def main() -> None:
    import graphnn
    from tqdm import tqdm
    graphnn.manual_seed(1)
    word_to_ix = word_index()
    with tqdm(total=300, desc="training", unit="epoch") as bar:
        def progress(loss):
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
        model, _, _ = train(graphnn, epochs=300, progress=progress)
    names = {v: k for k, v in TAG_TO_IX.items()}
    with graphnn.no_grad():
        for sentence, tags in TRAINING_DATA:
            scores = model(graphnn.tensor([word_to_ix[w] for w in sentence])).numpy()
            predicted = [names[int(i)] for i in np.argmax(scores, 1)]
            print(" ".join(sentence), "->", " ".join(predicted), f"(truth: {' '.join(tags)})")


if __name__ == "__main__":
    main()
