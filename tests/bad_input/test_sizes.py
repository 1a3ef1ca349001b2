"""Issue 20, class 9: absurd sizes are refused up front, with the figure, instead of hanging
(a 2**31-row position table) or ending in an out-of-memory traceback."""

import pytest

import kerasnlm as knlm
from kerasnlm.utils.memory import check_weights_fit

SMALL = dict(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32)


@pytest.mark.parametrize(
    "sizes",
    [
        dict(vocabulary_size=1000, sequence_length=2**31 - 1),
        dict(vocabulary_size=2**40, sequence_length=128),
        dict(vocabulary_size=1000, sequence_length=128, num_layers=2**24),
        dict(vocabulary_size=1000, sequence_length=128, intermediate_dim=2**36),
        dict(vocabulary_size=1000, sequence_length=2**31 - 1, position_encoding="sinusoidal"),
    ],
)
def test_backbone_refuses_weights_larger_than_memory(sizes):
    with pytest.raises(ValueError, match=r"TransformerBackbone\(.*GiB for its weights alone"):
        knlm.models.TransformerBackbone(**{**SMALL, **sizes})


@pytest.mark.parametrize(
    "sizes",
    [
        dict(vocabulary_size=10, sequence_length=2**31 - 1, embedding_dim=64),
        dict(vocabulary_size=2**40, sequence_length=8, embedding_dim=64),
        dict(vocabulary_size=10, sequence_length=2**31 - 1, embedding_dim=64,
             position_encoding="sinusoidal"),
    ],
)
def test_embedding_layer_refuses_tables_larger_than_memory(sizes):
    # The layer is also used on its own, in users' Functional models.
    with pytest.raises(ValueError, match=r"sequence_length=\d+, embedding_dim=64\) needs"):
        knlm.layers.TokenAndPositionEmbedding(**sizes)


def test_message_gives_the_sizes_needed_and_available():
    with pytest.raises(ValueError, match=r"needs 4\.0 GiB .*1,073,741,824 values.* 2\.0 GiB"):
        check_weights_fit("a model", 2**30, memory=2 * 2**30)
    assert check_weights_fit("a model", 2**20, memory=2**30) == 4 * 2**20


def test_sizes_that_fit_still_build():
    backbone = knlm.models.TransformerBackbone(vocabulary_size=1000, sequence_length=64, **SMALL)
    assert backbone.embedding.token_embedding.embeddings.shape == (1000, 16)
