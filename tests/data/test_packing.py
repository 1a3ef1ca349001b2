"""The in-graph packing shared by the pipelines, predict and exports."""

import re
import sys

import numpy as np
import tensorflow as tf

import kerasnlm as knlm
from kerasnlm.data import packing


def test_whitespace_is_pythons():
    pattern = re.compile(f"[{packing.WHITESPACE}]")
    python = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    ours = {chr(c) for c in range(sys.maxunicode + 1) if pattern.fullmatch(chr(c))}
    assert ours == python


def test_words_and_character_offsets_match_python_split():
    rng = np.random.default_rng(0)
    pieces = ["a", "é", "東京", "😀", "word", "\u200b", " ", "\t", "\u3000", "\x85", "\n", "  "]
    texts = ["".join(rng.choice(pieces, size=rng.integers(0, 12))) for _ in range(200)]
    words, starts, ends = packing.split_words_with_offsets(tf.constant(texts))
    for text, row, a, b in zip(texts, words.to_list(), starts.to_list(), ends.to_list()):
        expected = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        assert [(w.decode(), s, e) for w, s, e in zip(row, a, b)] == expected
        assert [w.decode() for w in row] == text.split()


def test_pack_words_marks_where_each_word_starts(tokenizer):
    words = tf.ragged.constant([["Hello", "Kerasnlm", "!"], []])
    x, starts = packing.pack_words(tokenizer, words, sequence_length=4)
    assert starts.to_list() == knlm.data.word_start_positions(
        [["Hello", "Kerasnlm", "!"], []], tokenizer, sequence_length=4
    )
    ids = x["token_ids"].numpy()
    assert ids[0, 0] == tokenizer.cls_id
    assert ids[1, :2].tolist() == [tokenizer.cls_id, tokenizer.sep_id]  # an empty sentence
    assert starts.to_list()[0][-1] == -1  # cut off by the sequence length
