"""Issue 20, class 4: paths are not text by accident. A list of strings that look like file
paths but name no file is a missing file, not a corpus made of the letters of its names; a
directory or a FIFO is named as such, not "File not found"."""

import os

import pytest
import tensorflow as tf

import kerasnlm as knlm
from kerasnlm.data import readers


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """tmp_path as the working directory, holding a file, a directory and a FIFO."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.txt").write_text("hello world\n", encoding="utf-8")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "a.txt").write_text("hello world\n", encoding="utf-8")
    (tmp_path / "shards" / "b.txt").mkdir()  # a directory a glob picks up
    os.mkfifo(tmp_path / "pipe.txt")
    return tmp_path


@pytest.mark.parametrize(
    "texts_or_files, missing",
    [
        (["corpus_typo.txt"], "corpus_typo.txt"),
        (["data/corpus.txt"], "data/corpus.txt"),
        (["data\\corpus"], r"data\\corpus"),
        (["wiki.jsonl.gz", "books.csv"], r"wiki\.jsonl\.gz"),
        (["", "corpus_typo.txt"], r"`texts_or_files\[1\]`: 'corpus_typo\.txt'"),
        (["~/corpus.tsv"], r"~/corpus\.tsv' is not a file: no such file\. \('~' is not expanded"),
        (["good.txt", "typo.txt"], r"mixes file paths and other strings: 'typo\.txt'"),
        ("no/such/file.txt", r"File not found: 'no/such/file\.txt'"),
        ("shards/*.csv", r"no file matches 'shards/\*\.csv'"),
    ],
)
def test_missing_paths_are_not_text(folder, texts_or_files, missing):
    with pytest.raises(FileNotFoundError, match=missing):
        knlm.data.text_dataset(texts_or_files)


def test_training_a_tokenizer_on_a_misspelt_file_name_fails(folder):
    # Today's bug: a 39-token vocabulary learned from the letters of "corpus_typo.txt".
    with pytest.raises(FileNotFoundError, match=r"`texts_or_files\[0\]`: 'corpus_typo\.txt'"):
        knlm.tokenizers.WordPieceTokenizer.train(["corpus_typo.txt"], vocabulary_size=40)


def test_a_pipeline_on_a_misspelt_file_name_fails(folder, tokenizer):
    with pytest.raises(FileNotFoundError, match=r"'train\.txt' is not a file: no such file"):
        knlm.data.causal_lm_dataset(["train.txt"], tokenizer, sequence_length=8, batch_size=1)


@pytest.mark.parametrize(
    "call, directory",
    [
        (lambda: knlm.data.text_dataset(["corpus"]), r"`texts_or_files\[0\]`: 'corpus'"),
        (lambda: knlm.data.text_dataset("corpus"), "'corpus'"),
        (lambda: knlm.data.text_dataset(["good.txt", "corpus"]), r"strings: 'corpus'"),
        (lambda: knlm.data.text_dataset("shards/*.txt"), r"'shards/b\.txt'"),
        (lambda: knlm.data.read_tsv("corpus"), "'corpus'"),
        (lambda: knlm.data.read_conll("corpus"), "'corpus'"),
        (lambda: knlm.tokenizers.WordPieceTokenizer("corpus"), "'corpus'"),
    ],
)
def test_a_directory_is_named_as_a_directory(folder, call, directory):
    with pytest.raises(IsADirectoryError, match=rf"{directory} is a directory, not a file"):
        call()


@pytest.mark.parametrize(
    "call, special",
    [
        (lambda: knlm.data.text_dataset("pipe.txt"), "'pipe.txt'"),
        (lambda: knlm.data.text_dataset(["pipe.txt"]), r"`texts_or_files\[0\]`: 'pipe.txt'"),
        (lambda: knlm.data.text_dataset(["/dev/null"]), "'/dev/null'"),
        (lambda: knlm.data.read_text("pipe.txt"), "'pipe.txt'"),
        (lambda: knlm.data.read_jsonl("pipe.txt"), "'pipe.txt'"),
    ],
)
def test_a_fifo_or_device_is_not_a_regular_file(folder, call, special):
    # Opening a FIFO would block until a writer comes; it is refused before it is opened.
    with pytest.raises(ValueError, match=rf"{special} is not a regular file"):
        call()


def test_texts_and_files_are_still_told_apart(folder):
    # Texts have spaces, or sit beside real sentences; paths are a list of one-word names.
    assert readers.resolve_texts(["hello world", "a/b testing is fun"])[0] == "texts"
    assert readers.resolve_texts(["hello world", "N/A", ".", "corpus"])[0] == "texts"
    assert readers.resolve_texts(["hello", "world"])[0] == "texts"
    assert readers.resolve_texts(["good.txt"]) == ("files", ["good.txt"])
    assert readers.resolve_texts(folder / "good.txt") == ("files", [str(folder / "good.txt")])
    assert readers.resolve_texts("shards/a*.txt") == ("files", ["shards/a.txt"])
    # The way out for texts that look like file names: a dataset is used as given.
    names = tf.data.Dataset.from_tensor_slices(["corpus_typo.txt"])
    assert readers.resolve_texts(names)[0] == "dataset"
