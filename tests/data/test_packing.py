"""The in-graph packing shared by the pipelines, predict and exports."""

import re
import sys
import unicodedata

import numpy as np
import tensorflow as tf

import kerasnlm as knlm
from kerasnlm.data import packing


def test_whitespace_is_pythons():
    pattern = re.compile(f"[{packing.WHITESPACE}]")
    python = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    ours = {chr(c) for c in range(sys.maxunicode + 1) if pattern.fullmatch(chr(c))}
    assert ours == python


def _is_own_word(character):
    """BERT's basic tokenizer (its original Python): punctuation and CJK ideographs."""
    code = ord(character)
    ascii_punctuation = 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or (
        123 <= code <= 126)
    cjk = 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
    return ascii_punctuation or unicodedata.category(character).startswith("P") or cjk


def test_words_and_character_offsets_split_as_bert_does():
    """Whitespace-separated runs, then every punctuation character and CJK ideograph its own
    word: "Paris." is "Paris" and "."; offsets index the original text."""
    rng = np.random.default_rng(0)
    pieces = ["a", "é", "東京", "😀", "word", "Paris.", "“", "!", "'s", "-", "\u200b", " ", "\t",
              "\u3000", "\x85", "\n", "  "]
    texts = ["".join(rng.choice(pieces, size=rng.integers(0, 12))) for _ in range(200)]
    words, starts, ends = packing.split_words_with_offsets(tf.constant(texts))
    for text, row, a, b in zip(texts, words.to_list(), starts.to_list(), ends.to_list()):
        expected = []
        for match in re.finditer(r"\S+", text):
            start = match.start()
            for i, character in enumerate(match.group(), match.start()):
                if _is_own_word(character):
                    expected += [(text[start:i], start, i), (character, i, i + 1)]
                    start = i + 1
            expected.append((text[start:match.end()], start, match.end()))
        expected = [word for word in expected if word[0]]
        assert [(w.decode(), s, e) for w, s, e in zip(row, a, b)] == expected
        assert all(text[s:e] == w.decode() for w, s, e in zip(row, a, b))
    paris = packing.split_words_with_offsets(tf.constant(["I love Paris."]))[0]
    assert paris.to_list() == [[b"I", b"love", b"Paris", b"."]]


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
