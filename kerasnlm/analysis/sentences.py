"""Sentence embeddings from any backbone, similarity and semantic search (`SentenceEncoder`)."""

import numpy as np

from kerasnlm.utils.arguments import positive_integer


def sentence_encoder(model, tokenizer=None, pooling="mean", normalize=True):
    """A `SentenceEncoder` over a backbone, a task model's backbone or a `.keras` file, or the
    encoder itself when one is given."""
    from kerasnlm.analysis.embeddings import backbone_of
    from kerasnlm.models.sentence_encoder import SentenceEncoder

    if isinstance(model, SentenceEncoder):
        return model
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("Sentence embeddings of raw text need the model's `tokenizer`.")
    return SentenceEncoder(backbone_of(model), pooling=pooling, normalize=normalize,
                           tokenizer=tokenizer)


def sentence_embeddings(model, tokenizer, texts, pooling="mean", normalize=True, batch_size=32):
    """`(len(texts), hidden_dim)` float32 vectors: `"mean"` or `"cls"` (`"max"`) pooling of the
    backbone's token vectors, unit length with `normalize`."""
    encoder = sentence_encoder(model, tokenizer, pooling, normalize)
    return encoder.predict(list(texts), batch_size=batch_size)


def similarity(a, b):
    """Cosine similarities `(len(a), len(b))` between two sets of vectors."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def semantic_search(model, tokenizer, queries, corpus, k=5, pooling="mean"):
    """For each query, the `k` texts of `corpus` closest in meaning: a list (one per query) of
    `(corpus index, text, cosine similarity)`, most similar first.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
        num_heads=2, hidden_dim=16, intermediate_dim=32)
    corpus = ["a dull film", "a gorgeous film", "the train was late"]
    knlm.analysis.semantic_search(backbone, tokenizer, ["a great movie"], corpus, k=2)
    ```
    """
    positive_integer("k", k)
    encoder = sentence_encoder(model, tokenizer, pooling)
    scores = similarity(encoder.predict(list(queries)), encoder.predict(list(corpus)))
    results = []
    for row in scores:
        best = np.argsort(-row, kind="stable")[:k]
        results.append([(int(i), corpus[i], float(row[i])) for i in best])
    return results
