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
    token_embedding = embedding()
    head = LanguageModelHead(token_embedding)
    model = keras.Sequential([keras.Input((3, 8)), head])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    before = keras.ops.convert_to_numpy(token_embedding.embeddings).copy()
    model.fit(X, np.ones((2, 3, 20), "float32"), verbose=0)
    assert not np.allclose(before, keras.ops.convert_to_numpy(token_embedding.embeddings))


def test_mixed_precision_logits_are_float32():
    head = LanguageModelHead(embedding(), dtype="mixed_bfloat16")
    assert keras.backend.standardize_dtype(head(X).dtype) == "float32"


def test_errors():
    with pytest.raises(TypeError, match="`token_embedding` must be"):
        LanguageModelHead("not a layer")
    with pytest.raises(ValueError, match=r"last dimension \(8\) must equal the embedding size \(4\)"):
        LanguageModelHead(embedding(dim=4))(X)
    with pytest.raises(TypeError, match="rebuilt by the model"):
        LanguageModelHead.from_config(LanguageModelHead(embedding()).get_config())
