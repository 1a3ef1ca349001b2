"""Issue 20, class 6: corrupt artifacts name themselves. A truncated, empty or random-bytes
`.keras` file, or a zip of something else, is a ValueError naming the file (Keras says "File
not found"); a damaged step checkpoint or index is skipped, with a warning naming it, for the
newest whole checkpoint beside it, and a folder with none whole is a ValueError naming it."""

import json
import os
import re
import shutil
import warnings
import zipfile

import keras
import numpy as np
import pytest

import kerasnlm as knlm
from kerasnlm.export.serving import Predictor
from kerasnlm.models.files import load_keras_file
from kerasnlm.training.checkpoints import restore_latest
from kerasnlm.training.checkpoints import save_checkpoint

INPUTS = {
    "token_ids": np.array([[2, 7, 11, 3, 0, 0, 0, 0]]),
    "padding_mask": np.array([[1, 1, 1, 1, 0, 0, 0, 0]]),
}


def sequence_output(model):
    return keras.ops.convert_to_numpy(model(INPUTS)["sequence_output"])


@pytest.fixture(scope="module")
def saved_backbone(tmp_path_factory):
    """A tiny backbone's `.keras` file, and its output on INPUTS."""
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=50, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16,
    )
    path = tmp_path_factory.mktemp("saved") / "backbone.keras"
    backbone.save(path)
    return str(path), sequence_output(backbone)


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path, contents):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def flip_a_byte(data):
    data = bytearray(data)
    data[len(data) // 3] ^= 0xFF  # inside the weights: the zip's checksum no longer matches
    return bytes(data)


# name -> (make the hostile artifact at `path` from the good file's bytes, error, message)
BAD_KERAS_FILES = {
    "missing.keras": (None, FileNotFoundError, r"No model file at '.*missing\.keras'"),
    "folder": (lambda path, good: os.mkdir(path), IsADirectoryError,
               r"'.*folder' is a folder, not a \.keras model file"),
    "random.keras": (lambda path, good: path.write_bytes(np.random.bytes(3000)), ValueError,
                     r"'.*random\.keras' is not a valid \.keras file \(truncated or corrupt"),
    "empty.keras": (lambda path, good: path.write_bytes(b""), ValueError,
                    r"'.*empty\.keras' is not a valid \.keras file"),
    "half.keras": (lambda path, good: path.write_bytes(good[: len(good) // 2]), ValueError,
                   r"'.*half\.keras' is not a valid \.keras file \(truncated or corrupt"),
    "flipped.keras": (lambda path, good: path.write_bytes(flip_a_byte(good)), ValueError,
                      r"'.*flipped\.keras' .*model\.weights\.h5 is damaged"),
    "hello.keras": (lambda path, good: write_zip(path, {"hello.txt": "hello"}), ValueError,
                    r"'.*hello\.keras' is a zip file but not a Keras model: it has no "
                    r"config\.json .*it holds hello\.txt"),
}

# Whole zips holding a damaged Keras model: name -> (change to its members, message)
BAD_KERAS_MEMBERS = {
    "no_weights.keras": ({"model.weights.h5": None},
                         r"'.*no_weights\.keras' is a zip file but not a Keras model: it has no "
                         r"model\.weights\.h5"),
    "bad_config.keras": ({"config.json": b"{not json"},
                         r"'.*bad_config\.keras' .*config\.json is not valid JSON"),
    "bad_weights.keras": ({"model.weights.h5": b"not an HDF5 file"},
                          r"Keras cannot load the model in '.*bad_weights\.keras': .*signature"),
}


def make_bad_keras_file(name, tmp_path, saved_backbone):
    path = tmp_path / name
    good = open(saved_backbone[0], "rb").read()
    if name in BAD_KERAS_FILES:
        make = BAD_KERAS_FILES[name][0]
        if make is not None:
            make(path, good)
    else:
        contents = {**members(saved_backbone[0]), **BAD_KERAS_MEMBERS[name][0]}
        write_zip(path, {k: v for k, v in contents.items() if v is not None})
    return str(path)


ALL_BAD_KERAS = [
    (name, error, message) for name, (_, error, message) in BAD_KERAS_FILES.items()
] + [(name, ValueError, message) for name, (_, message) in BAD_KERAS_MEMBERS.items()]


@pytest.mark.parametrize("name, error, message", ALL_BAD_KERAS)
def test_a_bad_keras_file_is_named_with_what_is_wrong(
    name, error, message, tmp_path, saved_backbone
):
    path = make_bad_keras_file(name, tmp_path, saved_backbone)
    with pytest.raises(error, match=message):
        load_keras_file(path)


def test_a_folder_without_the_expected_file_is_named(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"'.*' is a folder.*\(no best\.keras in it\)"):
        load_keras_file(tmp_path, expected_file="best.keras")


@pytest.mark.parametrize("route", ["Predictor.load_keras_model", "analysis.embedding_matrix"])
@pytest.mark.parametrize("name", ["random.keras", "hello.keras"])
def test_the_public_routes_name_the_bad_file(route, name, tmp_path, saved_backbone):
    load = {
        "Predictor.load_keras_model": Predictor.load_keras_model,
        "analysis.embedding_matrix": knlm.analysis.embedding_matrix,
    }[route]
    path = make_bad_keras_file(name, tmp_path, saved_backbone)
    with pytest.raises(ValueError, match=BAD_KERAS_FILES[name][2]):
        load(path)


def test_a_whole_keras_file_still_loads_and_predicts_the_same(tmp_path, saved_backbone):
    path, expected = saved_backbone
    folder = tmp_path / "finetuned"
    folder.mkdir()
    shutil.copy(path, folder / "best.keras")
    for model in (
        load_keras_file(path),
        load_keras_file(folder, expected_file="best.keras"),
        Predictor.load_keras_model(folder),
    ):
        assert isinstance(model, knlm.models.TransformerBackbone)
        np.testing.assert_allclose(sequence_output(model), expected, rtol=1e-6, atol=1e-6)
    embeddings = keras.ops.convert_to_numpy(model.token_embedding.embeddings)
    np.testing.assert_array_equal(knlm.analysis.embedding_matrix(path), embeddings)


# Step checkpoints. A tiny compiled model stands in for pretrain's: `restore_latest` only sees
# its variables and its optimizer's.
METADATA = {"hidden_dim": 8, "corpus_files": [["corpus.txt", 120]]}


def compiled_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")],
                             name="model")
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.fixture
def run_folder(tmp_path):
    """A checkpoint folder of an interrupted run: steps 2 and 4, whose kernels are all 2 and 4."""
    model = compiled_model()
    for step in (2, 4):
        model.optimizer.iterations.assign(step)
        model.get_layer("dense").kernel.assign(np.full((3, 2), float(step)))
        save_checkpoint(model, str(tmp_path / "checkpoints"), METADATA)
    return tmp_path / "checkpoints"


def restored(folder, metadata=METADATA):
    """The step and kernel `restore_latest` gives a fresh model, and its warnings' messages."""
    model = compiled_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        step = restore_latest(model, str(folder), metadata)
    kernel = keras.ops.convert_to_numpy(model.get_layer("dense").kernel)
    return step, kernel, [str(warning.message) for warning in caught]


NEWEST, OLDER, INDEX = "step-00000004.npz", "step-00000002.npz", "latest.json"


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def randomize(path):
    path.write_bytes(np.random.bytes(800))


def empty(path):
    path.write_bytes(b"")


def flip(path):
    path.write_bytes(flip_a_byte(path.read_bytes()))


def another_zip(path):
    write_zip(path, {"hello.txt": "hello"})


def bad_json(path):
    path.write_text('{"step": 4, "file": ')


def json_list(path):
    path.write_text("[4]")


def delete(path):
    path.unlink()


@pytest.mark.parametrize(
    "damage, resumed_step, skipped",
    [
        ({NEWEST: truncate}, 2, r"skipped step-00000004\.npz: truncated or corrupt"),
        ({NEWEST: randomize}, 2, r"skipped step-00000004\.npz: truncated or corrupt"),
        ({NEWEST: empty}, 2, r"skipped step-00000004\.npz: empty \(0 bytes\)"),
        ({NEWEST: flip}, 2, r"skipped step-00000004\.npz: corrupt \(.*fails its checksum\)"),
        ({NEWEST: another_zip}, 2, r"skipped step-00000004\.npz: not a step checkpoint"),
        ({INDEX: bad_json}, 4, r"skipped latest\.json: not readable JSON"),
        ({INDEX: empty}, 4, r"skipped latest\.json: not readable JSON"),
        ({INDEX: json_list}, 4, r"skipped latest\.json: not a checkpoint index"),
        ({INDEX: delete}, 4, r"skipped latest\.json: missing"),
        ({NEWEST: delete}, 2, r"skipped latest\.json: names step-00000004\.npz, which does not"),
        ({NEWEST: truncate, INDEX: bad_json}, 2,
         r"skipped latest\.json: not readable JSON .*; step-00000004\.npz: truncated"),
    ],
)
def test_a_damaged_checkpoint_is_skipped_for_the_newest_whole_one(
    damage, resumed_step, skipped, run_folder
):
    for name, make in damage.items():
        make(run_folder / name)
    step, kernel, messages = restored(run_folder)
    assert (step, kernel.tolist()) == (resumed_step, np.full((3, 2), resumed_step).tolist())
    assert len(messages) == 1, messages
    assert f"step-{resumed_step:08d}.npz (step {resumed_step})" in messages[0]
    assert re.search(skipped, messages[0]), messages[0]


@pytest.mark.parametrize(
    "damage, found",
    [
        ({NEWEST: truncate, OLDER: randomize},
         r"step-00000004\.npz: truncated or corrupt .*step-00000002\.npz: truncated or corrupt"),
        ({NEWEST: flip, OLDER: another_zip, INDEX: bad_json},
         r"latest\.json: not readable JSON .*step-00000004\.npz: corrupt .*step-00000002\.npz: "
         r"not a step checkpoint"),
        ({NEWEST: delete, OLDER: delete},
         r"latest\.json: names step-00000004\.npz, which does not exist\)"),
    ],
)
def test_a_folder_with_no_whole_checkpoint_is_refused_by_name(damage, found, run_folder):
    for name, make in damage.items():
        make(run_folder / name)
    with pytest.raises(ValueError, match=rf"No checkpoint in .*checkpoints can be resumed from "
                                         rf"\({found}.*Delete that folder"):
        restored(run_folder)


def test_a_checkpoint_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "checkpoints").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=r"checkpoint folder '.*checkpoints' is a file"):
        restored(tmp_path / "checkpoints")


def test_without_its_index_a_checkpoint_is_still_checked_against_the_configuration(run_folder):
    bad_json(run_folder / INDEX)
    with pytest.raises(ValueError, match=r"different configuration \(hidden_dim: 8 -> 16\)"):
        restored(run_folder, {**METADATA, "hidden_dim": 16})


def test_a_whole_folder_resumes_from_its_index_without_a_word(run_folder, tmp_path):
    with open(run_folder / INDEX) as f:
        assert json.load(f)["file"] == NEWEST
    step, kernel, messages = restored(run_folder)
    assert (step, kernel.tolist(), messages) == (4, np.full((3, 2), 4.0).tolist(), [])
    # No folder yet: a new run, from step 0.
    assert restored(tmp_path / "new_run")[::2] == (0, [])
