"""The `kerasnlm` command: help, version, and one line with exit code 2 for every mistake."""

import os
import subprocess
import sys

import pytest
import yaml

from kerasnlm.cli.main import _one_line
from kerasnlm.cli.main import main

COMMANDS = ("quickstart", "pretrain", "finetune", "evaluate", "export", "predict", "drift",
            "split")


def test_help_and_version_print_no_tensorflow_line(tmp_path):
    # As a user's shell runs it: without the test suite's TF_CPP_MIN_LOG_LEVEL.
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "kerasnlm", "--help"], cwd=tmp_path, capture_output=True,
        text=True, timeout=300, env=env,
    )
    assert result.returncode == 0
    assert result.stderr == ""  # no oneDNN, CUDA or absl line
    for command in COMMANDS:
        assert command in result.stdout
    version = subprocess.run(
        [sys.executable, "-m", "kerasnlm", "--version"], cwd=tmp_path, capture_output=True,
        text=True, timeout=300, env=env,
    )
    assert version.stdout.strip().startswith("kerasnlm 0.") and version.stderr == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: kerasnlm {command}")


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_mistakes_are_one_line_and_exit_2(tmp_path, capsys):
    # A bad argument value, an unknown option, a missing required option.
    for argv in (["quickstart", "--steps", "many"], ["export", "--model", "m", "--outptu", "x"],
                 ["evaluate", "--model", "m"], ["nonsense"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        assert "error:" in one_line_error(capsys)

    assert main(["finetune", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert one_line_error(capsys) == (
        f"kerasnlm finetune: error: No config file at {tmp_path / 'missing.yaml'}."
    )
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"corpus": ["x.txt"], "output_dir": "out", "stpes": 5}))
    assert main(["pretrain", "--config", str(config)]) == 2
    assert one_line_error(capsys) == (
        f"kerasnlm pretrain: error: Unknown settings in {config}: ['stpes']."
    )
    config.write_text(yaml.safe_dump({"corpus": ["x.txt"], "output_dir": "out"}))
    assert main(["pretrain", "--config", str(config), "--set", "steps=many"]) == 2
    assert one_line_error(capsys) == (
        f"kerasnlm pretrain: error: `steps` in the overrides of {config} must be an integer; "
        "received 'many' (str)."
    )
    assert main(["pretrain", "--config", str(config), "--set", "learning_rate=fast"]) == 2
    assert one_line_error(capsys) == (
        f"kerasnlm pretrain: error: `learning_rate` in the overrides of {config} must be a "
        "number; received 'fast' (str)."
    )
    assert main(["pretrain", "--config", str(config), "--set", "steps"]) == 2
    assert "`--set` takes KEY=VALUE; received 'steps'." in one_line_error(capsys)
    config.write_text("corpus: [unclosed\n")
    assert main(["pretrain", "--config", str(config)]) == 2
    assert one_line_error(capsys).startswith("kerasnlm pretrain: error: ")
    assert main(["evaluate", "--model", str(tmp_path), "--data", str(tmp_path / "no.tsv")]) == 2
    assert one_line_error(capsys) == (
        f"kerasnlm evaluate: error: `--data`: no file at {tmp_path / 'no.tsv'}."
    )
    assert main(["quickstart", "--steps", "0"]) == 2
    assert one_line_error(capsys) == (
        "kerasnlm quickstart: error: `steps` must be a positive integer; received 0."
    )


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="No config file"):
        main(["finetune", "--config", str(tmp_path / "missing.yaml"), "--debug"])


def test_an_error_raised_in_traced_code_shows_its_cause():
    # TensorFlow's errors from a tf.function start "in user code:" and end with the cause.
    error = ValueError(
        "in user code:\n\n    File \"model.py\", line 3, in generate  *\n        loop()\n\n"
        "    ValueError: Input tensor `x` enters the loop with shape (6, None)\n"
    )
    assert _one_line(error) == (
        "ValueError: Input tensor `x` enters the loop with shape (6, None) (more with --debug)"
    )
