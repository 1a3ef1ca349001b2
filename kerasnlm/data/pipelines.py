"""tf.data pipelines: text -> `(x, y, sample_weight)` batches for each training objective.

Every pipeline pads to a fixed `sequence_length` (static shapes, so an XLA-compiled step
compiles once), gives int32 ids and a bool `padding_mask`, tokenizes whole batches at a time
with `num_parallel_calls=AUTOTUNE`, prefetches, and is deterministic under `seed` (shuffle
order and, for masked LM, the masks of every epoch). Text longer than `sequence_length`
pieces is truncated (pretraining from files streams with constant memory; see
`kerasnlm.data.text_dataset`).

Where the objectives differ:
- `masked_lm_dataset`: `[CLS] text [SEP]`, 15% of pieces (or whole words) masked BERT's way,
  a new mask every epoch.
- `causal_lm_dataset`: documents joined by `[SEP]` and cut into full windows.
- `classification_dataset`: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` and a class id.
- `token_classification_dataset`: word tags on the first piece of each word (`word_start_positions`
  maps predictions back to words).
- `seq2seq_dataset`: source ids; decoder input `[CLS] t` and target `t [SEP]`.
"""

import itertools
import math

import numpy as np
import tensorflow as tf

from kerasnlm.data import packing
from kerasnlm.data import readers

AUTOTUNE = tf.data.AUTOTUNE
STREAM_SHUFFLE_WINDOWS = 1_000


