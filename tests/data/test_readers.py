import csv
import json

import pytest
import tensorflow as tf

import kerasnlm as knlm
from kerasnlm.data import readers

samples = knlm.data.samples


def write(path, text):
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def test_bundled_samples_parse_with_the_documented_counts():
    texts, labels = knlm.data.read_tsv(samples.sst2("dev"))
    assert len(texts) == 872 and labels.count(1) == 444 and labels.count(0) == 428
    assert texts[0] == "it 's a charming and often affecting journey ."  # trailing space stripped
    texts, labels = knlm.data.read_tsv(samples.sst2("train"))
    assert len(texts) == 5000 and set(labels) == {0, 1}
    assert len(knlm.data.read_text(samples.english_text())) == 10_000
    assert len(knlm.data.read_text(samples.english_text("valid"))) == 1_000
    english, spanish = knlm.data.read_parallel(samples.spa_eng())
    assert len(english) == len(spanish) == 5000
    # Shuffled, not the shortest pairs only (the source file is sorted by length).
    assert max(len(s.split()) for s in english[:100]) > 8
    for split, count in (("train", 1500), ("dev", 500)):
        tokens, tags = knlm.data.read_conll(samples.wnut17(split))
        assert len(tokens) == count
        assert all(len(t) == len(g) > 0 for t, g in zip(tokens, tags))
        entity_types = {tag[2:] for sentence in tags for tag in sentence if tag != "O"}
        assert entity_types == {
            "person",
            "location",
            "corporation",
            "product",
            "creative-work",
            "group",
        }
    with pytest.raises(
        ValueError, match=r"`split` must be one of \('train', 'dev'\); received 'test'"
    ):
        samples.sst2("test")


