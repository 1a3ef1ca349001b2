"""Step checkpoints that let an interrupted training run resume exactly where it stopped.

A checkpoint holds every variable a training step reads or writes: the model's weights, its
dropout seed states, and the optimizer's slots and step counter. Files are written to a
temporary name and renamed, so a run killed mid-write leaves the previous checkpoint intact.
"""

import json
import os
import re
import warnings
import zipfile

import keras
import numpy as np

LATEST = "latest.json"
STEP_FILE = re.compile(r"step-(\d+)\.npz")


def _kinds(model):
    """Names that identify each state variable across two builds of the same model.

    Keras numbers auto-named objects per process (`seed_generator_3`, `adam_w_1`), so those
    counters are dropped: the seed generators' and the optimizer's own name.
    """
    names = [re.sub(r"seed_generator_\d+", "seed_generator", v.path) for v in model.variables]
    names += [v.path.split("/", 1)[-1] for v in model.optimizer.variables]
    return names


def _state_variables(model):
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return list(model.variables) + list(model.optimizer.variables)


def _write_atomically(path, write):
    temporary = path + ".tmp"
    write(temporary)
    os.replace(temporary, path)


def save_checkpoint(model, directory, metadata=None, keep=2):
    """Saves the model's and optimizer's state as `step-XXXXXXXX.npz`; returns the step."""
    os.makedirs(directory, exist_ok=True)
    step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    name = f"step-{step:08d}.npz"
    variables = _state_variables(model)
    arrays = {f"{i:05d}": keras.ops.convert_to_numpy(v) for i, v in enumerate(variables)}
    arrays["paths"] = np.array(_kinds(model))
    # Also in the index, but here too: a checkpoint resumed without a readable index is still
    # checked against the run's configuration.
    arrays["metadata"] = np.array(json.dumps(metadata or {}))

    def write_arrays(path):
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    _write_atomically(os.path.join(directory, name), write_arrays)

    def write_latest(path):
        with open(path, "w") as f:
            json.dump({"step": step, "file": name, "metadata": metadata or {}}, f, indent=1)

    _write_atomically(os.path.join(directory, LATEST), write_latest)
    old = sorted(f for f in os.listdir(directory) if f.startswith("step-") and f.endswith(".npz"))
    stale = old[:-keep] + [f for f in os.listdir(directory) if f.endswith(".tmp")]
    for name in stale:  # older checkpoints, and partial writes of a killed run
        os.remove(os.path.join(directory, name))
    return step