def _check_common(tokenizer, sequence_length, batch_size, minimum_length=2):
    for name in ("cls_id", "sep_id", "pad_id", "mask_id", "vocabulary_size"):
        if not hasattr(tokenizer, name):
            raise TypeError(
                f"`tokenizer` must be a kerasnlm WordPieceTokenizer (it has no `{name}`); "
                f"received {type(tokenizer).__name__}."
            )
    if not isinstance(sequence_length, int) or sequence_length < minimum_length:
        raise ValueError(
            f"`sequence_length` must be an int >= {minimum_length}; received {sequence_length!r}."
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int; received {batch_size!r}.")


def _check_multiple(pad_to_multiple_of):
    if pad_to_multiple_of is not None and (
        not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1
    ):
        raise ValueError(
            f"`pad_to_multiple_of` must be a positive int or None; received {pad_to_multiple_of!r}."
        )


def _string_list(values, name):
    """A list/tuple/array of str -> list of str, or a TypeError naming the bad item."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or not values:
        raise TypeError(
            f"`{name}` must be a non-empty list of str; received {type(values).__name__}."
        )
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise TypeError(f"`{name}[{i}]` must be a str; received {value!r}.")
    return list(values)


def _finish(batches):
    """Prefetches, and makes a multi-worker strategy split every global batch between the
    workers (DATA sharding) rather than give each worker its own files: the batches, and so
    the training, are then the same on any number of workers."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.prefetch(AUTOTUNE).with_options(options)


def _full_batches(dataset, batch_size):
    """`dataset.batch(batch_size)` without the last incomplete batch, like `drop_remainder`,
    but with a batch dimension of unknown static size. A static batch size lets Keras count
    one batch too many when `evaluate` reaches the end of a dataset of unknown length (the
    loss tracker's count does not depend on the data, so it runs before the end is known),
    which would scale `loss` down by steps / (steps + 1). Every batch is still full, so XLA
    still compiles once."""
    return dataset.batch(batch_size).filter(
        lambda batch: tf.shape(tf.nest.flatten(batch)[0])[0] == batch_size
    )


def check_one_batch(texts_or_files, tokenizer, batch_size, window=None, block_lines=1024):
    """Refuses text that gives less than one batch: every pipeline drops the last incomplete
    batch, so a fit on it would train on nothing and report success.

    With `window`, the documents are one stream of pieces, each followed by `[SEP]`, cut into
    windows of `window` pieces; without it, each non-blank document is one sequence. Files
    are read only as far as one batch needs, in blocks of `block_lines` lines. A
    `tf.data.Dataset` is not counted (it may be endless).
    """
    kind, source = readers.resolve_texts(texts_or_files)
    if kind == "dataset":
        return
    needed = batch_size * (window or 1)
    if kind == "texts":
        blocks = [source]
    else:
        blocks = itertools.chain.from_iterable(_blocks(path, block_lines) for path in source)
    found = 0
    for block in blocks:
        block = [text for text in block if text.strip()]
        if block and window:
            found += int(tf.reduce_sum(tokenizer(block).row_lengths())) + len(block)
        else:
            found += len(block)
        if found >= needed:
            return
    if kind == "files":
        shown = ", ".join(f"'{path}'" for path in source[:3]) + (", ..." if len(source) > 3 else "")
        where = f"{shown} ({len(source)} files)" if len(source) > 1 else shown
    else:
        where = "`texts_or_files`"
    if window:
        sequences = found // window
        gives = (f"{found} pieces (with separators), {sequences} "
                 f"sequence{'s' * (sequences != 1)} of {window}")
    else:
        gives = f"{found} non-blank texts, one sequence each"
    raise ValueError(
        f"{where} gives {gives}: fewer than one batch (`batch_size` {batch_size}), and an "
        "incomplete batch is dropped, so there would be no batch at all. Add text, or lower "
        "`batch_size` or `sequence_length`."
    )


def _blocks(path, block_lines):
    """The lines of a file, `block_lines` at a time."""
    numbered = readers.lines(path)
    while block := [line for _, line in itertools.islice(numbered, block_lines)]:
        yield block


def _document_stream(lines, tokenizer, window, shuffle, seed):
    """Windows of `window` pieces cut from the documents joined by `[SEP]`; rest dropped."""

    def tokenize(strings):
        pieces = tokenizer(strings)
        return tf.concat([pieces, packing.column(pieces, tokenizer.sep_id)], axis=1).flat_values

    windows = lines.batch(256).map(tokenize, num_parallel_calls=AUTOTUNE)
    windows = windows.rebatch(window, drop_remainder=True)
    if shuffle:
        windows = windows.shuffle(STREAM_SHUFFLE_WINDOWS, seed=seed)
    return windows


def masked_lm_dataset(
    texts_or_files,
    tokenizer,
    sequence_length=128,
    batch_size=32,
    mask_rate=0.15,
    max_predictions=None,
    whole_word_masking=False,
    pack_documents=False,
    shuffle=True,
    seed=None,
):
    """Batches for masked-language-model pretraining (BERT's objective).

    Each document (a line of a file, or an item of a list) becomes `[CLS] pieces [SEP]`,
    truncated to `sequence_length` and padded with `[PAD]`. With `pack_documents`, the
    documents are instead joined into one stream, each followed by `[SEP]`, and cut into full
    windows `[CLS] + sequence_length - 1 pieces` (RoBERTa's "full sentences"): nothing is
    padded, which for corpora of short sentences multiplies the predictions per step (a
    10-word line fills a tenth of a 128-piece sequence). Then, on every pass over the
    data, a fresh random mask: `mask_rate` of the pieces that are not `[CLS]`/`[SEP]`/`[PAD]`
    are chosen (per sequence, `n * mask_rate` rounded up or down at random so the rate is
    exact on average); of those, 80% become `[MASK]`, 10% a random non-special token and 10%
    stay as they are. With `whole_word_masking`, words are chosen instead of pieces and all
    pieces of a chosen word are masked. The last incomplete batch is dropped.

    Shapes: x = `{"token_ids": int32 (B, L), "padding_mask": bool (B, L),
    "mask_positions": int32 (B, P)}`, y = int32 `(B, P)` original ids at those positions,
    sample_weight = float32 `(B, P)`, 1 for real predictions and 0 for unused slots (whose
    position is 0). `L = sequence_length`, `P = max_predictions`.

    Args:
        texts_or_files: a file path or glob, a list of paths (streamed, one document a line),
            a list of texts, or a `tf.data.Dataset` of scalar strings.
        tokenizer: a `kerasnlm.tokenizers.WordPieceTokenizer`.
        sequence_length: int, `L`.
        batch_size: int, `B`.
        mask_rate: float in (0, 1), the fraction of pieces to predict.
        max_predictions: int, `P`, the most predictions per sequence. Defaults to
            `ceil(sequence_length * mask_rate)`, which piece masking never exceeds; past it
            (possible with whole words) the extra chosen pieces are left unmasked.
        whole_word_masking: bool, mask whole words rather than single pieces.
        pack_documents: bool, fill every sequence from the document stream (no padding);
            a document may then be split between two sequences.
        shuffle: bool, shuffle documents (and packed windows) each epoch (`False` for
            evaluation).
        seed: int, makes order and masks reproducible (masks still change every epoch).

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    ds = knlm.data.masked_lm_dataset(
        knlm.data.samples.english_text(), tokenizer, sequence_length=64, seed=0)
    x, y, sample_weight = next(iter(ds))  # x["token_ids"]: (32, 64), y: (32, 10)
    ```

    References:
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)
    """
    _check_common(tokenizer, sequence_length, batch_size, minimum_length=3)
    if not isinstance(mask_rate, (int, float)) or not 0 < mask_rate < 1:
        raise ValueError(f"`mask_rate` must be a float in (0, 1); received {mask_rate!r}.")
    if max_predictions is None:
        max_predictions = math.ceil(sequence_length * mask_rate)
    if not isinstance(max_predictions, int) or not 1 <= max_predictions <= sequence_length:
        raise ValueError(
            f"`max_predictions` must be an int in [1, sequence_length={sequence_length}]; "
            f"received {max_predictions!r}."
        )
    check_one_batch(
        texts_or_files, tokenizer, batch_size, sequence_length - 1 if pack_documents else None
    )
    lines = readers.text_dataset(texts_or_files, shuffle=shuffle, seed=seed)
    shape = [None, sequence_length]

    def tokenize(strings):
        pieces = packing.frame(
            tokenizer(strings), tokenizer.cls_id, tokenizer.sep_id, sequence_length
        )
        token_ids, padding_mask = packing.pad(pieces, sequence_length, tokenizer.pad_id)
        return tf.ensure_shape(token_ids, shape), tf.ensure_shape(padding_mask, shape)

    def frame(windows):
        token_ids = tf.concat([tf.fill([tf.shape(windows)[0], 1], tokenizer.cls_id), windows], 1)
        token_ids = tf.ensure_shape(token_ids, shape)
        return token_ids, tf.ones_like(token_ids, tf.bool)

    vocabulary = tokenizer.get_vocabulary()
    special = {tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id}
    special.add(tokenizer.mask_id)
    # Random replacements are real tokens: a random [PAD] would read as padding downstream.
    replacements = tf.constant([i for i in range(len(vocabulary)) if i not in special], tf.int32)
    is_continuation = tf.constant([token.startswith("##") for token in vocabulary])

    def mask(token_ids, padding_mask, seed_pair):
        # Stateless ops seeded per batch by a seeded stream that is redrawn every epoch
        # (`Dataset.random(rerandomize_each_iteration=True)`): reproducible, yet a new mask
        # each epoch, unlike a cached mask or an op-level seed that restarts with the iterator.
        seeds = tf.random.experimental.stateless_split(seed_pair, 4)
        shape = tf.shape(token_ids)
        eligible = padding_mask & (token_ids != tokenizer.cls_id) & (token_ids != tokenizer.sep_id)
        # The units chosen among: pieces, or words (the pieces that do not start with "##").
        # A packed window may start inside a word: its first piece then starts a unit.
        starts_word = ~tf.gather(is_continuation, token_ids) | (tf.range(sequence_length) == 1)
        units = eligible & starts_word if whole_word_masking else eligible
        unit_scores = tf.ragged.boolean_mask(tf.random.stateless_uniform(shape, seeds[0]), units)
        unit_scores = unit_scores.to_tensor(default_value=2.0, shape=[None, sequence_length])
        unit_of_piece = tf.maximum(tf.cumsum(tf.cast(units, tf.int32), axis=1) - 1, 0)
        piece_scores = tf.gather(unit_scores, unit_of_piece, batch_dims=1)
        # Choose the k lowest-scored units, k = n * mask_rate rounded at random (unbiased).
        n = tf.reduce_sum(tf.cast(units, tf.float32), axis=1)
        k = tf.cast(n * mask_rate + tf.random.stateless_uniform(shape[:1], seeds[1]), tf.int32)
        kth_score = tf.gather(tf.sort(unit_scores, axis=1), tf.maximum(k - 1, 0), batch_dims=1)
        chosen = eligible & (piece_scores <= kth_score[:, None]) & (k > 0)[:, None]
        # The first `max_predictions` chosen positions, in order; unused slots point at 0.
        positions = tf.where(chosen, tf.range(sequence_length), sequence_length)
        positions = tf.sort(positions, axis=1)[:, :max_predictions]
        weights = positions < sequence_length
        positions = tf.where(weights, positions, 0)
        kept = tf.one_hot(positions, sequence_length) * tf.cast(weights, tf.float32)[..., None]
        chosen = tf.reduce_max(kept, axis=1) > 0
        # 80% [MASK], 10% a random token, 10% unchanged.
        draw = tf.random.stateless_uniform(shape, seeds[2])
        random_ids = tf.gather(
            replacements,
            tf.random.stateless_uniform(shape, seeds[3], maxval=len(replacements), dtype=tf.int32),
        )
        masked = tf.where(chosen & (draw < 0.9), random_ids, token_ids)
        masked = tf.where(chosen & (draw < 0.8), tokenizer.mask_id, masked)
        x = {"token_ids": masked, "padding_mask": padding_mask, "mask_positions": positions}
        return x, tf.gather(token_ids, positions, batch_dims=1), tf.cast(weights, tf.float32)

    if pack_documents:
        windows = _document_stream(lines, tokenizer, sequence_length - 1, shuffle, seed)
        batches = _full_batches(windows, batch_size).map(frame)
    else:
        batches = _full_batches(lines, batch_size).map(
            tokenize, num_parallel_calls=AUTOTUNE
        )
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    batches = tf.data.Dataset.zip(batches, seeds)
    batches = batches.map(
        lambda ids_and_mask, s: mask(*ids_and_mask, s), num_parallel_calls=AUTOTUNE
    )
    return _finish(batches)


def causal_lm_dataset(
    texts_or_files, tokenizer, sequence_length=128, batch_size=32, shuffle=True, seed=None
):
    """Batches for next-token (GPT-style) pretraining.

    Documents are tokenized, each followed by `[SEP]` (the end-of-document token), joined
    into one stream and cut into windows of `sequence_length + 1` pieces; the last incomplete
    window and batch are dropped. Every window is full, so nothing is padded.

    Shapes: x = `{"token_ids": int32 (B, L), "padding_mask": bool (B, L)}` (all True),
    y = int32 `(B, L)`, the next piece at each position (`window[1:]`), sample_weight =
    float32 `(B, L)` of ones.

    Args:
        texts_or_files: a file path or glob, a list of paths (streamed, one document a line),
            a list of texts, or a `tf.data.Dataset` of scalar strings.
        tokenizer: a `kerasnlm.tokenizers.WordPieceTokenizer`.
        sequence_length: int, `L`.
        batch_size: int, `B`.
        shuffle: bool, shuffle documents and windows each epoch.
        seed: int, makes the order reproducible.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    ds = knlm.data.causal_lm_dataset(knlm.data.samples.english_text(), tokenizer, seed=0)
    x, y, sample_weight = next(iter(ds))  # (32, 128) each
    ```
    """
    _check_common(tokenizer, sequence_length, batch_size)
    check_one_batch(texts_or_files, tokenizer, batch_size, sequence_length + 1)
    lines = readers.text_dataset(texts_or_files, shuffle=shuffle, seed=seed)
    windows = _document_stream(lines, tokenizer, sequence_length + 1, shuffle, seed)

    def split(window):
        ids = window[:, :-1]
        x = {"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)}
        return x, window[:, 1:], tf.ones_like(ids, tf.float32)

    batches = _full_batches(windows, batch_size).map(split, num_parallel_calls=AUTOTUNE)
    return _finish(batches)


def classification_dataset(
    texts,
    labels,
    tokenizer,
    sequence_length=128,
    batch_size=32,
    text_pairs=None,
    num_classes=None,
    pad_to_multiple_of=None,
    shuffle=True,
    seed=None,
    bucket_by_length=False,
):
    """Batches for sequence classification of single texts or text pairs.

    A text becomes `[CLS] a [SEP]`, a pair `[CLS] a [SEP] b [SEP]`, truncated to
    `sequence_length` (pairs one piece at a time from the longer text) and padded. The last
    batch may be smaller, so that evaluation sees every example.

    Shapes: x = `{"token_ids": int32 (B, L), "padding_mask": bool (B, L)}`, for pairs also
    `"segment_ids"` int32 (B, L) (0 for `[CLS] a [SEP]`, 1 for `b [SEP]`, which a backbone with
    `num_segments` embeds and others ignore), y = int32 `(B,)`, sample_weight = float32 `(B,)`
    of ones.

    Args:
        texts: list of str.
        labels: list of int class ids, one per text.
        tokenizer: a `kerasnlm.tokenizers.WordPieceTokenizer`.
        sequence_length: int, `L`.
        batch_size: int, `B`.
        pad_to_multiple_of: int or None. None pads every batch to `sequence_length`; an int
            pads each batch only to its longest sequence rounded up to a multiple of it (few
            distinct shapes for XLA, much less work on short texts).
        text_pairs: list of str, the second text of each pair, or `None`.
        num_classes: int; when given, every label must be in `[0, num_classes)`.
        shuffle: bool, shuffle examples each epoch (`False` for evaluation and prediction).
        seed: int, makes the order reproducible.
        bucket_by_length: bool, with `shuffle` and `pad_to_multiple_of`: batch together texts
            whose lengths round up to the same multiple, so that a batch of short texts is not
            padded to one long one (as Hugging Face's `group_by_length`). Batches still come
            in random order, each epoch anew; each length group's last batch may be smaller.
            On SST-2's short training phrases this pads 2.2x fewer pieces than random batches.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("train"))
    ds = knlm.data.classification_dataset(texts, labels, tokenizer, num_classes=2, seed=0)
    # Training batches of similar lengths, each padded to a multiple of 8:
    ds = knlm.data.classification_dataset(
        texts, labels, tokenizer, num_classes=2, seed=0, pad_to_multiple_of=8,
        bucket_by_length=True)
    ```
    """
    _check_common(tokenizer, sequence_length, batch_size, minimum_length=3 if text_pairs else 2)
    _check_multiple(pad_to_multiple_of)
    texts = _string_list(texts, "texts")
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if not isinstance(labels, (list, tuple)) or len(labels) != len(texts):
        raise ValueError(f"`labels` must be a list with one label per text ({len(texts)}).")
    for i, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise TypeError(
                f"`labels[{i}]` must be an int class id; received {label!r}. Map label names to "
                "ids first, e.g. `[names.index(label) for label in labels]`."
            )
        if label < 0 or (num_classes is not None and label >= num_classes):
            raise ValueError(
                f"`labels[{i}]` is {label}, outside [0, {num_classes if num_classes else 'inf'})"
                f"{' (num_classes)' if num_classes else ''}."
            )
    inputs = texts
    if text_pairs is not None:
        inputs = (texts, _string_list(text_pairs, "text_pairs"))
        if len(inputs[1]) != len(texts):
            raise ValueError(f"`text_pairs` must hold one text per text ({len(texts)}).")
    _check_buckets(bucket_by_length, pad_to_multiple_of)

    def pack(inputs, labels, *length):
        texts, pairs = inputs if text_pairs is not None else (inputs, None)
        x = packing.pack_texts(tokenizer, texts, sequence_length, pairs, pad_to_multiple_of)
        return x, labels, tf.ones_like(labels, tf.float32)

    examples = (inputs, tf.constant(labels, tf.int32))
    lengths = None
    if bucket_by_length and shuffle:
        lengths = _framed_lengths(tokenizer, texts, text_pairs, sequence_length)
    batches = _batches(examples, lengths, batch_size, shuffle, seed, pad_to_multiple_of)
    return _finish(batches.map(pack, num_parallel_calls=AUTOTUNE))


def prediction_dataset(texts, tokenizer, sequence_length, batch_size=32, pad_to_multiple_of=1):
    """The inputs of `predict` on raw texts, or on sentences split into words: `(batches, order)`.

    The texts are tokenized once, eagerly, as `[CLS] text [SEP]` cut to `sequence_length`,
    and sorted longest first (as sentence-transformers does), so that each batch is cut to its
    own longest text rounded up to `pad_to_multiple_of` (few distinct shapes for XLA). A
    pipeline that tokenizes inside `tf.data` traces the tokenizer anew for every dataset:
    about 0.35 s of each `predict` call, whatever its size.

    Args:
        texts: a list of str; or a list of lists of words, whose pieces are framed as
            `token_classification_dataset` frames them (see `word_start_positions`).
        tokenizer: a `kerasnlm.tokenizers.WordPieceTokenizer`.
        sequence_length: int, the longest a framed text may be.
        batch_size: int.
        pad_to_multiple_of: int, each batch's width is a multiple of it.

    Returns: a `tf.data.Dataset` of `{"token_ids", "padding_mask"}` batches, and the int array
    `order`: the i-th example of the batches is `texts[order[i]]`, so `outputs[order] =
    predictions` puts the predictions back in the order of `texts`.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    batches, order = knlm.data.prediction_dataset(["a fine film", "dull"], tokenizer, 32)
    ```
    """
    _check_common(tokenizer, sequence_length, batch_size)
    _check_multiple(pad_to_multiple_of)
    if isinstance(texts, (list, tuple)) and texts and all(
        isinstance(words, (list, tuple)) for words in texts
    ):
        pieces = packing.word_pieces(_ragged_words(texts, "texts"), tokenizer).merge_dims(1, 2)
    else:
        pieces = tokenizer(_string_list(texts, "texts"))
    # Kept ragged until batched: memory holds the real pieces, not every text padded.
    pieces = packing.frame(pieces, tokenizer.cls_id, tokenizer.sep_id, sequence_length)
    order = np.argsort(-pieces.row_lengths().numpy(), kind="stable")

    def pad(rows):
        token_ids, padding_mask = packing.pad(
            rows, sequence_length, tokenizer.pad_id, pad_to_multiple_of
        )
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    batches = tf.data.Dataset.from_tensor_slices(tf.gather(pieces, order)).ragged_batch(batch_size)
    return batches.map(pad).prefetch(AUTOTUNE), order


def _check_buckets(bucket_by_length, pad_to_multiple_of):
    if bucket_by_length and pad_to_multiple_of is None:
        raise ValueError(
            "`bucket_by_length=True` needs `pad_to_multiple_of`: without it every batch is "
            "padded to `sequence_length`, whatever its texts' lengths."
        )


def _batches(examples, lengths, batch_size, shuffle, seed, multiple):
    """Batches of the tuple of aligned `examples`, shuffled each epoch if `shuffle`. With
    `lengths` (numpy, the pieces each example takes), batches group examples whose lengths
    round up to the same multiple of `multiple`, and each gets its length as a last part."""
    count = len(examples[-1])
    if lengths is None:
        ds = tf.data.Dataset.from_tensor_slices(examples)
        return (ds.shuffle(count, seed=seed) if shuffle else ds).batch(batch_size)
    ds = tf.data.Dataset.from_tensor_slices(examples + (lengths,))
    return _length_buckets(ds.shuffle(count, seed=seed), lengths, batch_size, multiple)


def _framed_lengths(tokenizer, texts, text_pairs, sequence_length):
    """int32 numpy `(examples,)`: the pieces each example takes once framed, `[CLS] a [SEP]`
    or `[CLS] a [SEP] b [SEP]`, at most `sequence_length`."""
    lengths = tokenizer(texts).row_lengths() + 2
    if text_pairs is not None:
        lengths += tokenizer(text_pairs).row_lengths() + 1
    return np.minimum(lengths.numpy(), sequence_length).astype("int32")


def _length_buckets(examples, lengths, batch_size, multiple):
    """Batches of examples whose last part, their length, rounds up to the same multiple of
    `multiple`, in the order the groups fill. `lengths` (all of them, numpy) give the number
    of batches, so the dataset has a known length: Keras' progress bar and `finetune`'s
    schedule count the real steps."""
    boundaries = list(range(multiple + 1, int(lengths.max()) + 1, multiple))
    groups = np.bincount(np.searchsorted(boundaries, lengths, side="right"))
    batches = examples.bucket_by_sequence_length(
        lambda *example: example[-1],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        no_padding=True,
    )
    count = int(sum(-(-n // batch_size) for n in groups))
    return batches.apply(tf.data.experimental.assert_cardinality(count))


def _ragged_words(token_lists, name="token_lists"):
    """A list of lists of words -> a tf.string ragged `(sentences, None)`."""
    if not isinstance(token_lists, (list, tuple)) or not token_lists:
        raise TypeError(f"`{name}` must be a non-empty list of lists of str.")
    flat = []
    for i, words in enumerate(token_lists):
        if not isinstance(words, (list, tuple)):
            raise TypeError(f"`{name}[{i}]` must be a list of str; received {words!r:.100}.")
        for j, word in enumerate(words):
            if not isinstance(word, str):
                raise TypeError(f"`{name}[{i}][{j}]` must be a str; received {word!r}.")
        flat.extend(words)
    lengths = [len(words) for words in token_lists]
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat, tf.string), lengths)


def word_start_positions(token_lists, tokenizer, sequence_length=128):
    """Where each word's first piece sits in `token_classification_dataset`'s `token_ids`.

    Use it to map per-piece predictions back to words:
    `word_tags = [tags[predictions[i][p]] for p in positions[i] if p >= 0]`.

    Args:
        token_lists: list of lists of words (as given to `token_classification_dataset`).
        tokenizer: the same tokenizer.
        sequence_length: the same `sequence_length`.

    Returns:
        A list (one per sentence) of lists of int (one per word): the position of the word's
        first piece (`[CLS]` is position 0), or -1 for a word cut off by truncation.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    knlm.data.word_start_positions([["Hello", "Kerasnlm"]], tokenizer)  # [[1, 2]]
    ```
    """
    pieces = packing.word_pieces(_ragged_words(token_lists), tokenizer)
    return packing.word_start_positions(pieces, sequence_length).to_list()


def token_classification_dataset(
    token_lists,
    tag_lists,
    tokenizer,
    tags,
    sequence_length=128,
    batch_size=32,
    pad_to_multiple_of=None,
    shuffle=True,
    seed=None,
):
    """Batches for token classification (NER, POS) with word-level tags.

    Each sentence's words are split into pieces and framed `[CLS] pieces [SEP]`, padded to
    `sequence_length`. A word's tag goes on its FIRST piece; its other pieces, the special
    tokens and the padding get label 0 and weight 0, so the loss counts each word once and a
    prediction maps back to its word (see `word_start_positions`). Sentences longer than
    `sequence_length - 2` pieces are truncated: the words cut off get no label. The last
    batch may be smaller, so that evaluation sees every sentence.

    Shapes: x = `{"token_ids": int32 (B, L), "padding_mask": bool (B, L)}`, y = int32 `(B, L)`,
    the index in `tags` of the word's tag at its first piece, sample_weight = float32 `(B, L)`,
    1.0 at the first piece of every (kept) word.

    Args:
        token_lists: list of lists of words (e.g. from `read_conll`).
        tag_lists: list of lists of tags, one per word.
        tokenizer: a `kerasnlm.tokenizers.WordPieceTokenizer`.
        tags: list of all tag names; a tag's index is its class id.
        sequence_length: int, `L`.
        batch_size: int, `B`.
        pad_to_multiple_of: int or None. None pads every batch to `sequence_length`; an int
            pads each batch only to its longest sequence rounded up to a multiple of it (few
            distinct shapes for XLA, much less work on short texts).
        shuffle: bool, shuffle sentences each epoch (`False` to map predictions back).
        seed: int, makes the order reproducible.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    words, word_tags = knlm.data.read_conll(knlm.data.samples.wnut17("train"))
    tags = sorted({t for sentence in word_tags for t in sentence})
    ds = knlm.data.token_classification_dataset(words, word_tags, tokenizer, tags, seed=0)
    ```
    """
    _check_common(tokenizer, sequence_length, batch_size)
    _check_multiple(pad_to_multiple_of)
    tags = _string_list(tags, "tags")
    if len(set(tags)) != len(tags):
        raise ValueError(f"`tags` holds duplicates: {tags}.")
    words = _ragged_words(token_lists)
    if not isinstance(tag_lists, (list, tuple)) or len(tag_lists) != len(token_lists):
        raise ValueError(
            f"`tag_lists` must hold one list of tags per sentence ({len(token_lists)})."
        )
    index = {tag: i for i, tag in enumerate(tags)}
    tag_ids = []
    for i, (sentence, sentence_tags) in enumerate(zip(token_lists, tag_lists)):
        if len(sentence_tags) != len(sentence):
            raise ValueError(
                f"Sentence {i} has {len(sentence)} words but {len(sentence_tags)} tags."
            )
        for j, tag in enumerate(sentence_tags):
            if tag not in index:
                raise ValueError(
                    f"`tag_lists[{i}][{j}]` is {tag!r}, which is not in `tags` ({tags})."
                )
            tag_ids.append(index[tag])
    tag_ids = words.with_flat_values(tf.constant(tag_ids, tf.int32))
    ds = tf.data.Dataset.from_tensor_slices((words, tag_ids))
    if shuffle:
        ds = ds.shuffle(len(token_lists), seed=seed)

    def pack(words, word_tags):
        pieces = packing.word_pieces(words, tokenizer)
        per_word = pieces.values
        first = tf.ragged.range(per_word.row_lengths()).flat_values == 0
        piece_tags = tf.repeat(word_tags.flat_values, per_word.row_lengths())
        sentence_pieces = pieces.merge_dims(1, 2)
        labels = sentence_pieces.with_flat_values(tf.where(first, piece_tags, 0))
        weights = sentence_pieces.with_flat_values(tf.cast(first, tf.float32))

        def frame(x, start, end):
            framed = packing.frame(x, start, end, sequence_length)
            return packing.pad(framed, sequence_length, 0, pad_to_multiple_of)

        token_ids, padding_mask = frame(sentence_pieces, tokenizer.cls_id, tokenizer.sep_id)
        x = {"token_ids": token_ids, "padding_mask": padding_mask}
        return x, frame(labels, 0, 0)[0], frame(weights, 0.0, 0.0)[0]

    batches = ds.ragged_batch(batch_size).map(pack, num_parallel_calls=AUTOTUNE)
    return _finish(batches)


def seq2seq_dataset(
    source_texts,
    target_texts,
    tokenizer,
    sequence_length=128,
    target_sequence_length=None,
    target_tokenizer=None,
    batch_size=32,
    pad_to_multiple_of=None,
    shuffle=True,
    seed=None,
    bucket_by_length=False,
):
    """Batches for sequence-to-sequence training (translation, summarization) with teacher forcing.

    The source becomes `[CLS] s [SEP]` (truncated to `sequence_length`); the target pieces
    `t` (truncated to `target_sequence_length - 1`) give the decoder input `[CLS] t` and the
    labels `t [SEP]`, the same sequence shifted by one, so position i predicts piece i + 1.
    The last batch may be smaller.

    Shapes: x = `{"encoder_token_ids": int32 (B, L), "encoder_padding_mask": bool (B, L),
    "decoder_token_ids": int32 (B, T), "decoder_padding_mask": bool (B, T)}`, y = int32
    `(B, T)`, sample_weight = float32 `(B, T)`, 1 on real target pieces and `[SEP]`.

    Args:
        source_texts: list of str.
        target_texts: list of str, one per source.
        tokenizer: a `kerasnlm.tokenizers.WordPieceTokenizer` for the sources (and targets).
        sequence_length: int, `L`.
        target_sequence_length: int, `T`; defaults to `sequence_length`.
        target_tokenizer: a tokenizer for the targets; defaults to `tokenizer`.
        batch_size: int, `B`.
        pad_to_multiple_of: int or None. None pads every batch to `sequence_length`; an int
            pads each batch only to its longest sequence rounded up to a multiple of it (few
            distinct shapes for XLA, much less work on short texts).
        shuffle: bool, shuffle pairs each epoch.
        seed: int, makes the order reproducible.
        bucket_by_length: bool, with `shuffle` and `pad_to_multiple_of`: batch together pairs
            whose longer side rounds up to the same multiple (see `classification_dataset`).

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    english, spanish = knlm.data.read_parallel(knlm.data.samples.spa_eng())
    spanish_tokenizer = knlm.tokenizers.WordPieceTokenizer.train(spanish[:2000], 1000)
    ds = knlm.data.seq2seq_dataset(english, spanish, tokenizer, sequence_length=32,
                                   target_tokenizer=spanish_tokenizer, seed=0)
    ```
    """
    target_tokenizer = target_tokenizer or tokenizer
    target_sequence_length = target_sequence_length or sequence_length
    _check_common(tokenizer, sequence_length, batch_size)
    _check_multiple(pad_to_multiple_of)
    _check_common(target_tokenizer, target_sequence_length, batch_size)
    sources = _string_list(source_texts, "source_texts")
    targets = _string_list(target_texts, "target_texts")
    if len(sources) != len(targets):
        raise ValueError(
            f"`source_texts` ({len(sources)}) and `target_texts` ({len(targets)}) must have "
            "the same length."
        )
    _check_buckets(bucket_by_length, pad_to_multiple_of)
    lengths = None
    if bucket_by_length and shuffle:
        # The longer side of each pair: `[CLS] s [SEP]`, or `[CLS] t` (and `t [SEP]`).
        target_lengths = target_tokenizer(targets).row_lengths().numpy() + 1
        lengths = np.maximum(
            _framed_lengths(tokenizer, sources, None, sequence_length),
            np.minimum(target_lengths, target_sequence_length),
        ).astype("int32")
    batches = _batches((sources, targets), lengths, batch_size, shuffle, seed, pad_to_multiple_of)

    def pack(sources, targets, *length):
        source = packing.frame(
            tokenizer(sources), tokenizer.cls_id, tokenizer.sep_id, sequence_length
        )
        target = target_tokenizer(targets)[:, : target_sequence_length - 1]
        decoder_inputs = tf.concat(
            [packing.column(target, target_tokenizer.cls_id), target], axis=1
        )
        labels = tf.concat([target, packing.column(target, target_tokenizer.sep_id)], axis=1)
        multiple = pad_to_multiple_of
        encoder_token_ids, encoder_padding_mask = packing.pad(
            source, sequence_length, tokenizer.pad_id, multiple
        )
        decoder_token_ids, decoder_padding_mask = packing.pad(
            decoder_inputs, target_sequence_length, target_tokenizer.pad_id, multiple
        )
        y, weights = packing.pad(labels, target_sequence_length, target_tokenizer.pad_id, multiple)
        x = {
            "encoder_token_ids": encoder_token_ids,
            "encoder_padding_mask": encoder_padding_mask,
            "decoder_token_ids": decoder_token_ids,
            "decoder_padding_mask": decoder_padding_mask,
        }
        return x, y, tf.cast(weights, tf.float32)

    return _finish(batches.map(pack, num_parallel_calls=AUTOTUNE))
