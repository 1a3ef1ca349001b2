import json
import os
import string
import unicodedata
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnlm as knlm
from kerasnlm.tokenizers import SPECIAL_TOKENS
from kerasnlm.tokenizers import WordPieceTokenizer

samples = knlm.data.samples


@pytest.fixture(scope="module")
def sentences():
    """Real, unseen sentences of three registers: reviews, everyday English, tweets."""
    sst2, _ = knlm.data.read_tsv(samples.sst2("dev"))
    tweets, _ = knlm.data.read_conll(samples.wnut17("dev"))
    return sst2 + knlm.data.read_text(samples.english_text("valid")) + [" ".join(t) for t in tweets]


def bert_basic_tokenize(text):
    """Reference: BERT's BasicTokenizer (uncased) in plain Python, written from the paper's code.

    Drops NUL, U+FFFD and control/format characters, lowercases, strips accents (NFD, drop
    combining marks), splits on whitespace and on punctuation (ASCII symbols and Unicode P*).
    """
    kept = []
    for char in text:
        if char in "\t\n\r" or unicodedata.category(char) == "Zs":
            kept.append(" ")
        elif ord(char) not in (0, 0xFFFD) and unicodedata.category(char) not in ("Cc", "Cf"):
            kept.append(char)
    words = []
    for word in "".join(kept).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(c for c in word if unicodedata.category(c) != "Mn")
        current = ""
        for char in word:
            code = ord(char)
            ascii_symbol = (
                33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126
            )
            if ascii_symbol or unicodedata.category(char).startswith("P"):
                words += [current, char] if current else [char]
                current = ""
            else:
                current += char
        if current:
            words.append(current)
    return " ".join(words)


def test_round_trip_equals_bert_normalized_text_on_real_sentences(tokenizer, sentences):
    ids = tokenizer(sentences)
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert ids.nrows() == len(sentences) == 872 + 1000 + 500
    decoded = [s.decode("utf-8") for s in tokenizer.detokenize(ids).numpy()]
    has_unknown = [tokenizer.unk_id in row for row in ids.to_list()]
    # Emoji and rare symbols of the tweets are [UNK]: detokenize cannot restore those words.
    assert sum(has_unknown) < 0.03 * len(sentences)
    compared = 0
    for sentence, text, unknown in zip(sentences, decoded, has_unknown):
        if not unknown:
            assert text == bert_basic_tokenize(sentence), sentence
            compared += 1
    assert compared > 2300


def test_same_ids_eagerly_in_dataset_map_in_tf_function_and_in_saved_model(
    tokenizer, sentences, tmp_path
):
    texts = sentences[::5]
    eager = tokenizer(texts).to_list()
    mapped = []
    for batch in tf.data.Dataset.from_tensor_slices(texts).batch(64).map(tokenizer):
        mapped += batch.to_list()
    per_element = [
        x.numpy().tolist() for x in tf.data.Dataset.from_tensor_slices(texts).map(tokenizer)
    ]
    graph = tf.function(lambda x: tokenizer(x), input_signature=[tf.TensorSpec([None], tf.string)])
    assert mapped == eager
    assert per_element == eager
    assert graph(tf.constant(texts)).to_list() == eager
    detokenize = tf.function(lambda ids: tokenizer.detokenize(ids))
    assert detokenize(tokenizer(texts).to_tensor()).numpy().tolist() == (
        tokenizer.detokenize(tokenizer(texts)).numpy().tolist()
    )

    module = tf.Module()
    module.tokenize = tf.function(
        lambda x: tokenizer(x).to_tensor(), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    tf.saved_model.save(module, str(tmp_path / "exported"))
    reloaded = tf.saved_model.load(str(tmp_path / "exported"))
    dense = tokenizer(texts).to_tensor().numpy()
    np.testing.assert_array_equal(reloaded.tokenize(tf.constant(texts)).numpy(), dense)


def test_config_and_keras_serialization_round_trip(tokenizer, sentences):
    config = tokenizer.get_config()
    assert config["vocabulary"] == tokenizer.get_vocabulary()
    assert (config["lowercase"], config["strip_accents"], config["max_word_length"]) == (
        True,
        True,
        100,
    )
    restored = WordPieceTokenizer.from_config(config)
    # What a `.keras` file stores: the registered name and a JSON config.
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(tokenizer)))
    assert serialized["registered_name"] == "kerasnlm>WordPieceTokenizer"
    deserialized = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(deserialized, WordPieceTokenizer)
    expected = tokenizer(sentences[:300]).to_list()
    assert restored(sentences[:300]).to_list() == expected
    assert deserialized(sentences[:300]).to_list() == expected


