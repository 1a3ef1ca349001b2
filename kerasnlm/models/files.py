"""Loading `.keras` files with errors that name what is wrong with which file."""

import json
import os
import zipfile

# What every `.keras` archive holds: the model's config and its weights, in one of two formats.
CONFIG = "config.json"
WEIGHTS = ("model.weights.h5", "model.weights.npz")


def load_keras_file(path, expected_file=None):
    """The model saved in the `.keras` file `path` (or `path/expected_file` for a folder).

    Raises:
        FileNotFoundError: nothing exists at `path`.
        IsADirectoryError: `path` is a folder without `expected_file`.
        ValueError: the file is not a whole `.keras` archive (truncated, corrupt, or some other
            zip file), or Keras cannot rebuild the model it describes.
    """
    import keras

    path = os.fspath(path)
    if os.path.isdir(path):
        if expected_file is None or not os.path.isfile(os.path.join(path, expected_file)):
            wanted = f" (no {expected_file} in it)" if expected_file else ""
            raise IsADirectoryError(f"'{path}' is a folder, not a .keras model file{wanted}.")
        path = os.path.join(path, expected_file)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at '{path}'.")
    _check_archive(path)
    try:
        return keras.models.load_model(path)
    except (OSError, KeyError, ValueError, TypeError) as error:
        # Keras' own messages (an h5py "file signature not found", a variable count) do not say
        # which file; keep its first lines, they say what it found.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        details = " ".join(lines[:2]) or type(error).__name__
        raise ValueError(f"Keras cannot load the model in '{path}': {details}") from error


def _check_archive(path):
    """Raises a ValueError naming `path` unless it is a whole zip holding a Keras model.

    Keras reports a zip it cannot open as "File not found" and a zip of something else as a
    `KeyError`, both of which mislead: check here first.
    """
    corrupt = f"'{path}' is not a valid .keras file (truncated or corrupt"
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
            names = archive.namelist()
            config = archive.read(CONFIG) if broken is None and CONFIG in names else None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{corrupt}: {error}).") from None
    if broken is not None:
        raise ValueError(f"{corrupt}: {broken} is damaged).")
    missing = [CONFIG] if config is None else []
    if not any(name in names for name in WEIGHTS):
        missing.append(" or ".join(WEIGHTS))
    if missing:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "") or "nothing"
        raise ValueError(
            f"'{path}' is a zip file but not a Keras model: it has no {' and no '.join(missing)} "
            f"(it holds {shown}). Give the .keras file written by `model.save`."
        )
    try:
        json.loads(config)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{corrupt}: its {CONFIG} is not valid JSON: {error}).") from None
