import keras
import numpy as np
import pytest

from kerasnlm.layers import LanguageModelHead

X = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")


def embedding(vocabulary_size=20, dim=8):
    layer = keras.layers.Embedding(vocabulary_size, dim)
    layer.build((None,))
    return layer


def test_logits_are_the_transposed_embedding_plus_bias():
    token_embedding = embedding()
    head = LanguageModelHead(token_embedding, transform=False)
    logits = keras.ops.convert_to_numpy(head(X))
    matrix = keras.ops.convert_to_numpy(token_embedding.embeddings)
    np.testing.assert_allclose(logits, X @ matrix.T, atol=1e-5)
    # The projection is the embedding variable itself: one variable, updated by both paths.
    assert head.token_embedding.embeddings is token_embedding.embeddings
    own = [w for w in head.trainable_weights if w is not token_embedding.embeddings]
    assert [w.path.split("/")[-1] for w in own] == ["bias"]


def test_gradient_reaches_the_embedding_through_the_head():
    # As in a language model: the embedding is used at the input and, tied, at the output.
    token_embedding = keras.layers.Embedding(20, 8)
    ids = keras.Input((3,), dtype="int32")
    model = keras.Model(
        ids, LanguageModelHead(token_embedding, transform=False)(token_embedding(ids))
    )
    assert sum(w is token_embedding.embeddings for w in model.trainable_weights) == 1
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    inputs = np.array([[1, 2, 3], [4, 5, 6]])
    before = keras.ops.convert_to_numpy(token_embedding.embeddings).copy()
    model.fit(inputs, np.ones((2, 3, 20), "float32"), verbose=0)
    after = keras.ops.convert_to_numpy(token_embedding.embeddings)
    # Rows never looked up move too: only the output projection reaches them.
    assert not np.allclose(before[10:], after[10:])


def test_mixed_precision_logits_are_float32():
    head = LanguageModelHead(embedding(), dtype="mixed_bfloat16")
    assert keras.backend.standardize_dtype(head(X).dtype) == "float32"


def test_errors():
    with pytest.raises(TypeError, match="`token_embedding` must be"):
        LanguageModelHead("not a layer")
    with pytest.raises(
        ValueError, match=r"last dimension \(8\) must equal the embedding size \(4\)"
    ):
        LanguageModelHead(embedding(dim=4))(X)
    with pytest.raises(TypeError, match="rebuilt by the model"):
        LanguageModelHead.from_config(LanguageModelHead(embedding()).get_config())


def test_freezing_the_head_leaves_the_tied_embedding_trainable():
    token_embedding = embedding()
    head = LanguageModelHead(token_embedding)
    head(X)
    head.trainable = False
    assert token_embedding.trainable
    assert all(w is not token_embedding.embeddings for w in head.weights)
