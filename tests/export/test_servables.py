"""The servables' graph code against the Python it must agree with."""

import numpy as np
import tensorflow as tf
from seqeval.metrics.sequence_labeling import get_entities

import kerasnlm as knlm
from kerasnlm.export import servables

TAGS = ["B-loc", "B-per", "E-per", "I-loc", "I-per", "O", "S-loc", "U-per", ".", "I", "B"]


def test_entities_follow_seqeval_on_random_tag_sequences(tokenizer):
    backbone = knlm.models.TransformerBackbone(
        tokenizer.vocabulary_size, 16, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32,
    )
    tagger = knlm.models.TokenClassifier(
        backbone, num_classes=len(TAGS), tokenizer=tokenizer, tags=TAGS
    )
    served = servables.servable(tagger)
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 12, size=2000)
    # Padding is the extra "O" id, as the serving function pads.
    ids = np.full((2000, 12), len(TAGS), "int32")
    for row, length in zip(ids, lengths):
        row[:length] = rng.integers(0, len(TAGS), size=length)
    first, last, kinds = served.entities(tf.constant(ids))
    for i, length in enumerate(lengths):
        expected = get_entities([TAGS[t] for t in ids[i, :length]])
        ours = [
            (served.types[kind], start, end)
            for kind, start, end in zip(kinds[i].numpy(), first[i].numpy(), last[i].numpy())
        ]
        assert ours == expected, [TAGS[t] for t in ids[i, :length]]


def test_blank_after_end_matches_the_python_one():
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 5, size=(50, 10)).astype("int32")
    starts = rng.integers(0, 10, size=50).astype("int32")
    expected = knlm.models.generation.blank_after_end(ids.copy(), starts, 3)
    ours = servables.blank_after_end(tf.constant(ids), tf.constant(starts), 3).numpy()
    np.testing.assert_array_equal(ours, expected)
