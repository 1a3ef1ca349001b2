import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnlm as knlm
from kerasnlm.tokenizers import WordPieceTokenizer

samples = knlm.data.samples


def framed(tokenizer, lines, length):
    """Reference `[CLS] pieces [SEP]` + padding, built in numpy from the tokenizer's ids."""
    out = np.zeros((len(lines), length), np.int32)
    for i, ids in enumerate(tokenizer(lines).to_list()):
        row = [tokenizer.cls_id] + ids[: length - 2] + [tokenizer.sep_id]
        out[i, : len(row)] = row
    return out


def collect(dataset):
    """All batches of one pass, concatenated: (x dict, y, sample_weight) of numpy arrays."""
    xs, ys, ws = [], [], []
    for x, y, w in dataset:
        xs.append({k: v.numpy() for k, v in x.items()})
        ys.append(y.numpy())
        ws.append(w.numpy())
    return (
        {k: np.concatenate([x[k] for x in xs]) for k in xs[0]},
        np.concatenate(ys),
        np.concatenate(ws),
    )


def test_masked_lm_rates_and_replacements_on_real_text(tokenizer):
    lines = knlm.data.read_text(samples.english_text())[:3000]
    length = 64
    ds = knlm.data.masked_lm_dataset(
        lines, tokenizer, sequence_length=length, batch_size=50, shuffle=False, seed=7
    )
    spec = ds.element_spec
    assert spec[0]["token_ids"].shape.as_list() == [None, length]
    assert spec[0]["token_ids"].dtype == tf.int32 and spec[0]["padding_mask"].dtype == tf.bool
    assert spec[0]["mask_positions"].shape.as_list() == [None, 10]
    assert spec[1].shape.as_list() == [None, 10] and spec[2].dtype == tf.float32
    x, y, weight = collect(ds)
    assert x["token_ids"].shape == (len(lines) // 50 * 50, length)  # full batches only
    original = framed(tokenizer, lines, length)
    np.testing.assert_array_equal(x["padding_mask"], original != 0)
    specials = np.isin(original, [tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id])
    eligible = x["padding_mask"] & ~specials
    assert eligible.sum() > 10_000

    rows = np.repeat(np.arange(len(lines))[:, None], 10, axis=1)
    real = weight == 1
    chosen = np.zeros_like(eligible)
    chosen[rows[real], x["mask_positions"][real]] = True
    assert chosen.sum() == real.sum()  # no position is predicted twice
    assert not (chosen & ~eligible).any()  # never [CLS], [SEP] or [PAD]
    np.testing.assert_array_equal(y[real], original[rows[real], x["mask_positions"][real]])
    np.testing.assert_array_equal(x["token_ids"][~chosen], original[~chosen])
    assert set(np.unique(weight)) == {0.0, 1.0} and (x["mask_positions"][~real] == 0).all()

    assert abs(chosen.sum() / eligible.sum() - 0.15) < 0.01
    replaced = x["token_ids"][chosen]
    kept = original[chosen]
    as_mask = np.mean(replaced == tokenizer.mask_id)
    as_random = np.mean((replaced != tokenizer.mask_id) & (replaced != kept))
    unchanged = np.mean(replaced == kept)
    assert abs(as_mask - 0.8) < 0.02 and abs(as_random - 0.1) < 0.02 and abs(unchanged - 0.1) < 0.02
    random_tokens = replaced[(replaced != tokenizer.mask_id) & (replaced != kept)]
    assert not np.isin(random_tokens, range(5)).any()  # random replacements are real tokens
    assert len(np.unique(random_tokens)) > 100


def test_masked_lm_new_mask_each_epoch_reproducible_under_seed(tokenizer):
    lines = knlm.data.read_text(samples.english_text("valid"))

    def build(seed):
        return knlm.data.masked_lm_dataset(
            lines, tokenizer, sequence_length=48, batch_size=20, shuffle=False, seed=seed
        )

    ds = build(1)
    first, second = collect(ds), collect(ds)

    def chosen(epoch):
        x, _, weight = epoch
        marks = np.zeros(x["token_ids"].shape, bool)
        rows = np.repeat(np.arange(len(weight))[:, None], weight.shape[1], axis=1)
        marks[rows[weight == 1], x["mask_positions"][weight == 1]] = True
        return marks

    a, b = chosen(first), chosen(second)
    # Independent masks overlap on about 15% of the chosen positions; the same mask on 100%.
    assert (a & b).sum() / a.sum() < 0.3
    again = collect(build(1))
    for key in ("token_ids", "mask_positions"):
        np.testing.assert_array_equal(again[0][key], first[0][key])
    assert (chosen(collect(build(2))) & a).sum() / a.sum() < 0.3


def test_masked_lm_whole_word_masking_masks_every_piece_of_a_word(tokenizer):
    lines = knlm.data.read_text(samples.english_text())[:2000]
    length = 48
    ds = knlm.data.masked_lm_dataset(
        lines,
        tokenizer,
        sequence_length=length,
        batch_size=40,
        max_predictions=length,
        whole_word_masking=True,
        shuffle=False,
        seed=3,
    )
    x, _, weight = collect(ds)
    original = framed(tokenizer, lines, length)
    vocabulary = np.array(tokenizer.get_vocabulary())
    starts_word = ~np.char.startswith(vocabulary[original], "##")
    words = chosen_words = split_words = multi_piece_words = 0
    for row in range(len(lines)):
        chosen = set(x["mask_positions"][row][weight[row] == 1].tolist())
        real = np.flatnonzero(x["padding_mask"][row])[1:-1]  # between [CLS] and [SEP]
        starts = [p for p in real if starts_word[row, p]] + [real[-1] + 1 if len(real) else 0]
        for start, end in zip(starts[:-1], starts[1:]):
            word = set(range(start, end))
            words += 1
            chosen_words += word <= chosen
            split_words += 0 < len(word & chosen) < len(word)
            multi_piece_words += len(word) > 1
    assert split_words == 0
    assert multi_piece_words > 1000  # the property was tested on many multi-piece words
    assert abs(chosen_words / words - 0.15) < 0.01


def test_masked_lm_caps_predictions_and_validates_arguments(tokenizer):
    lines = knlm.data.read_text(samples.english_text("valid"))
    ds = knlm.data.masked_lm_dataset(
        lines, tokenizer, sequence_length=32, batch_size=16, max_predictions=2, seed=0
    )
    _, _, weight = collect(ds)
    assert weight.shape[1] == 2 and weight.sum(axis=1).max() == 2
    with pytest.raises(ValueError, match="`mask_rate` must be a float in \\(0, 1\\); received 1.5"):
        knlm.data.masked_lm_dataset(lines, tokenizer, mask_rate=1.5)
    with pytest.raises(
        ValueError, match="`max_predictions` must be an int in \\[1, sequence_length=32\\]"
    ):
        knlm.data.masked_lm_dataset(lines, tokenizer, sequence_length=32, max_predictions=33)
    with pytest.raises(ValueError, match="`sequence_length` must be an int >= 3; received 2"):
        knlm.data.masked_lm_dataset(lines, tokenizer, sequence_length=2)
    with pytest.raises(ValueError, match="`batch_size` must be a positive int; received 0"):
        knlm.data.masked_lm_dataset(lines, tokenizer, batch_size=0)
    with pytest.raises(TypeError, match="must be a kerasnlm WordPieceTokenizer"):
        knlm.data.masked_lm_dataset(lines, lambda x: x)
    with pytest.raises(ValueError, match="every text is empty"):
        knlm.data.masked_lm_dataset(["", "  "], tokenizer)
    short = r"`texts_or_files` gives 31 non-blank texts, .*fewer than one batch \(`batch_size` 32\)"
    with pytest.raises(ValueError, match=short):
        knlm.data.masked_lm_dataset(lines[:31] + [" "], tokenizer)


def test_masked_lm_packed_documents_fill_every_position(tokenizer):
    lines = knlm.data.read_text(samples.english_text("valid"))
    stream = [i for ids in tokenizer(lines).to_list() for i in ids + [tokenizer.sep_id]]
    length, batch = 64, 8
    windows = np.array(stream[: len(stream) // (length - 1) * (length - 1)]).reshape(-1, length - 1)
    windows = windows[: len(windows) // batch * batch]
    ds = knlm.data.masked_lm_dataset(
        lines, tokenizer, sequence_length=length, batch_size=batch, pack_documents=True,
        shuffle=False, seed=0,
    )
    x, y, weight = collect(ds)
    original = np.concatenate([np.full((len(windows), 1), tokenizer.cls_id), windows], axis=1)
    assert x["padding_mask"].all() and x["token_ids"].shape == original.shape
    rows = np.repeat(np.arange(len(original))[:, None], weight.shape[1], axis=1)
    real = weight == 1
    np.testing.assert_array_equal(y[real], original[rows[real], x["mask_positions"][real]])
    # Every sequence is full, so each carries the full prediction budget of ~15% of 64 pieces,
    # where one padded line a sequence carries ~2 (the valid lines average ~11 pieces).
    eligible = ~np.isin(original, [tokenizer.cls_id, tokenizer.sep_id])
    assert abs(real.sum() / eligible.sum() - 0.15) < 0.01
    padded = collect(knlm.data.masked_lm_dataset(
        lines, tokenizer, sequence_length=length, batch_size=batch, shuffle=False, seed=0))
    assert real.sum(axis=1).mean() > 4 * (padded[2] == 1).sum(axis=1).mean()
    # Whole-word masking on packed windows: the masked pieces still form whole words.
    ds = knlm.data.masked_lm_dataset(
        lines, tokenizer, sequence_length=length, batch_size=batch, pack_documents=True,
        whole_word_masking=True, max_predictions=length, shuffle=False, seed=0,
    )
    x, _, weight = collect(ds)
    vocabulary = np.array(tokenizer.get_vocabulary())
    continues = np.char.startswith(vocabulary[original], "##")
    for row in range(len(original)):
        chosen = set(x["mask_positions"][row][weight[row] == 1].tolist())
        for p in chosen:
            if p + 1 < length and continues[row, p + 1]:
                assert p + 1 in chosen  # the rest of the word goes with its first piece
    short = r"sequences? of 63: fewer than one batch \(`batch_size` 8\)"
    with pytest.raises(ValueError, match=short):
        knlm.data.masked_lm_dataset(lines[:10], tokenizer, length, batch, pack_documents=True)


def test_causal_lm_windows_are_the_document_stream_shifted_by_one(tokenizer, tmp_path):
    lines = knlm.data.read_text(samples.english_text("valid"))
    stream = [i for ids in tokenizer(lines).to_list() for i in ids + [tokenizer.sep_id]]
    length, batch = 32, 8
    windows = np.array(stream[: len(stream) // (length + 1) * (length + 1)]).reshape(-1, length + 1)
    windows = windows[: len(windows) // batch * batch]
    ds = knlm.data.causal_lm_dataset(
        lines, tokenizer, sequence_length=length, batch_size=batch, shuffle=False
    )
    assert ds.element_spec[0]["token_ids"].shape.as_list() == [None, length]
    x, y, weight = collect(ds)
    np.testing.assert_array_equal(x["token_ids"], windows[:, :-1])
    np.testing.assert_array_equal(y, windows[:, 1:])
    assert x["padding_mask"].all() and (weight == 1).all() and x["token_ids"].dtype == np.int32
    # The same from a file, streamed.
    path = tmp_path / "valid.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_file = collect(
        knlm.data.causal_lm_dataset(str(path), tokenizer, length, batch, shuffle=False)
    )
    np.testing.assert_array_equal(from_file[0]["token_ids"], windows[:, :-1])
    # Shuffled: the same windows in another order, reproducible under the seed.
    shuffled = knlm.data.causal_lm_dataset(lines, tokenizer, length, batch, seed=5)
    first = collect(shuffled)[0]["token_ids"]
    assert len(first) == len(windows) - (len(windows) % batch)
    assert not np.array_equal(first, windows[: len(first), :-1])
    np.testing.assert_array_equal(
        collect(knlm.data.causal_lm_dataset(lines, tokenizer, length, batch, seed=5))[0][
            "token_ids"
        ],
        first,
    )
    short = r"sequences? of 33: fewer than one batch \(`batch_size` 8\)"
    with pytest.raises(ValueError, match=short):
        knlm.data.causal_lm_dataset(lines[:10], tokenizer, length, batch)


def test_classification_single_texts_and_pairs(tokenizer):
    texts, labels = knlm.data.read_tsv(samples.sst2("dev"))
    ds = knlm.data.classification_dataset(
        texts, labels, tokenizer, sequence_length=40, batch_size=100, shuffle=False
    )
    assert ds.element_spec[0]["token_ids"].shape.as_list() == [None, 40]
    x, y, weight = collect(ds)
    np.testing.assert_array_equal(x["token_ids"], framed(tokenizer, texts, 40))
    np.testing.assert_array_equal(x["padding_mask"], x["token_ids"] != 0)
    assert y.tolist() == labels and y.dtype == np.int32 and (weight == 1).all()
    assert len(y) == 872  # the last, smaller batch is kept

    second = texts[::-1]
    x, y, _ = collect(
        knlm.data.classification_dataset(
            texts, labels, tokenizer, 24, 64, text_pairs=second, num_classes=2, shuffle=False
        )
    )
    a, b = tokenizer(texts).to_list(), tokenizer(second).to_list()
    truncated = 0
    for i, row in enumerate(x["token_ids"]):
        row = row[x["padding_mask"][i]].tolist()
        assert row[0] == tokenizer.cls_id and row[-1] == tokenizer.sep_id
        middle = row.index(tokenizer.sep_id)
        first, pair = row[1:middle], row[middle + 1 : -1]
        segments = x["segment_ids"][i].tolist()
        assert segments == [0] * (middle + 1) + [1] * (len(row) - middle - 1) + [0] * (
            24 - len(row)
        )
        assert first == a[i][: len(first)] and pair == b[i][: len(pair)]
        if len(first) < len(a[i]) or len(pair) < len(b[i]):
            truncated += 1
            assert len(row) == 24
            # Round robin: the shorter text is kept whole, or both are cut to (almost) equal length.
            assert (
                len(first) == len(a[i])
                or len(pair) == len(b[i])
                or abs(len(first) - len(pair)) <= 1
            )
    assert truncated > 100


def test_classification_shuffle_and_errors(tokenizer):
    texts, labels = knlm.data.read_tsv(samples.sst2("dev"))

    def build(seed):
        return knlm.data.classification_dataset(texts, labels, tokenizer, 16, 32, seed=seed)

    first = collect(build(4))[1]
    assert sorted(first.tolist()) == sorted(labels) and first.tolist() != labels
    assert collect(build(4))[1].tolist() == first.tolist()
    with pytest.raises(ValueError, match=r"`labels\[3\]` is 2, outside \[0, 2\) \(num_classes\)"):
        knlm.data.classification_dataset(
            ["a", "b", "c", "d"], [0, 1, 0, 2], tokenizer, num_classes=2
        )
    with pytest.raises(ValueError, match=r"`labels\[0\]` is -1, outside"):
        knlm.data.classification_dataset(["a"], [-1], tokenizer)
    with pytest.raises(
        TypeError, match=r"`labels\[1\]` must be an int class id; received 'positive'"
    ):
        knlm.data.classification_dataset(["a", "b"], [0, "positive"], tokenizer)
    with pytest.raises(ValueError, match="one label per text"):
        knlm.data.classification_dataset(["a", "b"], [0], tokenizer)
    with pytest.raises(TypeError, match=r"`texts\[1\]` must be a str; received None"):
        knlm.data.classification_dataset(["a", None], [0, 1], tokenizer)
    with pytest.raises(ValueError, match="`text_pairs` must hold one text per text"):
        knlm.data.classification_dataset(["a", "b"], [0, 1], tokenizer, text_pairs=["c"])


def test_token_classification_recovers_every_word_tag_of_wnut17(tokenizer):
    words, tags = knlm.data.read_conll(samples.wnut17("train"))
    dev_words, dev_tags = knlm.data.read_conll(samples.wnut17("dev"))
    words, tags = words + dev_words, tags + dev_tags
    tag_names = sorted({t for sentence in tags for t in sentence})
    assert len(tag_names) == 13
    pieces = tokenizer(tf.ragged.constant(words)).to_list()
    longest = max(sum(len(p) for p in sentence) for sentence in pieces)
    length = longest + 2 + 8  # every sentence fits
    ds = knlm.data.token_classification_dataset(
        words, tags, tokenizer, tag_names, sequence_length=length, batch_size=64, shuffle=False
    )
    assert ds.element_spec[1].shape.as_list() == [None, length]
    x, y, weight = collect(ds)
    positions = knlm.data.word_start_positions(words, tokenizer, sequence_length=length)
    assert len(y) == len(words) == 2000
    for i, sentence_tags in enumerate(tags):
        first_pieces = np.flatnonzero(weight[i])
        assert [tag_names[t] for t in y[i][first_pieces]] == sentence_tags
        assert first_pieces.tolist() == positions[i]
        assert (y[i][weight[i] == 0] == 0).all()
        expected = [
            word_pieces[0] if word_pieces else tokenizer.unk_id for word_pieces in pieces[i]
        ]
        assert x["token_ids"][i, positions[i]].tolist() == expected
    assert weight.sum() < x["padding_mask"].sum() - 2 * len(words)  # many words have several pieces


def test_token_classification_truncation_and_wordless_pieces(tokenizer):
    words, tags = knlm.data.read_conll(samples.wnut17("dev"))
    tag_names = sorted({t for sentence in tags for t in sentence})
    ds = knlm.data.token_classification_dataset(
        words, tags, tokenizer, tag_names, 16, 128, shuffle=False
    )
    x, y, weight = collect(ds)
    positions = knlm.data.word_start_positions(words, tokenizer, sequence_length=16)
    pieces_per_sentence = [
        sum(max(n, 1) for n in row)
        for row in tokenizer(tf.ragged.constant(words)).row_lengths(axis=2).to_list()
    ]
    full = sum(n >= 14 for n in pieces_per_sentence)
    cut = 0
    for i, sentence_tags in enumerate(tags):
        kept = [p for p in positions[i] if p >= 0]
        assert kept == positions[i][: len(kept)] and max(kept) <= 14
        assert [tag_names[t] for t in y[i][kept]] == sentence_tags[: len(kept)]
        assert weight[i].sum() == len(kept)
        cut += len(kept) < len(sentence_tags)
    # Sentences of 14 pieces or more fill all 16 positions and end with [SEP]; others are padded.
    assert cut > 100 and (x["token_ids"][:, -1] == tokenizer.sep_id).sum() == full >= cut
    # A word with no piece at all (a lone zero-width space) still gets a position and its tag.
    x, y, weight = next(
        iter(
            knlm.data.token_classification_dataset(
                [["Hello", "\u200b", "there"]],
                [["O", "B-person", "O"]],
                tokenizer,
                ["O", "B-person"],
                8,
            )
        )
    )
    hello, there = tokenizer("hello").numpy().tolist(), tokenizer("there").numpy().tolist()
    assert (len(hello), len(there)) == (2, 1)
    assert x["token_ids"][0].numpy().tolist() == [2] + hello + [1] + there + [3, 0, 0]
    assert y[0].numpy().tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert weight[0].numpy().tolist() == [0, 1, 0, 1, 1, 0, 0, 0]


def test_token_classification_errors(tokenizer):
    with pytest.raises(
        ValueError, match=r"`tag_lists\[1\]\[0\]` is 'B-animal', which is not in `tags`"
    ):
        knlm.data.token_classification_dataset(
            [["a"], ["b"]], [["O"], ["B-animal"]], tokenizer, ["O"]
        )
    with pytest.raises(ValueError, match="Sentence 0 has 2 words but 1 tags"):
        knlm.data.token_classification_dataset([["a", "b"]], [["O"]], tokenizer, ["O"])
    with pytest.raises(TypeError, match=r"`token_lists\[0\]\[1\]` must be a str; received 5"):
        knlm.data.token_classification_dataset([["a", 5]], [["O", "O"]], tokenizer, ["O"])
    with pytest.raises(ValueError, match="`tags` holds duplicates"):
        knlm.data.token_classification_dataset([["a"]], [["O"]], tokenizer, ["O", "O"])


def test_seq2seq_decoder_inputs_and_targets_are_shifted_by_one(tokenizer):
    english, spanish = knlm.data.read_parallel(samples.spa_eng())
    english, spanish = english[:500], spanish[:500]
    # A target tokenizer with other special ids ([CLS] = 101), as for a BERT vocabulary.
    target_vocabulary = tokenizer.get_vocabulary()[:1] + [f"[unused{i}]" for i in range(99)]
    target_vocabulary += [t for t in tokenizer.get_vocabulary()[1:]]
    target = WordPieceTokenizer(target_vocabulary)
    assert (target.cls_id, target.sep_id) == (101, 102)
    ds = knlm.data.seq2seq_dataset(
        english,
        spanish,
        tokenizer,
        sequence_length=20,
        target_sequence_length=12,
        target_tokenizer=target,
        batch_size=64,
        shuffle=False,
    )
    x, y, weight = collect(ds)
    assert x["encoder_token_ids"].shape == (500, 20) and y.shape == (500, 12)
    np.testing.assert_array_equal(x["encoder_token_ids"], framed(tokenizer, english, 20))
    np.testing.assert_array_equal(x["encoder_padding_mask"], x["encoder_token_ids"] != 0)
    pieces = target(spanish).to_list()
    for i in range(500):
        t = pieces[i][:11]
        assert x["decoder_token_ids"][i][: len(t) + 1].tolist() == [101] + t
        assert y[i][: len(t) + 1].tolist() == t + [102]
        assert weight[i].tolist() == [1.0] * (len(t) + 1) + [0.0] * (11 - len(t))
        assert x["decoder_padding_mask"][i].sum() == len(t) + 1
    shifted = x["decoder_padding_mask"][:, 1:]
    np.testing.assert_array_equal(x["decoder_token_ids"][:, 1:][shifted], y[:, :-1][shifted])
    assert sum(len(p) > 11 for p in pieces) > 10  # truncation was exercised
    with pytest.raises(ValueError, match=r"`source_texts` \(2\) and `target_texts` \(1\)"):
        knlm.data.seq2seq_dataset(["a", "b"], ["c"], tokenizer)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def test_streaming_a_large_file_keeps_memory_flat(tokenizer, tmp_path):
    path = tmp_path / "large.txt"
    sample = open(samples.english_text(), "rb").read()
    with open(path, "wb") as f:
        for _ in range(700):
            f.write(sample)
    size_mb = os.path.getsize(path) / 2**20
    assert size_mb > 290
    try:
        start = rss_mb()
        ds = knlm.data.masked_lm_dataset(
            str(path), tokenizer, sequence_length=32, batch_size=256, seed=0
        )
        batches = iter(ds)
        for _ in range(50):
            next(batches)
        warm = rss_mb()
        for _ in range(550):
            x, _, _ = next(batches)
        end = rss_mb()
    finally:
        os.remove(path)
    assert x["token_ids"].shape == (256, 32)
    assert warm - start < 100 < size_mb  # the file was not loaded
    assert end - warm < 20  # 150,000 more lines streamed without growth


def test_batches_feed_model_fit_and_a_model_learns_from_them(tokenizer):
    texts, labels = knlm.data.read_tsv(samples.sst2("train"))
    train = knlm.data.classification_dataset(
        texts, labels, tokenizer, 32, 64, num_classes=2, seed=0
    )
    token_ids = keras.Input((32,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((32,), dtype="bool", name="padding_mask")
    vectors = keras.layers.Embedding(tokenizer.vocabulary_size, 16)(token_ids)
    pooled = keras.layers.GlobalAveragePooling1D()(vectors, mask=padding_mask)
    model = keras.Model([token_ids, padding_mask], keras.layers.Dense(2)(pooled))
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    losses = model.fit(train, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0] - 0.1
    dev_texts, dev_labels = knlm.data.read_tsv(samples.sst2("dev"))
    dev = knlm.data.classification_dataset(dev_texts, dev_labels, tokenizer, 32, 64, shuffle=False)
    accuracy = np.mean(np.argmax(model.predict(dev, verbose=0), axis=1) == np.array(dev_labels))
    assert accuracy > 0.6


def test_docstring_examples_of_the_data_functions_run(tmp_path, monkeypatch):
    import inspect
    import re

    monkeypatch.chdir(tmp_path)
    objects = [knlm.data.samples, WordPieceTokenizer.train]
    for module in (knlm.data.readers, knlm.data.pipelines):
        objects += [
            f
            for name, f in vars(module).items()
            if inspect.isfunction(f)
            and not name.startswith("_")
            and f.__module__ == module.__name__
        ]
    ran = 0
    for obj in objects:
        for block in re.findall(
            r"```python\n(.*?)```", inspect.cleandoc(obj.__doc__ or ""), re.DOTALL
        ):
            exec(compile(block, f"<{obj.__name__} docstring>", "exec"), {})
            ran += 1
    assert ran >= 13


def test_pad_to_multiple_of_trims_padding_without_changing_content(tokenizer):
    texts, labels = knlm.data.read_tsv(samples.sst2("train"))
    texts, labels = texts[:400], labels[:400]
    full = knlm.data.classification_dataset(
        texts, labels, tokenizer, sequence_length=64, batch_size=8, shuffle=False
    )
    short = knlm.data.classification_dataset(
        texts, labels, tokenizer, sequence_length=64, batch_size=8, shuffle=False,
        pad_to_multiple_of=16,
    )
    lengths = set()
    for (x_full, y_full, _), (x, y, _) in zip(full, short):
        length = x["token_ids"].shape[1]
        lengths.add(length)
        longest = int(x_full["padding_mask"].numpy().sum(axis=1).max())
        assert length % 16 == 0 and longest <= length < longest + 16
        np.testing.assert_array_equal(x["token_ids"], x_full["token_ids"][:, :length])
        assert not x_full["padding_mask"].numpy()[:, length:].any()
        np.testing.assert_array_equal(y, y_full)
    assert len(lengths) > 1  # SST-2 training phrases are mostly short
    words, tags = knlm.data.read_conll(samples.wnut17("dev"))
    tag_names = sorted({t for sentence in tags for t in sentence})
    x, y, w = next(iter(knlm.data.token_classification_dataset(
        words[:32], tags[:32], tokenizer, tag_names, sequence_length=128, pad_to_multiple_of=8,
        shuffle=False)))
    assert x["token_ids"].shape[1] % 8 == 0 and y.shape == w.shape == x["token_ids"].shape
    english, spanish = knlm.data.read_parallel(samples.spa_eng())
    x, y, w = next(iter(knlm.data.seq2seq_dataset(
        english[:32], spanish[:32], tokenizer, sequence_length=64, pad_to_multiple_of=8,
        shuffle=False)))
    assert x["encoder_token_ids"].shape[1] % 8 == 0 and x["decoder_token_ids"].shape[1] % 8 == 0
    assert x["encoder_token_ids"].shape[1] < 64 and y.shape == x["decoder_token_ids"].shape
    with pytest.raises(ValueError, match="`pad_to_multiple_of` must be a positive int"):
        knlm.data.classification_dataset(texts, labels, tokenizer, pad_to_multiple_of=0)


@pytest.mark.parametrize("pairs", [False, True], ids=["texts", "pairs"])
def test_bucket_by_length_keeps_every_example_and_pads_less(tokenizer, pairs):
    texts, labels = knlm.data.read_tsv(samples.sst2("train"))
    texts, labels = texts[:600], labels[:600]
    text_pairs = texts[::-1] if pairs else None

    def run(bucket, seed):
        ds = knlm.data.classification_dataset(
            texts, labels, tokenizer, sequence_length=64, batch_size=16, text_pairs=text_pairs,
            pad_to_multiple_of=8, seed=seed, bucket_by_length=bucket,
        )
        examples, padded, batches = [], 0, []
        assert bucket or int(ds.cardinality()) == 38  # ceil(600 / 16)
        for x, y, w in ds:
            ids, mask = x["token_ids"].numpy(), x["padding_mask"].numpy()
            padded += ids.size
            longest = int(mask.sum(axis=1).max())
            assert ids.shape[1] % 8 == 0 and longest <= ids.shape[1] < longest + 8
            examples += [(tuple(row[m]), label) for row, m, label in zip(ids, mask, y.numpy())]
            batches.append(ids.shape[1])
        # The declared length is the real one: Keras and finetune's schedule count on it.
        assert int(ds.cardinality()) == len(batches)
        return sorted(examples), padded, batches

    plain, plain_padded, _ = run(False, 0)
    bucketed, bucketed_padded, lengths = run(True, 0)
    assert bucketed == plain and len(plain) == 600  # same examples, same labels, once each
    assert bucketed_padded < 0.8 * plain_padded
    # Random order of lengths, not sorted; and a new order with another seed.
    assert lengths != sorted(lengths) and lengths != sorted(lengths, reverse=True)
    assert run(True, 1)[2] != lengths
    with pytest.raises(ValueError, match="`bucket_by_length=True` needs `pad_to_multiple_of`"):
        knlm.data.classification_dataset(texts, labels, tokenizer, bucket_by_length=True)


def test_seq2seq_bucket_by_length_keeps_every_pair_and_pads_less(tokenizer):
    english, spanish = knlm.data.read_parallel(samples.spa_eng())
    english, spanish = english[:400], spanish[:400]

    def run(bucket):
        ds = knlm.data.seq2seq_dataset(
            english, spanish, tokenizer, sequence_length=48, batch_size=16, pad_to_multiple_of=8,
            seed=0, bucket_by_length=bucket,
        )
        pairs, padded, batches = [], 0, 0
        for x, y, w in ds:
            source, source_mask = x["encoder_token_ids"].numpy(), x["encoder_padding_mask"].numpy()
            target, target_mask = x["decoder_token_ids"].numpy(), x["decoder_padding_mask"].numpy()
            padded += source.size + target.size
            for ids in (source, target):
                assert ids.shape[1] % 8 == 0
            labels, weights = y.numpy(), w.numpy()
            pairs += [(tuple(s[sm]), tuple(t[tm]), tuple(label[ws > 0]))
                      for s, sm, t, tm, label, ws in zip(source, source_mask, target, target_mask,
                                                         labels, weights)]
            batches += 1
        assert int(ds.cardinality()) == batches
        return sorted(pairs), padded

    plain, plain_padded = run(False)
    bucketed, bucketed_padded = run(True)
    assert bucketed == plain and len(plain) == 400  # the same pairs and labels, once each
    assert bucketed_padded < 0.8 * plain_padded
    with pytest.raises(ValueError, match="`bucket_by_length=True` needs `pad_to_multiple_of`"):
        knlm.data.seq2seq_dataset(english, spanish, tokenizer, bucket_by_length=True)


def test_prediction_batches_longest_first_each_cut_to_its_longest(tokenizer):
    texts = ["dull", "a film of the year and a film of the day", "", "a gorgeous , witty film",
             "the movie was a delight"]
    batches, order = knlm.data.prediction_dataset(texts, tokenizer, 32, batch_size=2,
                                                  pad_to_multiple_of=4)
    framed = [len(row) + 2 for row in tokenizer(texts).to_list()]
    assert [framed[i] for i in order] == sorted(framed, reverse=True)
    rows, widths = [], []
    for batch in batches:
        widths.append(batch["token_ids"].shape[1])
        lengths = batch["padding_mask"].numpy().sum(1)
        assert widths[-1] == -(-lengths.max() // 4) * 4  # rounded up to the multiple
        rows += [list(ids[:n]) for ids, n in zip(batch["token_ids"].numpy(), lengths)]
    assert widths == sorted(widths, reverse=True) and len(widths) == 3
    # The examples, put back in the order asked, are `[CLS] text [SEP]` of each text.
    expected = [[tokenizer.cls_id] + row + [tokenizer.sep_id] for row in tokenizer(texts).to_list()]
    assert [rows[list(order).index(i)] for i in range(len(texts))] == expected
    with pytest.raises(TypeError, match="texts"):
        knlm.data.prediction_dataset(["fine", 3], tokenizer, 32)


def test_prediction_batches_of_words_are_framed_as_for_training(tokenizer):
    words = [["Alice", "lives", "in", "Paris."], ["ok"], [], ["a", "gorgeous", ",", "witty"]]
    [batch], order = knlm.data.prediction_dataset(words, tokenizer, 16, batch_size=8)
    x, _, _ = next(iter(knlm.data.token_classification_dataset(
        words, [["O"] * len(w) for w in words], tokenizer, ["O"], 16, batch_size=8,
        pad_to_multiple_of=1, shuffle=False,
    )))
    back = np.argsort(order)
    for key in ("token_ids", "padding_mask"):
        np.testing.assert_array_equal(batch[key].numpy()[back], x[key].numpy())
