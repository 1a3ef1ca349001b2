"""Issue 20, class 5: too little data is an error, not a success. A corpus file (or validation
file) that gives less than one batch, or holds a line that is not UTF-8, is refused before
`pretrain` builds or saves anything, naming the file and the sizes (or the line)."""

import functools
import re

import pytest

import kerasnlm as knlm

TINY = dict(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, sequence_length=16,
            batch_size=8, steps=2, checkpoint_every=2, warmup_steps=1, verbose=0)


def config(tmp_path, **settings):
    return knlm.training.PretrainConfig(**{
        "corpus": [knlm.data.samples.english_text()], "output_dir": str(tmp_path / "run"),
        "vocabulary": knlm.data.samples.vocabulary(), **TINY, **settings,
    })


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def nothing_written(tmp_path):
    """No output folder at all (no vocab.txt a later run would resume with, no checkpoint,
    no saved model): the run stopped before writing anything."""
    return not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "settings, lines, gives",
    [
        # 8 windows of 17 (or 15) pieces are needed; two short lines give a handful.
        (dict(objective="causal_lm"), ["one two three", "", "four five"],
         r"\d+ pieces \(with separators\), 0 sequences of 17"),
        (dict(objective="masked_lm"), ["one two three", "", "four five"],
         r"\d+ pieces \(with separators\), 0 sequences of 15"),
        (dict(objective="masked_lm", pack_documents=False), ["one two three", "", "four five"],
         r"2 non-blank texts, one sequence each"),
        # A vocabulary trained on the tiny corpus is not saved for a later run to resume with.
        (dict(objective="causal_lm", vocabulary=None, vocabulary_size=400),
         ["one two three", "", "four five"], r"\d+ pieces \(with separators\), \d sequences? of"),
        # Enough lines for a batch of 4 unpacked sequences, not of 5.
        (dict(objective="masked_lm", pack_documents=False, batch_size=5), ["a line"] * 4,
         r"4 non-blank texts"),
    ],
    ids=["causal_lm", "masked_lm_packed", "masked_lm_lines", "trained_vocabulary",
         "masked_lm_one_line_short"],
)
def test_a_corpus_file_smaller_than_one_batch_is_refused_before_training(
    tmp_path, settings, lines, gives
):
    corpus = write(tmp_path / "small.txt", lines)
    with pytest.raises(ValueError, match="`corpus`: '" + re.escape(corpus) + "' gives " + gives +
                       r".*fewer than one batch \(`batch_size` \d\)"):
        knlm.training.pretrain(config(tmp_path, corpus=[corpus], **settings))
    assert nothing_written(tmp_path)


def test_a_missing_or_folder_validation_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"`validation`: no file at \S*missing\.txt"):
        knlm.training.pretrain(config(tmp_path, validation=str(tmp_path / "missing.txt")))
    with pytest.raises(IsADirectoryError, match=r"`validation` \S* is a folder"):
        knlm.training.pretrain(config(tmp_path, validation=str(tmp_path)))


def test_a_blank_corpus_and_a_small_validation_file_are_refused(tmp_path):
    blank = write(tmp_path / "blank.txt", ["", "   ", ""])
    empty = r"`corpus`: File '.*blank\.txt' holds no text: every line is blank"
    with pytest.raises(ValueError, match=empty):
        knlm.training.pretrain(config(tmp_path, corpus=[blank]))
    small = write(tmp_path / "valid.txt", ["one short line"])
    with pytest.raises(ValueError, match=r"`validation`: .*valid\.txt. gives .* fewer than one"):
        knlm.training.pretrain(config(tmp_path, validation=small, objective="causal_lm"))
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("where", ["corpus", "validation"])
@pytest.mark.parametrize(
    "bad_bytes",
    [b"caf\xe9 latin-1\n", b"\xff\xfe not a start byte\n", b"truncated \xe2\x82\n"],
)
def test_a_line_that_is_not_utf8_is_named_before_training(tmp_path, where, bad_bytes):
    path = tmp_path / "corpus.txt"
    with open(path, "wb") as f:
        f.write("a good line of text\n".encode() * 40 + bad_bytes + b"more text\n" * 40)
    settings = {"corpus": [str(path)]} if where == "corpus" else {"validation": str(path)}
    with pytest.raises(ValueError, match=re.escape(str(path)) + r"', line 41: not valid UTF-8"):
        knlm.training.pretrain(config(tmp_path, **settings))
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(
    "settings, pipeline",
    [
        (dict(objective="causal_lm"), knlm.data.causal_lm_dataset),
        (dict(objective="masked_lm"), functools.partial(
            knlm.data.masked_lm_dataset, pack_documents=True)),
    ],
)
def test_the_check_counts_as_the_pipeline_batches(tmp_path, tokenizer, settings, pipeline):
    """The good case: a file of just enough text gives one batch; one line fewer would give
    none, and is refused by the pipeline itself (so also outside `pretrain`)."""
    line = "the cat sat on the mat and then it went home"
    pieces = len(tokenizer([line])[0]) + 1  # and its [SEP]
    window = 17 if settings["objective"] == "causal_lm" else 15
    enough = -(-8 * window // pieces)
    corpus = write(tmp_path / f"{enough}.txt", [line] * enough)
    dataset = pipeline(corpus, tokenizer, sequence_length=16, batch_size=8, shuffle=False)
    assert sum(1 for _ in dataset) == 1
    short = write(tmp_path / f"{enough - 1}.txt", [line] * (enough - 1))
    with pytest.raises(ValueError, match=rf"{enough - 1}\.txt' gives \d+ pieces .*7 sequences"):
        pipeline(short, tokenizer, sequence_length=16, batch_size=8, shuffle=False)
