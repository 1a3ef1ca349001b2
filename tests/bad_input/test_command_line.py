"""Issue 20, classes 3 (configs) and 7: a config value of the wrong type is refused, naming the
setting, the file, the value and the type expected; the command line answers a user's mistake
with one line and exit code 2, never a traceback, unless `--debug` asks for it."""

import glob
import os
import re
import subprocess
import sys

import pytest
import yaml

import kerasnlm as knlm
from kerasnlm.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUIRED = {"corpus": ["corpus.txt"], "output_dir": "out"}


def config_file(tmp_path, name="config.yaml", **settings):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({**REQUIRED, **settings}), encoding="utf-8")
    return str(path)


PRETRAIN = knlm.training.PretrainConfig


@pytest.mark.parametrize(
    "setting, value, expected",
    [
        ("steps", True, "an integer"),  # a bool is an int in Python, not here
        ("validation_steps", True, "an integer"),
        ("batch_size", 2.5, "an integer"),
        ("warmup_steps", None, "an integer"),  # only settings that default to None take null
        ("corpus", 5, "a path or a list of paths"),
        ("corpus", ["a.txt", 5], "a path or a list of paths"),
        ("learning_rate", "fast", "a number"),
        ("learning_rate", [0.1], "a number"),
        ("hidden_dim", [16], "an integer"),
        ("pack_documents", "false", "true or false"),
        ("lowercase", 1, "true or false"),
        ("output_dir", 5, "a str"),
        ("verbose", "loud", "one of ('auto', 0, 1, 2)"),
        ("verbose", True, "one of ('auto', 0, 1, 2)"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(tmp_path, setting, value, expected):
    path = config_file(tmp_path, **{setting: value})
    message = f"`{setting}` in {path} must be {expected}; received {value!r} "
    with pytest.raises(TypeError, match=re.escape(message)):
        PRETRAIN.read_settings(path)
    # The same value given as an override (`--set`) is named as one.
    path = config_file(tmp_path, "good.yaml")
    with pytest.raises(TypeError, match=re.escape(f"`{setting}` in the overrides of {path}")):
        PRETRAIN.read_settings(path, **{setting: value})


@pytest.mark.parametrize("setting, value", [("epochs", True), ("max_train_examples", 2.0),
                                            ("use_causal_mask", "yes")])
def test_finetune_settings_are_checked_too(tmp_path, setting, value):
    path = tmp_path / "finetune.yaml"
    path.write_text(yaml.safe_dump({"task": "classification", setting: value}))
    with pytest.raises(TypeError, match=re.escape(f"`{setting}` in {path} must be")):
        knlm.training.FinetuneConfig.read_settings(str(path))


@pytest.mark.parametrize("setting, value", [("max_train_examples", -4990),
                                            ("max_train_examples", 0), ("epochs", -1)])
def test_finetune_counts_must_be_positive(tmp_path, setting, value):
    settings = {"task": "classification", "train": knlm.data.samples.sst2("train"),
                "dev": knlm.data.samples.sst2("dev"), "output_dir": str(tmp_path / "run"),
                setting: value}
    with pytest.raises(ValueError, match=rf"`{setting}` must be a positive int.*{value}"):
        knlm.training.FinetuneConfig(**settings)


def test_valid_configs_read_as_before(tmp_path):
    """Every bundled config reads; numbers YAML leaves as strings (`1e-4`) and ints given to a
    float setting become floats; optional settings take null; `verbose` takes 0-2 or auto."""
    for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))):
        name = os.path.basename(path)
        schema = knlm.training.PretrainConfig if name.startswith("pretrain") else (
            knlm.training.FinetuneConfig)
        assert schema.read_settings(path), name
    path = config_file(tmp_path, learning_rate="1e-4", dropout=0, validation=None, verbose=2,
                       corpus="one.txt")
    settings = knlm.training.PretrainConfig.read_settings(path)
    assert settings["learning_rate"] == 1e-4 and settings["dropout"] == 0.0
    assert isinstance(settings["dropout"], float)
    assert settings["validation"] is None and settings["verbose"] == 2
    assert knlm.training.PretrainConfig.from_file(path).corpus == ["one.txt"]
    finetune = tmp_path / "finetune.yaml"
    finetune.write_text("task: classification\npad_to_multiple_of: null  # one shape\n")
    assert knlm.training.FinetuneConfig.read_settings(str(finetune))["pad_to_multiple_of"] is None


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def _config_is_a_folder(tmp_path):
    (tmp_path / "folder").mkdir()
    return str(tmp_path / "folder"), r"The config file \S*folder is a directory"


