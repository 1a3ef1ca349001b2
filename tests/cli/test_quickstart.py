"""`kerasnlm quickstart`, run as a new user runs it (a fresh process), at a small budget."""

import json
import os
import pathlib
import subprocess
import sys

import tensorflow as tf
import tensorflow_text  # noqa: F401

from kerasnlm.cli.quickstart import LABELS
from kerasnlm.cli.quickstart import PROBES


def run_cli(*args, cwd):
    # As a user's shell runs it: without the test suite's TF_CPP_MIN_LOG_LEVEL.
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "kerasnlm", *args], cwd=cwd, capture_output=True, text=True,
        timeout=900, env=env,
    )


def test_quickstart_runs_every_stage_and_guards_its_folder(tmp_path):
    out = tmp_path / "out"
    result = run_cli("quickstart", "--steps", "20", "--epochs", "1", "--output-dir", str(out),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "I0000" not in result.stderr and "E0000" not in result.stderr, result.stderr[:2000]
    assert "Traceback" not in result.stderr
    for stage in range(1, 6):
        assert f"[{stage}/5]" in result.stdout
    assert "trains the very embedding matrix the language-model head is tied to" in result.stdout
    figures = json.loads((out / "quickstart.json").read_text())
    # The pretraining learned something even in 20 steps: far below a uniform guess.
    assert figures["perplexity"] < figures["vocabulary_size"] / 2
    assert figures["unigram_perplexity"] > 1
    # A classifier from scratch beats the majority class after one epoch on 5,000 sentences.
    assert figures["scratch_dev_accuracy"] > figures["majority_baseline"] + 0.08, figures
    assert 0 <= figures["pretrained_dev_accuracy"] <= 1
    assert len(figures["most_moved"]) == 8
    for name in ("vocabulary", "backbone", "classifier", "drift_table", "saved_model"):
        assert pathlib.Path(figures["artifacts"][name]).exists(), name
    # The export answers raw strings with TensorFlow alone, as the run printed.
    served = tf.saved_model.load(figures["artifacts"]["saved_model"]).signatures["serving_default"]
    labels = [label.decode() for label in served(text=tf.constant(PROBES))["labels"].numpy()]
    assert labels == [figures["served"][text] for text in PROBES]
    assert set(labels) <= set(LABELS)
    assert "kerasnlm predict --model" in result.stdout  # the next commands

    # Any non-empty folder that is not a quickstart's is refused, and left as it was.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    refused = run_cli("quickstart", "--output-dir", str(other), cwd=tmp_path)
    assert refused.returncode == 2 and (other / "notes.txt").read_text() == "keep me"
    assert refused.stderr.strip().splitlines() == [
        f"kerasnlm quickstart: error: `--output-dir` {other} holds files of something other "
        "than a quickstart; choose a new folder."
    ]
