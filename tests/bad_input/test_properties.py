"""Issue 20, property tests: the tokenizer and the readers on random Unicode, random bytes and
random column layouts give the right result or a ValueError/TypeError naming the input; never
another exception type, never a hang."""

import json
import re

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import kerasnlm as knlm

# Few examples, no example database (nothing written into the repository), no per-example
# deadline (TensorFlow's first eager call is slow): the file runs in seconds.
FEW = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Any code point but surrogates (not characters; Python cannot encode them to UTF-8):
# control characters, combining marks, emoji, unassigned and private-use code points.
unicode_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
# A line: the same, without the line feed that would end it.
unicode_line = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # Module-scoped: hypothesis runs many examples in one test call, each rewriting a file.
    return tmp_path_factory.mktemp("random_files")


def names_the_file(error, path):
    return str(path) in str(error)


@FEW
@given(texts=st.lists(unicode_text, min_size=1, max_size=6))
def test_tokenizer_on_random_unicode_gives_ids_in_range(tokenizer, texts):
    ids = tokenizer(texts)
    flat = ids.flat_values.numpy()
    assert ((0 <= flat) & (flat < tokenizer.vocabulary_size)).all()
    assert tokenizer(texts[0]).shape.rank == 1
    assert len(tokenizer.detokenize(ids).numpy()) == len(texts)


@FEW
@given(data=st.binary(max_size=40))
def test_tokenizer_on_random_bytes_works_or_names_the_input(tokenizer, data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(ValueError, match="Input string at flat index 1 is not valid UTF-8"):
            tokenizer([b"fine", data])
    else:
        assert tokenizer(data).numpy().tolist() == tokenizer(text).numpy().tolist()


READERS = [
    knlm.data.read_text,
    knlm.data.read_tsv,
    knlm.data.read_csv,
    knlm.data.read_jsonl,
    knlm.data.read_conll,
    knlm.data.read_parallel,
]


@settings(FEW, max_examples=25)
@given(data=st.binary(max_size=200))
def test_every_reader_on_random_bytes_reads_or_names_the_file(folder, data):
    path = folder / "random.bin"
    path.write_bytes(data)
    for reader in READERS:
        try:
            reader(str(path))
        except (ValueError, TypeError) as error:
            assert names_the_file(error, path), (reader.__name__, error)


@FEW
@given(lines=st.lists(unicode_line, max_size=8))
def test_read_text_on_random_unicode_lines_keeps_every_non_blank_line(folder, lines):
    path = folder / "random.txt"
    path.write_text("\n".join(lines), encoding="utf-8", newline="")
    if lines:  # a byte-order mark starting the file is not text
        lines = [lines[0].removeprefix("\ufeff")] + lines[1:]
    expected = [line.strip() for line in lines if line.strip()]
    if expected:
        assert knlm.data.read_text(str(path)) == expected
    else:
        with pytest.raises(ValueError, match=re.escape(str(path))):
            knlm.data.read_text(str(path))


# Table cells from a few characters that matter to the formats: separators, quotes, blanks.
cell = st.text(st.sampled_from(["a", "b", "7", "-", " ", "\t", ",", '"', "'", "\r", "_"]),
               max_size=6)


def tsv_oracle(rows):
    """(texts, labels) that a TSV with `rows` under a `sentence<TAB>label` header holds, or the
    1-based line of the first bad row."""
    texts, labels = [], []
    for number, line in enumerate(rows, start=2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            return number
        texts.append(fields[0].strip())
        labels.append(fields[1].strip())
    if all(re.fullmatch(r"[-+]?[0-9]+", label) for label in labels):
        labels = [int(label) for label in labels]
    return texts, labels


@settings(FEW, max_examples=60)
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=3).map("\t".join), max_size=6))
def test_read_tsv_on_random_layouts_matches_the_format(folder, rows):
    path = folder / "random.tsv"
    path.write_text("sentence\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8", newline="")
    expected = tsv_oracle(rows)
    if isinstance(expected, int):
        with pytest.raises(ValueError, match=rf"{re.escape(str(path))}', line {expected}"):
            knlm.data.read_tsv(str(path))
    elif not expected[0]:
        with pytest.raises(ValueError, match="holds a header but no rows"):
            knlm.data.read_tsv(str(path))
    else:
        assert knlm.data.read_tsv(str(path)) == expected


@settings(FEW, max_examples=60)
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=3).map(",".join), max_size=6))
def test_read_csv_on_random_layouts_gives_examples_or_names_file_and_line(folder, rows):
    path = folder / "random.csv"
    path.write_text("sentence,label\n" + "\n".join(rows) + "\n", encoding="utf-8", newline="")
    try:
        texts, labels = knlm.data.read_csv(str(path))
    except ValueError as error:
        assert re.search(rf"{re.escape(str(path))}'(, line \d+| holds a header)", str(error))
    else:
        assert len(texts) == len(labels) <= len(rows)
        assert all(isinstance(text, str) and text == text.strip() and text for text in texts)
        assert all(type(label) is int or (label and label == label.strip()) for label in labels)


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats() | unicode_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(unicode_text, inner, max_size=3),
    max_leaves=6,
)
json_row = st.one_of(
    json_value,
    st.fixed_dictionaries({"text": json_value, "label": json_value}),
    st.fixed_dictionaries({"text": unicode_text, "label": st.integers(-9, 9) | unicode_text}),
)


def jsonl_oracle(rows):
    """(texts, labels) of JSON lines `rows`, or the 1-based line of the first bad row."""
    texts, labels = [], []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            return number
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text.strip():
            return number
        if isinstance(label, str):
            label = label.strip()
        elif type(label) is not int:
            return number
        if label == "":
            return number
        texts.append(text.strip())
        labels.append(label)
    integers = all(type(x) is int or re.fullmatch(r"[-+]?[0-9]+", x) for x in labels)
    return texts, [int(x) for x in labels] if integers else [str(x) for x in labels]


@settings(FEW, max_examples=60)
@given(rows=st.lists(json_row, min_size=1, max_size=5))
def test_read_jsonl_on_random_json_values_matches_the_format(folder, rows):
    path = folder / "random.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    expected = jsonl_oracle(rows)
    if isinstance(expected, int):
        with pytest.raises((ValueError, TypeError), match=rf"line {expected}\b") as error:
            knlm.data.read_jsonl(str(path))
        assert names_the_file(error.value, path)
    else:
        assert knlm.data.read_jsonl(str(path)) == expected


@settings(FEW, max_examples=60)
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=3).map("\t".join), max_size=8))
def test_read_conll_and_parallel_on_random_layouts_read_or_name_the_file(folder, rows):
    path = folder / "random.conll"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8", newline="")
    try:
        tokens, tags = knlm.data.read_conll(str(path))
    except ValueError as error:
        assert names_the_file(error, path), error
    else:
        assert [len(t) for t in tokens] == [len(t) for t in tags]
        assert all(piece.strip() for sentence in tokens + tags for piece in sentence)
    try:
        sources, targets = knlm.data.read_parallel(str(path))
    except ValueError as error:
        assert names_the_file(error, path), error
    else:
        assert len(sources) == len(targets) == sum(1 for row in rows if row.strip())