def test_read_conll_breaks_docstart_and_tab_only_lines(tmp_path):
    path = write(
        tmp_path / "a.conll",
        "-DOCSTART-\tO\n\nEU\tB-ORG\nrejects\tO\n\t\nGerman\tB-MISC\n  \nPeter\tB-PER\n"
        "-DOCSTART-\tO\nBlackburn\tB-PER\n",
    )
    tokens, tags = knlm.data.read_conll(path)
    assert tokens == [["EU", "rejects"], ["German"], ["Peter"], ["Blackburn"]]
    assert tags == [["B-ORG", "O"], ["B-MISC"], ["B-PER"], ["B-PER"]]
    # CoNLL-2003: space-separated, four columns; the tag is the last one.
    path = write(tmp_path / "b.conll", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n")
    assert knlm.data.read_conll(path) == ([["EU", "rejects"]], [["B-ORG", "O"]])
    assert knlm.data.read_conll(path, tag_column=1) == ([["EU", "rejects"]], [["NNP", "VBZ"]])


def test_read_conll_sentences_match_the_raw_file_on_wnut17():
    tokens, tags = knlm.data.read_conll(samples.wnut17("train"))
    raw = open(samples.wnut17("train"), encoding="utf-8").read().split("\n")
    token_lines = [line.split("\t") for line in raw if line.strip()]
    assert [t for sentence in tokens for t in sentence] == [f[0] for f in token_lines]
    assert [t for sentence in tags for t in sentence] == [f[1] for f in token_lines]
    assert sum(1 for line in raw if line == "\t") > 0  # the sample keeps TAB-only breaks


def test_read_conll_errors_name_file_and_line(tmp_path):
    path = write(tmp_path / "cols.conll", "EU\tB-ORG\nrejects\tO\textra\n")
    with pytest.raises(ValueError, match=r"cols.conll', line 2: 3 columns, but .* has 2"):
        knlm.data.read_conll(path)
    path = write(tmp_path / "one.conll", "\nEU\n")
    with pytest.raises(ValueError, match=r"one.conll', line 2: .*found 1 column"):
        knlm.data.read_conll(path)
    path = write(tmp_path / "latin1.conll", b"EU\tB-ORG\n\ncaf\xe9\tO\n")
    with pytest.raises(
        ValueError, match=r"latin1.conll', line 3: not valid UTF-8 \(byte 0xe9 at column 4\)"
    ):
        knlm.data.read_conll(path)
    path = write(tmp_path / "blank.conll", "\n\t\n\n")
    with pytest.raises(ValueError, match="blank.conll' holds no sentences"):
        knlm.data.read_conll(path)


def test_read_tsv_csv_jsonl_agree_and_support_pairs(tmp_path):
    texts, labels = knlm.data.read_tsv(samples.sst2("dev"))
    with open(tmp_path / "dev.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "sentence"])
        writer.writerows(zip(labels, texts))
    with open(tmp_path / "dev.jsonl", "w", encoding="utf-8") as f:
        for text, label in zip(texts, labels):
            f.write(json.dumps({"text": text, "label": label}) + "\n")
    assert knlm.data.read_csv(str(tmp_path / "dev.csv")) == (texts, labels)
    assert knlm.data.read_jsonl(str(tmp_path / "dev.jsonl")) == (texts, labels)
    path = write(
        tmp_path / "pairs.tsv",
        "s1\ts2\tgold\nA man.\tA person.\tentailment\nHi.\tBye.\tcontradiction\n",
    )
    first, second, gold = knlm.data.read_tsv(path, "s1", "gold", text_pair_column="s2")
    assert (first, second, gold) == (
        ["A man.", "Hi."],
        ["A person.", "Bye."],
        ["entailment", "contradiction"],
    )
    assert knlm.data.read_tsv(path, "s1", label_column=None) == ["A man.", "Hi."]


def test_table_reader_errors_name_file_column_and_line(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"dev.tsv': column 'text' not found; the header \(line 1\) names "
        r"\['sentence', 'label'\]",
    ):
        knlm.data.read_tsv(samples.sst2("dev"), text_column="text")
    with pytest.raises(ValueError, match="column 'gold' not found"):
        knlm.data.read_tsv(samples.sst2("dev"), label_column="gold")
    path = write(tmp_path / "short.tsv", "sentence\tlabel\ngood\t1\nbad\n")
    with pytest.raises(ValueError, match=r"short.tsv', line 3: 1 fields, but the header has 2"):
        knlm.data.read_tsv(path)
    path = write(tmp_path / "latin1.tsv", b"sentence\tlabel\ngood\t1\ncaf\xe9\t0\n")
    with pytest.raises(ValueError, match=r"latin1.tsv', line 3: not valid UTF-8"):
        knlm.data.read_tsv(path)
    path = write(tmp_path / "header.tsv", "sentence\tlabel\n")
    with pytest.raises(ValueError, match="header.tsv' holds a header but no rows"):
        knlm.data.read_tsv(path)
    path = write(tmp_path / "bad.jsonl", '{"text": "good", "label": 1}\n{"text": "bad"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl', line 2: no value for column 'label'"):
        knlm.data.read_jsonl(path)
    path = write(tmp_path / "broken.jsonl", '{"text": "good", "label": 1}\n{"text": \n')
    with pytest.raises(ValueError, match=r"broken.jsonl', line 2: invalid JSON"):
        knlm.data.read_jsonl(path)
    path = write(tmp_path / "bad.csv", 'sentence,label\n"a, b",1\nc\n')
    with pytest.raises(ValueError, match=r"bad.csv', line 3: 1 fields"):
        knlm.data.read_csv(path)


@pytest.mark.parametrize(
    "reader",
    [knlm.data.read_text, knlm.data.read_tsv, knlm.data.read_conll, knlm.data.read_parallel],
)
def test_missing_and_empty_files(reader, tmp_path):
    with pytest.raises(ValueError, match=r"File not found: '.*nope.txt'"):
        reader(str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match=r"File '.*empty.txt' is empty"):
        reader(write(tmp_path / "empty.txt", ""))


def test_read_text_lines_and_paragraphs(tmp_path):
    path = write(
        tmp_path / "doc.txt", "First line.\n  Second line of p1.  \n\n \t\nParagraph two.\n\n\n"
    )
    assert knlm.data.read_text(path) == ["First line.", "Second line of p1.", "Paragraph two."]
    assert knlm.data.read_text(path, mode="paragraphs") == [
        "First line.\nSecond line of p1.",
        "Paragraph two.",
    ]
    with pytest.raises(
        ValueError, match="`mode` must be 'lines' or 'paragraphs'; received 'words'"
    ):
        knlm.data.read_text(path, mode="words")
    with pytest.raises(ValueError, match="blank.txt' holds no text"):
        knlm.data.read_text(write(tmp_path / "blank.txt", "\n  \n"))
    with pytest.raises(ValueError, match=r"latin1.txt', line 2: not valid UTF-8"):
        knlm.data.read_text(write(tmp_path / "latin1.txt", b"ok\ncaf\xe9\n"))


def test_read_parallel_errors(tmp_path):
    path = write(tmp_path / "pairs.txt", "Go.\tVe.\tCC-BY 2.0 (France) Attribution\n\nHi.\tHola.\n")
    assert knlm.data.read_parallel(path) == (["Go.", "Hi."], ["Ve.", "Hola."])
    path = write(tmp_path / "bad.txt", "Go.\tVe.\nHi. Hola.\n")
    with pytest.raises(ValueError, match=r"bad.txt', line 2: expected 'source<TAB>target'"):
        knlm.data.read_parallel(path)


def lines_of(dataset):
    return [line.decode("utf-8") for line in dataset.as_numpy_iterator()]


def test_text_dataset_streams_and_interleaves_files(tmp_path):
    a = write(tmp_path / "a.txt", "a1\n\na2\n   \na3\n")
    b = write(tmp_path / "b.txt", "b1\nb2\n")
    assert lines_of(knlm.data.text_dataset([a, b])) == ["a1", "b1", "a2", "b2", "a3"]
    assert sorted(lines_of(knlm.data.text_dataset(str(tmp_path / "*.txt")))) == [
        "a1",
        "a2",
        "a3",
        "b1",
        "b2",
    ]
    assert lines_of(knlm.data.text_dataset(["x y", "  ", "z"])) == ["x y", "z"]
    shuffled = knlm.data.text_dataset([a, b], shuffle=True, seed=3)
    first, second = lines_of(shuffled), lines_of(shuffled)
    assert sorted(first) == sorted(second) == ["a1", "a2", "a3", "b1", "b2"]
    assert lines_of(knlm.data.text_dataset([a, b], shuffle=True, seed=3)) == first  # reproducible
    dataset = tf.data.Dataset.from_tensor_slices([f"line {i}" for i in range(100)])
    assert knlm.data.text_dataset(dataset) is dataset
    shuffled = lines_of(knlm.data.text_dataset(dataset, shuffle=True, seed=1))
    assert sorted(shuffled) == sorted(lines_of(dataset)) and shuffled != lines_of(dataset)


def test_text_dataset_samples_large_corpora_uniformly(tmp_path):
    lines = [f"line {i}" for i in range(20_000)]
    path = write(tmp_path / "big.txt", "\n".join(lines) + "\n")
    sample = lines_of(knlm.data.text_dataset(path, max_lines=2_000, seed=1))
    assert 1_800 < len(sample) < 2_200
    numbers = [int(line.split()[1]) for line in sample]
    assert min(numbers) < 500 and max(numbers) > 19_500  # spread over the whole file
    assert lines_of(knlm.data.text_dataset(path, max_lines=2_000, seed=1)) == sample
    assert len(lines_of(knlm.data.text_dataset(lines, max_lines=2_000, seed=1))) == 2_000


def test_text_dataset_errors(tmp_path):
    a = write(tmp_path / "a.txt", "fine\n")
    with pytest.raises(ValueError, match="no file matches"):
        knlm.data.text_dataset(str(tmp_path / "*.csv"))
    with pytest.raises(ValueError, match="File not found: 'a sentence, not a file'"):
        knlm.data.text_dataset("a sentence, not a file")
    with pytest.raises(
        ValueError, match="mixes file paths and other strings: 'typo.txt' is not a file"
    ):
        knlm.data.text_dataset([a, "typo.txt"])
    with pytest.raises(ValueError, match="every text is empty"):
        knlm.data.text_dataset(["", " "])
    with pytest.raises(TypeError, match=r"`texts_or_files\[1\]` must be a str; received 3"):
        knlm.data.text_dataset(["x", 3])
    with pytest.raises(TypeError, match="must yield scalar strings"):
        knlm.data.text_dataset(tf.data.Dataset.from_tensor_slices([[1, 2]]))
    with pytest.raises(ValueError, match="blank.txt' holds no text"):
        knlm.data.text_dataset(write(tmp_path / "blank.txt", "\n \n"))
    # A bad line deep in a streamed file is caught when it is read, with its file and line.
    bad = write(tmp_path / "bad.txt", b"ok\n\nstill ok\ncaf\xe9\n")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"bad.txt, line 4: not valid UTF-8"):
        lines_of(knlm.data.text_dataset(bad))


def test_resolve_texts_tells_files_from_texts(tmp_path):
    a = write(tmp_path / "a.txt", "x\n")
    assert readers.resolve_texts([a]) == ("files", [a])
    assert readers.resolve_texts(["hello world"]) == ("texts", ["hello world"])
