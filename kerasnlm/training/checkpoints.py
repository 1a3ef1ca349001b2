"""Step checkpoints that let an interrupted training run resume exactly where it stopped.

A checkpoint holds every variable a training step reads or writes: the model's weights, its
dropout seed states, and the optimizer's slots and step counter. Files are written to a
temporary name and renamed, so a run killed mid-write leaves the previous checkpoint intact.
"""

import json
import os
import re

import keras
import numpy as np

LATEST = "latest.json"


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
    """Loads the newest checkpoint in `directory` into `model`; returns its step (0 if none).

    Raises:
        ValueError: the checkpoint was written for a different configuration (`metadata`
            differs) or its variables do not match the model's.
    """
    latest = os.path.join(directory, LATEST)
    if not os.path.exists(latest):
        return 0
    with open(latest) as f:
        record = json.load(f)
    saved = record.get("metadata", {})
    if metadata is not None and saved != metadata:
        differences = sorted(
            key for key in set(saved) | set(metadata) if saved.get(key) != metadata.get(key)
        )
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {metadata.get(k)!r}" for k in differences)
        raise ValueError(
            f"The checkpoint in {directory} was written with a different configuration "
            f"({details}). Use a new output directory, or restore the original settings."
        )
    variables = _state_variables(model)
    with np.load(os.path.join(directory, record["file"])) as arrays:
        paths = arrays["paths"].tolist()
        if len(paths) != len(variables):
            raise ValueError(
                f"The checkpoint {record['file']} holds {len(paths)} variables; the model "
                f"and optimizer have {len(variables)}."
            )
        for i, (path, kind, variable) in enumerate(zip(paths, _kinds(model), variables)):
            value = arrays[f"{i:05d}"]
            if path != kind or tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"Checkpoint variable {i} is `{path}` of shape {value.shape}, but the "
                    f"model's is `{variable.path}` of shape {tuple(variable.shape)}."
                )
            variable.assign(value)
    return record["step"]


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
