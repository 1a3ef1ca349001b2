"""Answers for raw texts from an export or a saved model, the same way for both.

`Predictor(path)` takes a SavedModel folder written by `export_saved_model`, a `.keras` file,
or a `kerasnlm finetune` output folder (its `best.keras`). For a SavedModel it calls the
exported main signature; for a `.keras` model it runs the same servable functions in-process
(`kerasnlm.export.servables`), so `kerasnlm predict` prints the same rows either way.
"""

import json
import os

import tensorflow as tf

from kerasnlm.export.saved_model import METADATA_FILE
from kerasnlm.export.servables import servable
from kerasnlm.export.servables import servable_class

FINETUNE_MODEL = "best.keras"


class Predictor:
    """`predictor(texts)` -> one JSON-ready dict per text (see `Servable.rows`)."""

    def __init__(self, path, signature=None):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No model at {path}.")
        if os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb")):
            metadata_file = os.path.join(path, "assets", METADATA_FILE)
            if not os.path.exists(metadata_file):
                raise ValueError(
                    f"{path} is a SavedModel but not a kerasnlm export (no {METADATA_FILE})."
                )
            with open(metadata_file, encoding="utf-8") as f:
                self.metadata = json.load(f)
            import tensorflow_text  # noqa: F401  (the tokenizer's ops)

            signatures = tf.saved_model.load(path).signatures
            functions = {name: signatures[name] for name in self.metadata["signatures"]}
        else:
            served = servable(self.load_keras_model(path))
            self.metadata = {"task": type(served.model).__name__, "main_signature": served.main,
                             **served.metadata()}
            functions = {
                name: tf.function(function, input_signature=specs)
                for name, (function, specs) in served.signatures().items()
            }
        self.signature = signature or self.metadata["main_signature"]
        if self.signature not in functions or self.signature in ("tokenized", "classify_pairs"):
            texts_only = sorted(n for n in functions if n not in ("tokenized", "classify_pairs"))
            raise ValueError(
                f"`signature` {self.signature!r} does not take one text a row here; this "
                f"{self.metadata['task']} serves {texts_only}."
            )
        self.function = functions[self.signature]
        self.rows = servable_class(self.metadata["task"]).rows

    @staticmethod
    def load_keras_model(path):
        """The model of a `.keras` file or of a finetune output folder (its `best.keras`)."""
        from kerasnlm.models.files import load_keras_file

        path = os.fspath(path)
        if os.path.isdir(path):
            if not os.path.exists(os.path.join(path, FINETUNE_MODEL)):
                raise ValueError(
                    f"{path} is neither a SavedModel folder nor a finetune output folder (no "
                    f"saved_model.pb, no {FINETUNE_MODEL})."
                )
            path = os.path.join(path, FINETUNE_MODEL)
        elif not os.path.exists(path):
            raise FileNotFoundError(f"No model at {path}.")
        elif not path.endswith(".keras"):
            raise ValueError(f"{path} is not a .keras model file.")
        return load_keras_file(path)

    def __call__(self, texts, batch_size=32):
        results = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            outputs = self.function(text=tf.constant(batch, tf.string))
            outputs = {name: value.numpy() for name, value in outputs.items()}
            results.extend(self.rows(batch, outputs, self.metadata))
        return results