def test_special_token_ids_and_vocabulary_file_round_trip(tokenizer, tmp_path):
    assert tokenizer.get_vocabulary()[:5] == list(SPECIAL_TOKENS)
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id) == (0, 1, 2)
    assert (tokenizer.sep_id, tokenizer.mask_id, tokenizer.vocabulary_size) == (3, 4, 3886)
    tokenizer.save_vocabulary(tmp_path / "vocab.txt")
    lines = (tmp_path / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert lines[:-1] == tokenizer.get_vocabulary() and lines[-1] == ""
    reloaded = WordPieceTokenizer(str(tmp_path / "vocab.txt"))
    assert (
        reloaded("it 's a charming journey").numpy().tolist()
        == tokenizer("it 's a charming journey").numpy().tolist()
    )


def test_bert_layout_vocabulary_finds_special_tokens_by_name():
    # BERT's own layout: [PAD]=0, [unused*], [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103.
    vocabulary = ["[PAD]"] + [f"[unused{i}]" for i in range(99)]
    vocabulary += ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "##s", "."]
    tokenizer = WordPieceTokenizer(vocabulary)
    assert (tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id) == (
        100,
        101,
        102,
        103,
    )
    assert tokenizer("The cats sat. Dog").numpy().tolist() == [104, 105, 107, 106, 108, 100]


def test_shapes_scalar_batch_and_words():
    tokenizer = WordPieceTokenizer(samples.vocabulary())
    scalar = tokenizer("hello world")
    assert isinstance(scalar, tf.Tensor) and scalar.shape.rank == 1
    assert tokenizer.detokenize(scalar).numpy() == b"hello world"
    words = tokenizer(tf.ragged.constant([["Hello", "worlds"], ["x"]]))
    assert words.shape.rank == 3
    assert words.row_lengths(axis=1).numpy().tolist() == [2, 1]
    assert words.to_list()[0] == [
        tokenizer("hello").numpy().tolist(),
        tokenizer("worlds").numpy().tolist(),
    ]


def test_detokenize_drops_padding_and_optionally_special_tokens(tokenizer):
    ids = tokenizer(["a good film", "bad"]).to_tensor()  # padded with 0
    framed = np.concatenate(
        [np.full((2, 1), tokenizer.cls_id), ids.numpy(), np.full((2, 1), tokenizer.sep_id)], axis=1
    )
    assert tokenizer.detokenize(ids).numpy().tolist() == [b"a good film", b"bad"]
    assert tokenizer.detokenize(framed).numpy().tolist() == [
        b"[CLS] a good film [SEP]",
        b"[CLS] bad [SEP]",  # the [PAD] ids between are dropped
    ]
    assert tokenizer.detokenize(framed, skip_special_tokens=True).numpy().tolist() == [
        b"a good film",
        b"bad",
    ]
    with pytest.raises(ValueError, match=r"\[0, 3886\)"):
        tokenizer.detokenize([[5, 3886]])
    with pytest.raises(TypeError, match="integers"):
        tokenizer.detokenize(np.array([[1.5]]))


@pytest.mark.parametrize(
    "lowercase, strip_accents, expected",
    [
        (True, None, "cafe naive ."),
        (True, False, "café naïve ."),
        (False, True, "Cafe Naive ."),
        (False, False, "Café Naïve ."),
    ],
)
def test_lowercase_and_accent_options(lowercase, strip_accents, expected):
    letters = sorted(set("CafeNaivecafenaiveéïÉ"))
    vocabulary = list(SPECIAL_TOKENS) + ["."] + letters + ["##" + c for c in letters]
    with warnings.catch_warnings():  # one vocabulary for both casings: its capitals are unused
        warnings.simplefilter("ignore")
        tokenizer = WordPieceTokenizer(
            vocabulary, lowercase=lowercase, strip_accents=strip_accents
        )
    ids = tokenizer("Café Naïve.")
    assert tokenizer.unk_id not in ids.numpy().tolist()
    assert tokenizer.detokenize(ids).numpy().decode("utf-8") == expected


