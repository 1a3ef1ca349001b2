"""Token embeddings: the matrix of any model, word vectors, nearest neighbours, analogies."""

import os

import numpy as np
from keras import ops

from kerasnlm.utils.arguments import positive_integer


def special_mask(tokens):
    """True for the tokens in brackets: `[PAD]`, `[CLS]`... and BERT's `[unused0]`... place
    holders, which neighbour lists and drift tables leave out."""
    return np.array([len(t) > 2 and t[0] == "[" and t[-1] == "]" for t in tokens])


def backbone_of(model):
    """The `TransformerBackbone` of a backbone, a task model, or a `.keras` file of either."""
    from kerasnlm.models.backbone import TransformerBackbone

    if isinstance(model, (str, os.PathLike)):
        from kerasnlm.models.files import load_keras_file

        model = load_keras_file(model)
    if isinstance(model, TransformerBackbone):
        return model
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, TransformerBackbone):
        raise TypeError(
            "Expected a kerasnlm TransformerBackbone, a model built on one, or a .keras file of "
            f"either; received {type(model).__name__}."
        )
    return backbone


def embedding_matrix(model):
    """A float32 numpy copy `(vocabulary_size, hidden_dim)` of the token embeddings of a
    backbone, task model or `.keras` file; a numpy matrix is returned as it is. Take a copy
    before fine-tuning to compare with after: a task model trains its backbone in place."""
    if isinstance(model, np.ndarray):
        if model.ndim != 2:
            raise ValueError(f"An embedding matrix is 2-D; received shape {model.shape}.")
        return model.astype("float32", copy=False)
    table = backbone_of(model).token_embedding.embeddings
    return np.array(ops.convert_to_numpy(ops.cast(table, "float32")))


def unit_rows(matrix):
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def piece_ids(tokenizer, word):
    """The ids of a vocabulary token (e.g. `"##ing"`) or of the pieces of a word; a word the
    vocabulary cannot spell is an error."""
    if not isinstance(word, str) or not word.strip():
        raise ValueError(f"Expected a word or vocabulary token; received {word!r}.")
    vocabulary = tokenizer.get_vocabulary()
    if word in vocabulary:
        return [vocabulary.index(word)]
    ids = [int(i) for i in ops.convert_to_numpy(tokenizer(word))]
    if not ids or tokenizer.unk_id in ids:
        raise ValueError(
            f"{word!r} is not in the vocabulary and its pieces are unknown ([UNK]) to it."
        )
    return ids


def word_vector(matrix, tokenizer, word):
    """The embedding of a token, or the mean of a word's pieces."""
    return matrix[piece_ids(tokenizer, word)].mean(axis=0)


def _ranked(matrix, tokenizer, query, k, excluded=()):
    vocabulary = tokenizer.get_vocabulary()
    similarity = unit_rows(matrix) @ (query / max(np.linalg.norm(query), 1e-12))
    similarity[special_mask(vocabulary)] = -np.inf
    similarity[list(excluded)] = -np.inf
    best = np.argsort(-similarity, kind="stable")[:k]
    return [(vocabulary[i], float(similarity[i])) for i in best]


def nearest_neighbors(model, tokenizer, word, k=10):
    """The `k` tokens whose embeddings are closest (cosine) to `word`'s: a vocabulary token,
    or a word whose pieces' vectors are averaged. Special tokens are left out. For a token,
    the first neighbour is itself, at similarity 1.

    Args:
        model: a backbone, a task model, a `.keras` file, or an embedding matrix.
        tokenizer: the model's `WordPieceTokenizer`.
        word: str.
        k: int.

    Returns:
        A list of `(token, cosine similarity)`, most similar first.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=16, num_layers=1,
        num_heads=2, hidden_dim=16, intermediate_dim=32)
    knlm.analysis.nearest_neighbors(backbone, tokenizer, "great", k=3)  # [("great", 1.0), ...]
    ```
    """
    _check_k(k)
    matrix = embedding_matrix(model)
    _check_vocabulary(matrix, tokenizer)
    return _ranked(matrix, tokenizer, word_vector(matrix, tokenizer, word), k)


def analogy(model, tokenizer, a, b, c, k=10):
    """Tokens closest to `a - b + c` ("king" - "man" + "woman"), the three words left out."""
    _check_k(k)
    matrix = embedding_matrix(model)
    _check_vocabulary(matrix, tokenizer)
    vectors = [word_vector(unit_rows(matrix), tokenizer, w) for w in (a, b, c)]
    used = [i for w in (a, b, c) for i in piece_ids(tokenizer, w)]
    return _ranked(matrix, tokenizer, vectors[0] - vectors[1] + vectors[2], k, used)


def _check_k(k):
    positive_integer("k", k)


def _check_vocabulary(matrix, tokenizer):
    if matrix.shape[0] != tokenizer.vocabulary_size:
        raise ValueError(
            f"The embedding matrix has {matrix.shape[0]} rows but the tokenizer "
            f"{tokenizer.vocabulary_size} tokens: not the model's tokenizer."
        )
