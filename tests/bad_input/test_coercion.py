"""Issue 20, class 3: the readers invent and coerce nothing. A blank label is not a class, a
blank text is not an example, a float or boolean label is not an int, an empty CoNLL tag is
not a tag; each is refused with the file and its 1-based line."""

import pytest

import kerasnlm as knlm

TSV_HEADER = "sentence\tlabel\n"
CSV_HEADER = "sentence,label\n"
BLANK_LABEL = "column 'label': the label is blank"
BLANK_TEXT = "column 'sentence': the text is blank"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "name, body, problem",
    [
        ("blank_label.tsv", TSV_HEADER + "fine\t1\nhello\t\n", BLANK_LABEL),
        ("space_label.tsv", TSV_HEADER + "fine\t1\nhello\t  \n", BLANK_LABEL),
        ("blank_text.tsv", TSV_HEADER + "fine\t1\n \t0\n", BLANK_TEXT),
        ("blank_label.csv", CSV_HEADER + "fine,1\nhello,\n", BLANK_LABEL),
        ("quoted_blank.csv", CSV_HEADER + 'fine,1\nhello,""\n', BLANK_LABEL),
        ("blank_text.csv", CSV_HEADER + "fine,1\n,0\n", BLANK_TEXT),
        ("carriage_return.csv", CSV_HEADER + "fine,1\nhel\rlo,0\n", r"carriage return"),
    ],
)
def test_tsv_and_csv_blank_fields_name_file_and_line(tmp_path, name, body, problem):
    path = write(tmp_path / name, body)
    reader = knlm.data.read_tsv if name.endswith(".tsv") else knlm.data.read_csv
    with pytest.raises(ValueError, match=rf"{name}', line 3.*{problem}"):
        reader(path)


@pytest.mark.parametrize(
    "row, error, problem",
    [
        ('{"text": "b", "label": ""}', ValueError, "the label is blank"),
        ('{"text": "  ", "label": 0}', ValueError, "the text is blank"),
        ('{"text": "b", "label": 1.0}', TypeError, r"label 1\.0 is a float"),
        ('{"text": "b", "label": 0.5}', TypeError, r"label 0\.5 is a float"),
        ('{"text": "b", "label": true}', TypeError, "label true is a boolean"),
        ('{"text": "b", "label": false}', TypeError, "label false is a boolean"),
        ('{"text": "b", "label": NaN}', TypeError, "label NaN is a float"),
        ('{"text": "b", "label": [1]}', TypeError, r"label \[1\] is not an integer or a string"),
        ('{"text": 5, "label": 0}', TypeError, "column 'text': expected a text"),
        ('{"text": "\\ud800", "label": 0}', ValueError, "lone surrogate"),
        ('{"text": "b", "label": ' + "1" * 5000 + "}", ValueError, "invalid JSON"),
        ("[" * 100_000, ValueError, r"invalid JSON \(nested too deeply\)"),
    ],
)
def test_jsonl_blank_float_and_boolean_labels_are_refused(tmp_path, row, error, problem):
    path = write(tmp_path / "labels.jsonl", '{"text": "a", "label": 1}\n' + row + "\n")
    with pytest.raises(error, match=rf"labels.jsonl', line 2.*{problem}"):
        knlm.data.read_jsonl(path)


@pytest.mark.parametrize("line", ["word\t", "word ", "word\t ", "word\t\t"])
def test_conll_token_with_an_empty_tag_is_refused(tmp_path, line):
    columns = "\t".join(["EU"] + ["B-ORG"] * line.count("\t")) if "\t" in line else "EU B-ORG"
    path = write(tmp_path / "tags.conll", f"{columns}\n{line}\n")
    with pytest.raises(ValueError, match=r"tags.conll', line 2: empty tag for token 'word'"):
        knlm.data.read_conll(path)


@pytest.mark.parametrize(
    "kwargs, error, setting",
    [
        (dict(tag_column=5), ValueError, r"`tag_column=5` is out of range: .*has 2 columns"),
        (dict(token_column=-3), ValueError, r"`token_column=-3` is out of range"),
        (dict(token_column="0"), TypeError, "`token_column` must be a column index"),
        (dict(tag_column=True), TypeError, "`tag_column` must be a column index"),
    ],
)
def test_conll_column_settings_are_checked(tmp_path, kwargs, error, setting):
    path = write(tmp_path / "two.conll", "EU\tB-ORG\n")
    with pytest.raises(error, match=setting):
        knlm.data.read_conll(path, **kwargs)


@pytest.mark.parametrize(
    "kwargs, setting",
    [
        (dict(text_column=None), "`text_column` must be a column name"),
        (dict(label_column=0), "`label_column` must be a column name"),
        (dict(text_pair_column=["s2"]), "`text_pair_column` must be a column name"),
    ],
)
def test_table_column_settings_are_checked(tmp_path, kwargs, setting):
    path = write(tmp_path / "ok.tsv", TSV_HEADER + "fine\t1\n")
    with pytest.raises(TypeError, match=setting):
        knlm.data.read_tsv(path, **kwargs)


def test_blank_only_table_says_so(tmp_path):
    path = write(tmp_path / "blank.tsv", "\n  \n\t\n")
    with pytest.raises(ValueError, match="blank.tsv' holds no text: every line is blank"):
        knlm.data.read_tsv(path)
    path = write(tmp_path / "blank.jsonl", "\n \n")
    with pytest.raises(ValueError, match="blank.jsonl' holds no JSON rows"):
        knlm.data.read_jsonl(path)


def test_valid_labels_keep_their_types(tmp_path):
    # Integer ids (as text or JSON ints) become ints; words, and digits `int` would bend
    # ("1_0" is 10 to Python, "١" is 1), stay the strings they are.
    path = write(tmp_path / "ids.tsv", "\ufeff" + TSV_HEADER + "good\t 1\nbad\t0\nmeh\t-2\n")
    assert knlm.data.read_tsv(path) == (["good", "bad", "meh"], [1, 0, -2])
    path = write(tmp_path / "odd.tsv", TSV_HEADER + "a\t1\nb\t1_0\nc\t\u0661\n")
    assert knlm.data.read_tsv(path)[1] == ["1", "1_0", "\u0661"]
    path = write(tmp_path / "mixed.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": "2"}')
    assert knlm.data.read_jsonl(path) == (["a", "b"], [1, 2])
    path = write(tmp_path / "w.jsonl", '{"text": "a", "label": "pos"}\n{"text": "b", "label": 3}')
    assert knlm.data.read_jsonl(path) == (["a", "b"], ["pos", "3"])
    path = write(tmp_path / "ok.conll", "-DOCSTART- O\n\nEU B-ORG\nrejects O\n")
    assert knlm.data.read_conll(path) == ([["EU", "rejects"]], [["B-ORG", "O"]])