def test_max_word_length_turns_long_words_into_unknown(tokenizer):
    short = WordPieceTokenizer(samples.vocabulary(), max_word_length=8)
    assert short("charming").numpy().tolist() == tokenizer("charming").numpy().tolist()
    assert short("charmingly").numpy().tolist() == [short.unk_id]


def test_train_on_real_text_from_list_file_and_dataset(tmp_path):
    lines = knlm.data.read_text(samples.english_text())[:3000]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_list = WordPieceTokenizer.train(lines, vocabulary_size=800)
    vocabulary = from_list.get_vocabulary()
    assert vocabulary[:5] == list(SPECIAL_TOKENS)
    assert len(vocabulary) == 800  # the size asked: the corpus has more pieces than that
    assert len(set(vocabulary)) == len(vocabulary)
    assert WordPieceTokenizer.train(str(path), vocabulary_size=800).get_vocabulary() == vocabulary
    dataset = tf.data.Dataset.from_tensor_slices(lines)
    assert WordPieceTokenizer.train(dataset, vocabulary_size=800).get_vocabulary() == vocabulary
    # The learned pieces cover unseen text of the same kind, and words round-trip.
    valid = knlm.data.read_text(samples.english_text("valid"))
    ids = from_list(valid)
    assert np.mean(ids.flat_values.numpy() == from_list.unk_id) < 0.005
    # Subword units were learned: common words are single pieces, so fewer pieces than characters.
    assert ids.flat_values.shape[0] < 0.5 * sum(len(line) for line in valid)
    assert from_list.detokenize(from_list("the weather is nice today")).numpy() == (
        b"the weather is nice today"
    )


def test_trained_vocabulary_spells_unseen_html_and_typography():
    """Characters the corpus lacks (`<`, `>`, `{`, `…`, curly quotes) are in every trained
    vocabulary, alone and as `##` pieces, so review-like lines with HTML tags come back whole;
    uppercase is left out of an uncased vocabulary, kept in a cased one."""
    lines = knlm.data.read_text(samples.english_text())[:2000]
    assert not any(character in line for line in lines for character in "<>{}^…“”")
    uncased = WordPieceTokenizer.train(lines, vocabulary_size=600)
    vocabulary = set(uncased.get_vocabulary())
    for character in "<>{}~^|\\…“”–€":
        assert character in vocabulary and "##" + character in vocabulary, character
    assert "A" not in vocabulary and "É" not in vocabulary and "é" not in vocabulary
    assert len(vocabulary) == 600
    cased = WordPieceTokenizer.train(lines, vocabulary_size=600, lowercase=False)
    assert {"A", "##A", "É", "<"} <= set(cased.get_vocabulary())
    texts, _ = knlm.data.read_tsv(samples.sst2("dev"))
    reviews = [
        f"<i>{a.title()}</i><br /><br />{b} (7/10) {{…}} “{c}”"
        for a, b, c in zip(texts[0::3], texts[1::3], texts[2::3])
    ]
    normalized = tf.strings.reduce_join(uncased.split_words(reviews), axis=-1, separator=" ")
    back = uncased.detokenize(uncased(reviews))
    assert np.mean((back == normalized).numpy()) == 1.0


def test_train_errors():
    with pytest.raises(ValueError, match="vocabulary_size"):
        WordPieceTokenizer.train(["some text"], vocabulary_size=3)
    with pytest.raises(ValueError, match="too small for this corpus"):
        WordPieceTokenizer.train(["some text"], vocabulary_size=50)
    with pytest.raises(ValueError, match="every text is empty"):
        WordPieceTokenizer.train(["", "   "], vocabulary_size=100)
    with pytest.raises(ValueError, match="File not found: 'no/such/file.txt'"):
        WordPieceTokenizer.train("no/such/file.txt", vocabulary_size=100)


