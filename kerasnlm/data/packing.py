"""From token pieces to model inputs, as TensorFlow ops: framing, truncation and padding.

The one place that decides what a model sees for a text, shared by the training pipelines
(`kerasnlm.data.pipelines`), raw-string `predict` and the exported SavedModels
(`kerasnlm.export`), so a served model reads its input exactly as it was trained on it. Every
function takes and returns tensors (ragged where lengths vary) and runs eagerly, in `tf.data`
and inside a `tf.function`.
"""

import tensorflow as tf
import tensorflow_text as tf_text

from kerasnlm.tokenizers import bert_characters

# Every character Python's `str.isspace` (and so `str.split()` and the regex `\s`) calls
# whitespace, as a regex class body: raw-text NER splits words at these, in the graph and in
# Python alike (tests/data/test_packing.py checks the list against `str.isspace`).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)


def column(ragged, value):
    """A `(batch, 1)` column of `value`, to concatenate to the ragged `(batch, None)`."""
    return tf.fill([ragged.nrows(), 1], tf.cast(value, ragged.dtype))


def frame(pieces, start, end, length):
    """Ragged `(batch, None)` -> `[start] pieces[:length - 2] [end]`, still ragged."""
    return tf.concat([column(pieces, start), pieces[:, : length - 2], column(pieces, end)], axis=1)


def pad(ragged, length, value=0, multiple=None):
    """Ragged `(batch, None)` -> dense `(batch, length)`, and the bool mask of real entries.

    With `multiple`, pads only to the batch's longest row rounded up to a multiple of it (and
    at most `length`): short texts cost short sequences, and XLA still sees only
    `length / multiple` different shapes.
    """
    default = tf.cast(value, ragged.dtype)
    if multiple is None:
        dense = ragged.to_tensor(default_value=default, shape=[None, length])
    else:
        longest = tf.reduce_max(ragged.row_lengths())
        rounded = (longest + multiple - 1) // multiple * multiple
        length = tf.minimum(tf.cast(length, tf.int64), rounded)
        dense = ragged.to_tensor(default_value=default, shape=tf.stack([ragged.nrows(), length]))
    return dense, tf.sequence_mask(ragged.row_lengths(), length)


def pack_texts(tokenizer, texts, sequence_length, text_pairs=None, pad_to_multiple_of=None):
    """`(batch,)` strings -> the inputs of a model on a backbone: `[CLS] a [SEP]`, or
    `[CLS] a [SEP] b [SEP]` with `text_pairs` (trimmed one piece at a time from the longer
    text), cut to `sequence_length` and padded (see `pad`).

    Returns `{"token_ids": int32, "padding_mask": bool}` `(batch, length)`, with pairs also
    `"segment_ids"` (0 for `[CLS] a [SEP]`, 1 for `b [SEP]`).
    """
    cls, sep = tokenizer.cls_id, tokenizer.sep_id
    if text_pairs is None:
        pieces = frame(tokenizer(texts), cls, sep, sequence_length)
    else:
        a, b = tf_text.RoundRobinTrimmer(sequence_length - 3).trim(
            [tokenizer(texts), tokenizer(text_pairs)]
        )
        first = frame(a, cls, sep, sequence_length)
        second = tf.concat([b, column(b, sep)], axis=1)
        pieces = tf.concat([first, second], axis=1)
        segments = tf.concat([tf.zeros_like(first), tf.ones_like(second)], axis=1)
    token_ids, padding_mask = pad(pieces, sequence_length, tokenizer.pad_id, pad_to_multiple_of)
    x = {"token_ids": token_ids, "padding_mask": padding_mask}
    if text_pairs is not None:
        x["segment_ids"] = pad(segments, sequence_length, 0, pad_to_multiple_of)[0]
    return x


def word_pieces(words, tokenizer):
    """Ragged `(batch, words)` -> ragged `(batch, words, pieces)`. A word that yields no piece
    (e.g. a lone zero-width space) gets `[UNK]`, so that every word keeps a position."""
    pieces = tokenizer(words)
    per_word = pieces.values
    empty = tf.cast(per_word.row_lengths() == 0, tf.int64)
    unknown = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(empty)], tf.constant(tokenizer.unk_id, tf.int32)), empty
    )
    return pieces.with_values(tf.concat([per_word, unknown], axis=1))


def word_start_positions(pieces, sequence_length):
    """Ragged `(batch, words, pieces)` -> ragged int32 `(batch, words)`: where each word's first
    piece sits once framed by `frame` (`[CLS]` is position 0), -1 for a word cut off."""
    counts = tf.cast(pieces.row_lengths(axis=2), tf.int32)
    starts = 1 + tf.math.cumsum(counts, axis=1, exclusive=True)
    return tf.where(starts < sequence_length - 1, starts, -1)


def pack_words(tokenizer, words, sequence_length, pad_to_multiple_of=None):
    """Ragged `(batch, words)` strings -> (`{"token_ids", "padding_mask"}` as `pack_texts`
    gives for `[CLS] pieces [SEP]`, and `word_start_positions`)."""
    pieces = word_pieces(words, tokenizer)
    framed = frame(pieces.merge_dims(1, 2), tokenizer.cls_id, tokenizer.sep_id, sequence_length)
    token_ids, padding_mask = pad(framed, sequence_length, tokenizer.pad_id, pad_to_multiple_of)
    x = {"token_ids": token_ids, "padding_mask": padding_mask}
    return x, word_start_positions(pieces, sequence_length)


def split_words_with_offsets(texts):
    """`(batch,)` strings -> their words, ragged `(batch, words)`, with each word's start and
    end as character offsets into its text (what `text[start:end]` indexes), ragged int64
    `(batch, words)`.

    Words are split as BERT's basic tokenizer (and so `WordPieceTokenizer`) splits them: at
    whitespace, and every punctuation character and CJK ideograph is a word of its own, so
    "Paris." is "Paris" and "." and an entity's span never carries the period.
    """
    separate = f"[{bert_characters.PUNCTUATION}{bert_characters.CJK}]"
    words, begin, end = tf_text.regex_split_with_offsets(
        texts, f"[{WHITESPACE}]+|{separate}", keep_delim_regex_pattern=separate
    )
    # The offsets are bytes; Python indexes characters: count those before each boundary.
    row_texts = tf.repeat(texts, words.row_lengths())

    def characters(offsets):
        starts = tf.zeros_like(offsets.flat_values)
        prefix = tf.strings.substr(row_texts, starts, offsets.flat_values)
        return offsets.with_flat_values(
            tf.cast(tf.strings.length(prefix, unit="UTF8_CHAR"), tf.int64)
        )

    return words, characters(begin), characters(end)