def _bad_json(tmp_path):
    (tmp_path / "run.json").write_text('{"corpus": ["a.txt"],\n "steps": 2,,\n}\n')
    return str(tmp_path / "run.json"), r"\S*run\.json, line 2: not valid JSON"


def _bad_yaml(tmp_path):
    (tmp_path / "run.yaml").write_text("output_dir: out\ncorpus: [a.txt\nsteps: 2\n")
    return str(tmp_path / "run.yaml"), r"\S*run\.yaml, line 3: not valid YAML"


def _a_setting_twice_yaml(tmp_path):
    (tmp_path / "run.yaml").write_text("output_dir: out\nsteps: 2\ncorpus: [a.txt]\nsteps: 4\n")
    return str(tmp_path / "run.yaml"), r"\S*run\.yaml, line 4: the setting 'steps' is given twice"


def _a_setting_twice_json(tmp_path):
    (tmp_path / "run.json").write_text('{"output_dir": "out", "steps": 2, "steps": 4}')
    return str(tmp_path / "run.json"), r"\S*run\.json: the setting 'steps' is given twice"


def _latin1_yaml(tmp_path):
    (tmp_path / "run.yaml").write_bytes(b"output_dir: out\ncorpus: [caf\xe9.txt]\n")
    return str(tmp_path / "run.yaml"), r"\S*run\.yaml, line 2: not valid UTF-8"


def _corpus_a_number(tmp_path):
    path = config_file(tmp_path, corpus=5)
    return path, r"`corpus` in \S*config\.yaml must be a path or a list of paths; received 5"


def _output_dir_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file")
    path = config_file(tmp_path, output_dir=str(tmp_path / "taken"))
    return path, r"`output_dir` \S*taken is a file, not a folder"


def _output_dir_inside_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file")
    path = config_file(tmp_path, output_dir=str(tmp_path / "taken" / "run"))
    return path, r"`output_dir` \S*taken/run lies inside \S*taken, which is a file"


def _required_setting_missing(tmp_path):
    (tmp_path / "run.yaml").write_text("corpus: [a.txt]\n")
    return str(tmp_path / "run.yaml"), r"\S*run\.yaml lacks the required settings \['output_dir'\]"


MISTAKES = [_config_is_a_folder, _bad_json, _bad_yaml, _a_setting_twice_yaml,
            _a_setting_twice_json, _latin1_yaml, _corpus_a_number, _output_dir_a_file,
            _output_dir_inside_a_file, _required_setting_missing]


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda mistake: mistake.__name__[1:])
def test_a_mistake_is_one_line_and_exit_2_and_debug_shows_the_traceback(
    tmp_path, capsys, mistake
):
    path, message = mistake(tmp_path)
    assert main(["pretrain", "--config", path]) == 2
    error = one_line_error(capsys)
    assert error.startswith("kerasnlm pretrain: error: ") and re.search(message, error), error
    # --debug, before or after the command, lets the exception (and its traceback) through.
    for argv in (["pretrain", "--config", path, "--debug"],
                 ["--debug", "pretrain", "--config", path]):
        with pytest.raises((ValueError, TypeError, OSError), match=message):
            main(argv)


@pytest.mark.parametrize("inside", [False, True])
def test_quickstart_refuses_an_output_dir_that_is_a_file(tmp_path, capsys, inside):
    (tmp_path / "taken").write_text("a file")
    output_dir = tmp_path / "taken" / "run" if inside else tmp_path / "taken"
    assert main(["quickstart", "--output-dir", str(output_dir)]) == 2
    expected = (r"kerasnlm quickstart: error: `--output-dir` \S*taken(/run)? "
                r"(is|lies inside \S*taken, which is) a file, not a folder; .*")
    assert re.fullmatch(expected, one_line_error(capsys))
    assert (tmp_path / "taken").read_text() == "a file"


@pytest.mark.parametrize("argv", [["pretrain"], ["finetune", "--set", "epochs=2"],
                                  ["pretrain", "--config"]])
def test_a_missing_option_is_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    error = one_line_error(capsys)
    assert error.startswith(f"kerasnlm {argv[0]}: error: ") and "--config" in error


def test_python_m_kerasnlm_shows_no_traceback(tmp_path):
    """The real entry point, TensorFlow's start-up included: one line on stderr, exit 2 (the
    in-process tests above show `--debug` letting the traceback through)."""
    path, _ = _config_is_a_folder(tmp_path)
    command = [sys.executable, "-m", "kerasnlm", "pretrain", "--config", path]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith("kerasnlm pretrain: error: The config file ")
    assert result.stderr.count("\n") == 1, result.stderr