def test_vocabulary_errors(tmp_path):
    with pytest.raises(ValueError, match="`vocabulary` is empty"):
        WordPieceTokenizer([])
    with pytest.raises(ValueError, match=r"must start with '\[PAD\]'.*'\[UNK\]'"):
        WordPieceTokenizer(["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]", "a"])
    with pytest.raises(ValueError, match=r"lacks the special tokens \['\[MASK\]'\]"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    with pytest.raises(ValueError, match=r"'a' twice: `vocabulary\[5\]` and `vocabulary\[6\]`"):
        WordPieceTokenizer(list(SPECIAL_TOKENS) + ["a", "a"])
    with pytest.raises(TypeError, match=r"`vocabulary\[5\]` must be a non-empty str"):
        WordPieceTokenizer(list(SPECIAL_TOKENS) + [7])
    with pytest.raises(TypeError, match="file path or a list of str"):
        WordPieceTokenizer({"[PAD]": 0})
    with pytest.raises(ValueError, match="File not found: '.*missing.txt'"):
        WordPieceTokenizer(str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt' is empty"):
        WordPieceTokenizer(str(tmp_path / "empty.txt"))
    (tmp_path / "latin1.txt").write_bytes("\n".join(SPECIAL_TOKENS).encode() + b"\ncaf\xe9\n")
    with pytest.raises(ValueError, match="latin1.txt', line 6: not valid UTF-8"):
        WordPieceTokenizer(str(tmp_path / "latin1.txt"))
    (tmp_path / "blank.txt").write_text("[PAD]\n\n[UNK]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="blank.txt', line 2: blank line"):
        WordPieceTokenizer(str(tmp_path / "blank.txt"))


def test_argument_and_input_errors(tokenizer):
    with pytest.raises(TypeError, match="`lowercase` must be a bool"):
        WordPieceTokenizer(samples.vocabulary(), lowercase="yes")
    with pytest.raises(TypeError, match="`strip_accents` must be a bool or None"):
        WordPieceTokenizer(samples.vocabulary(), strip_accents=1)
    with pytest.raises(ValueError, match="`max_word_length` must be a positive int; received 0"):
        WordPieceTokenizer(samples.vocabulary(), max_word_length=0)
    with pytest.raises(TypeError, match="Expected strings; received a tensor of dtype int32"):
        tokenizer([1, 2])
    with pytest.raises(TypeError, match="Expected strings"):
        tokenizer(["a", 3])
    with pytest.raises(ValueError, match="index 1 is not valid UTF-8"):
        tokenizer([b"fine", b"caf\xe9"])
    graph = tf.function(lambda x: tokenizer(x))
    with pytest.raises(tf.errors.InvalidArgumentError, match="not valid UTF-8"):
        graph(tf.constant([b"fine", b"caf\xe9"]))


@pytest.mark.parametrize("lowercase", [True, False])
def test_ascii_fast_path_gives_the_ids_of_the_exact_path(lowercase):
    """Pure-ASCII lines take a three-pass path; mixed with other lines, every row must keep
    the exact path's ids and its place in the batch."""
    rng = np.random.default_rng(0)
    alphabet = np.array(list(string.printable + "\x00\x01\x0b\x0c\x1f\x7f"))
    lines = ["".join(rng.choice(alphabet, rng.integers(0, 50))) for _ in range(600)]
    lines += ["a" * 100 + " " + "b" * 101, "Word" * 30 + ".", "", "   "]  # max_word_length 100
    lines += ["Café déjà-vu", "naïve\tRÉSUMÉ", "日本語 text"]  # the exact path, in between
    rng.shuffle(lines)
    tokenizer = WordPieceTokenizer(samples.vocabulary(), lowercase=lowercase)
    strings = tf.constant(lines)
    exact = tokenizer._tokenize_exactly(strings).to_list()
    assert tokenizer(strings).to_list() == exact
    assert tf.function(tokenizer)(strings).to_list() == exact
    assert sum(line.isascii() for line in lines) == 600 + 4  # some with control characters


def test_same_ids_as_hugging_face_bert_tokenizer_for_every_code_point(minilm_path):
    # Every Unicode scalar value inside a word ("a?b"): control and format characters,
    # whitespace, punctuation, CJK, marks, case. The reference is the Rust tokenizer that
    # BertTokenizerFast runs, from the `tokenizers` package.
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(os.path.join(minilm_path, "tokenizer.json"))
    reference.no_truncation()
    reference.no_padding()
    ours = WordPieceTokenizer.from_pretrained(minilm_path)
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"a{chr(c)}b" for c in points]
    expected = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    got = ours(tf.constant([t.encode("utf-8") for t in texts])).to_list()
    differ = [hex(c) for c, a, b in zip(points, expected, got) if a != b]
    assert not differ, f"{len(differ)} code points differ, first {differ[:10]}"


def test_from_pretrained_gives_the_reference_token_ids(minilm_path, minilm_reference):
    meta, _ = minilm_reference
    tokenizer = WordPieceTokenizer.from_pretrained(minilm_path)
    assert (tokenizer.lowercase, tokenizer.strip_accents, tokenizer.max_word_length) == (
        True, True, 100
    )
    assert (tokenizer.vocabulary_size, tokenizer.unk_id, tokenizer.cls_id) == (30522, 100, 101)
    got = tokenizer(meta["sentences"]).to_list()
    for sentence, ids, expected in zip(meta["sentences"], got, meta["token_ids"]):
        assert [tokenizer.cls_id] + ids + [tokenizer.sep_id] == expected, sentence
    lengths = [len(ids) for ids in meta["token_ids"]]
    assert max(lengths) > 256 and min(lengths) == 2  # a long text and the empty string


def test_bert_normalization_details():
    vocabulary = list(SPECIAL_TOKENS) + list("abcdefghijklmnopqrstuvwxyz") + [
        "σ", "ς", "ß", "ﬁ", "中", "文", "##b", "##c", "[", "]", "!", "unk",
    ]
    tokenizer = WordPieceTokenizer(vocabulary, max_word_length=3)
    pieces = lambda text: [vocabulary[i] for i in tokenizer(text).numpy().tolist()]  # noqa: E731
    assert pieces("Σ ΣΣ") == ["σ", "[UNK]"]  # one character at a time: no final "ς"
    assert pieces("ß ﬁ") == ["ß", "ﬁ"]  # no compatibility folding (NFKC would give ss, fi)
    assert pieces("a\x00b\u200bc") == ["a", "##b", "##c"]  # deleted, not split
    assert pieces("a\u00a0b\u3000c") == ["a", "b", "c"]  # Unicode spaces split
    assert pieces("中文!") == ["中", "文", "!"]  # ideographs and punctuation are words
    assert pieces("abcd abc") == ["[UNK]", "a", "##b", "##c"]  # longer than 3 characters
    assert pieces("[UNK]") == ["[", "unk", "]"]  # the text "[UNK]" is not the token


def test_hugging_face_folder_round_trip_and_refusals(minilm_path, tmp_path):
    tokenizer = WordPieceTokenizer.from_pretrained(minilm_path)
    tokenizer.save_pretrained(tmp_path / "saved", model_max_length=512)
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["do_lower_case"] is True and config["model_max_length"] == 512
    assert config["unk_token"] == "[UNK]" and config["tokenizer_class"] == "BertTokenizer"
    reloaded = WordPieceTokenizer.from_pretrained(tmp_path / "saved")
    settings = lambda t: {k: v for k, v in t.get_config().items() if k != "name"}  # noqa: E731
    assert settings(reloaded) == settings(tokenizer)
    cased = WordPieceTokenizer(tokenizer.get_vocabulary(), lowercase=False)
    cased.save_pretrained(tmp_path / "cased")
    assert WordPieceTokenizer.from_pretrained(tmp_path / "cased").lowercase is False

    with pytest.raises(ValueError, match="holds no vocab.txt"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    for setting, message in [
        ({"tokenize_chinese_chars": False}, "tokenize_chinese_chars=False"),
        ({"never_split": ["[X]"]}, "never_split"),
        ({"unk_token": "<unk>"}, "unk_token='<unk>' \\(must be '\\[UNK\\]'\\)"),
    ]:
        (tmp_path / "saved" / "tokenizer_config.json").write_text(json.dumps({**config, **setting}))
        with pytest.raises(ValueError, match=message):
            WordPieceTokenizer.from_pretrained(tmp_path / "saved")