def restore_latest(model, directory, metadata=None):
    """Loads the newest whole checkpoint in `directory` into `model`; returns its step (0 if
    there is none).

    The checkpoint `latest.json` names comes first. If it (or `latest.json`) is missing,
    truncated or corrupt, the newest other step file that is whole is used instead, with a
    warning naming what was skipped and why: a disk that filled up or a copy cut short must not
    cost the whole run, nor restart it from step 0 without a word.

    Raises:
        NotADirectoryError: `directory` is a file.
        ValueError: no checkpoint in `directory` is whole; or the one found was written for a
            different configuration (`metadata` differs) or its variables do not match the
            model's.
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(
            f"The checkpoint folder '{directory}' is a file. Move it away, or use a new output "
            f"directory."
        )
    names = _step_files(directory)
    if not names and not os.path.exists(os.path.join(directory, LATEST)):
        return 0  # a new run
    record, problem = _read_index(directory)
    skipped = [(LATEST, problem)] if problem else []
    if record is not None:  # the indexed checkpoint first, as it always was
        names = [record["file"]] + [name for name in names if name != record["file"]]
    for name in names:
        path = os.path.join(directory, name)
        try:
            arrays = _read_checkpoint(path)
        except _Unusable as why:
            skipped.append((name, str(why)))
            continue
        saved = arrays.pop("metadata", None)
        if saved is None and record is not None:  # written before checkpoints held it
            saved = record.get("metadata", {})
        if metadata is not None and saved is not None and saved != metadata:
            _refuse_other_configuration(directory, saved, metadata)
        _assign(model, arrays, path)
        step = record["step"] if record and name == record["file"] else _step_of(name)
        if skipped:
            unchecked = (
                " Its configuration could not be checked (no metadata with it)."
                if metadata is not None and saved is None else ""
            )
            warnings.warn(
                f"Resuming from {path} (step {step}), the newest whole checkpoint; skipped "
                f"{_listed(skipped)}.{unchecked}",
                stacklevel=2,
            )
        return step
    raise ValueError(
        f"No checkpoint in {directory} can be resumed from ({_listed(skipped)}). Delete that "
        f"folder to start the run over, or use a new output directory."
    )


def _listed(skipped):
    return "; ".join(f"{name}: {reason}" for name, reason in skipped)


class _Unusable(Exception):
    """A checkpoint or index file that cannot be read (truncated, corrupt, not ours)."""


def _read_index(directory):
    """The record in `latest.json` and None, or None and why it cannot be used."""
    path = os.path.join(directory, LATEST)
    if not os.path.exists(path):  # a run killed between its first checkpoint and index
        return None, "missing"
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"not readable JSON ({error})"
    if not (
        isinstance(record, dict)
        and isinstance(record.get("file"), str)
        and STEP_FILE.fullmatch(record["file"])
        and isinstance(record.get("step"), int)
        and isinstance(record.get("metadata", {}), dict)
    ):
        return None, "not a checkpoint index (no `step`, `file` and `metadata`)"
    if not os.path.isfile(os.path.join(directory, record["file"])):
        return None, f"names {record['file']}, which does not exist"
    return record, None


def _step_files(directory):
    """The step checkpoints in `directory`, newest first."""
    if not os.path.isdir(directory):
        return []
    return sorted((f for f in os.listdir(directory) if STEP_FILE.fullmatch(f)), key=_step_of,
                  reverse=True)


def _step_of(name):
    return int(STEP_FILE.fullmatch(name).group(1))


def _read_checkpoint(path):
    """Every array in the checkpoint `path`, all read and checked before any is assigned (so
    that a file damaged half-way leaves the model as it was)."""
    if os.path.getsize(path) == 0:
        raise _Unusable("empty (0 bytes)")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is not None:
            raise _Unusable(f"corrupt ({damaged} fails its checksum)")
        with np.load(path) as npz:  # without pickles: a checkpoint holds arrays only
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise _Unusable(f"truncated or corrupt ({error})") from None
    paths = arrays.get("paths")
    if paths is None or paths.ndim != 1 or any(f"{i:05d}" not in arrays for i in range(len(paths))):
        held = ", ".join(sorted(arrays)[:5]) or "nothing"
        raise _Unusable(f"not a step checkpoint (it holds {held})")
    if "metadata" in arrays:
        try:
            arrays["metadata"] = json.loads(str(arrays["metadata"].item()))
        except (ValueError, TypeError) as error:
            raise _Unusable(f"corrupt (its metadata is not JSON: {error})") from None
    return arrays


def _refuse_other_configuration(directory, saved, metadata):
    differences = sorted(
        key for key in set(saved) | set(metadata) if saved.get(key) != metadata.get(key)
    )
    details = ", ".join(f"{k}: {saved.get(k)!r} -> {metadata.get(k)!r}" for k in differences)
    raise ValueError(
        f"The checkpoint in {directory} was written with a different configuration "
        f"({details}). Use a new output directory, or restore the original settings."
    )


def _assign(model, arrays, path):
    variables = _state_variables(model)
    paths = arrays["paths"].tolist()
    name = os.path.basename(path)
    if len(paths) != len(variables):
        raise ValueError(
            f"The checkpoint {name} holds {len(paths)} variables; the model and optimizer "
            f"have {len(variables)}."
        )
    values = [arrays[f"{i:05d}"] for i in range(len(paths))]
    for i, (saved_path, kind, value, variable) in enumerate(
        zip(paths, _kinds(model), values, variables)
    ):
        if saved_path != kind or tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"Checkpoint variable {i} is `{saved_path}` of shape {value.shape}, but the "
                f"model's is `{variable.path}` of shape {tuple(variable.shape)}."
            )
    for value, variable in zip(values, variables):
        variable.assign(value)


class StepCheckpoint(keras.callbacks.Callback):
    """Saves a checkpoint at the end of every epoch (give `fit` a `steps_per_epoch` of N to
    checkpoint every N steps), keeping the newest `keep`.

    Args:
        directory: where the checkpoints go.
        metadata: JSON-serializable dict stored with each checkpoint (the run's configuration),
            checked by `restore_latest`.
        keep: how many checkpoints to keep.
    """

    def __init__(self, directory, metadata=None, keep=2):
        super().__init__()
        self.directory = directory
        self.metadata = metadata
        self.keep = keep

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.model, self.directory, self.metadata, self.keep)
