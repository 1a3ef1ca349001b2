"""`export_saved_model`: a task model as a SavedModel that takes raw strings.

Built on Keras' own `keras.export.ExportArchive`, which tracks the model's variables and
writes each endpoint as a named SignatureDef (the first also as `serving_default`): the
servable's functions (`kerasnlm.export.servables`) are its endpoints. The SavedModel needs
TensorFlow and tensorflow-text's ops to load (`import tensorflow_text` registers them), never
kerasnlm, keras-hub or Keras.

The write is atomic: everything goes to a hidden folder beside `path` that is renamed to
`path` only once complete, so an interrupted export (even a kill -9) never leaves a folder at
`path` that loads.
"""

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from kerasnlm.export.servables import servable as make_servable

METADATA_FILE = "kerasnlm.json"


def export_saved_model(
    model, tokenizer=None, path=None, labels=None, overwrite=False, max_length=None
):
    """Writes `model` as a SavedModel serving raw strings, and returns `path`.

    Signatures (every input a `tf.string [batch]` of texts; outputs dense and named):
    - `SequenceClassifier`: `serving_default(text)` and `classify_pairs(text, text_pair)` ->
      `probabilities`, `class_ids`, `labels` (the class names), `logits`.
    - `TokenClassifier`: `serving_default(text)` -> word `tags [b, words]` and `num_words`,
      entity `entity_types`, `entity_texts`, `entity_starts`, `entity_ends` (character
      offsets) `[b, entities]` and `num_entities`.
    - `CausalLanguageModel`: `generate(text)` -> `text`, greedy, at most `max_length` pieces.
    - `Seq2SeqTransformer`: `generate(text)` (greedy) and `generate_beam(text)` -> `text`.
    - `SentenceEncoder`, or a bare `TransformerBackbone` (as a mean-pooling encoder):
      `embed(text)` -> `embeddings [b, hidden]`.
    - every model: `tokenized(...)` on the model's own int32 id inputs, for callers that
      tokenize themselves.
    Texts longer than the model's sequence length are truncated, as `predict` does; empty
    strings are answered. `assets/kerasnlm.json` records the kerasnlm, TensorFlow and
    tensorflow-text versions, the task, its config, label names and every signature's inputs
    and outputs; `assets/vocab.txt` (and `target_vocab.txt`) the vocabularies.

    Args:
        model: a kerasnlm task model or backbone (not a `MaskedLanguageModel`).
        tokenizer: the `WordPieceTokenizer`; None for the one the model holds.
        path: the folder to write.
        labels: class (or tag) names in id order; None for the model's own (else "0", "1"...).
        overwrite: replace an existing `path` (else it is refused).
        max_length: generating models: the longest output, in pieces (default: the model's
            longest).

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
        num_heads=2, hidden_dim=32, intermediate_dim=64)
    classifier = knlm.models.SequenceClassifier(
        backbone, num_classes=2, tokenizer=tokenizer, labels=["negative", "positive"])
    knlm.export.export_saved_model(classifier, path="exported_classifier", overwrite=True)

    import tensorflow as tf, tensorflow_text  # all the served model needs
    served = tf.saved_model.load("exported_classifier")
    served.signatures["serving_default"](text=tf.constant(["a fine film"]))["labels"]
    ```
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "A SavedModel with in-graph tokenization needs the TensorFlow backend "
            f"(KERAS_BACKEND=tensorflow); this process runs {keras.backend.backend()!r}."
        )
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise TypeError(f"`path` must be a folder path; received {path!r}.")
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists: pass `overwrite=True` to replace it.")
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{path} is a file, not a SavedModel folder: not replaced.")
    served = make_servable(model, tokenizer, labels=labels, max_length=max_length)

    archive = keras.export.ExportArchive()
    archive.track(served.model)
    signatures = served.signatures()
    # The main signature first: ExportArchive serves the first endpoint as "serving_default".
    contract = {}
    for name in sorted(signatures, key=lambda n: n not in (served.main, "serving_default")):
        function, specs = signatures[name]
        endpoint = archive.add_endpoint(name, function, input_signature=specs)
        outputs = endpoint.get_concrete_function(*specs).structured_outputs
        contract[name] = {
            "inputs": {spec.name: _describe(spec) for spec in specs},
            "outputs": {key: _describe(value) for key, value in outputs.items()},
        }

    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.partial-", dir=parent)
    try:
        archive.write_out(partial, verbose=False)
        _write_assets(partial, served, contract)
        _replace(partial, path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return path


def _describe(tensor):
    return {"dtype": tensor.dtype.name, "shape": tensor.shape.as_list()}


def _write_assets(folder, served, contract):
    import tensorflow_text

    import kerasnlm

    assets = os.path.join(folder, "assets")
    os.makedirs(assets, exist_ok=True)
    served.tokenizer.save_vocabulary(os.path.join(assets, "vocab.txt"))
    target = getattr(served, "target_tokenizer", None)
    if target is not None and target is not served.tokenizer:
        target.save_vocabulary(os.path.join(assets, "target_vocab.txt"))
    config = served.model.get_config()
    for key in ("tokenizer", "target_tokenizer"):  # their vocabularies are files beside
        config.pop(key, None)
    metadata = {
        "kerasnlm_version": kerasnlm.__version__,
        "tensorflow_version": tf.__version__,
        "tensorflow_text_version": tensorflow_text.__version__,
        "task": type(served.model).__name__,
        "main_signature": served.main,
        "sequence_length": served.sequence_length,
        "vocabulary": "vocab.txt",
        **served.metadata(),
        "signatures": contract,
        "config": config,
    }
    with open(os.path.join(assets, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2, default=str)


def _replace(partial, path):
    """Renames the complete `partial` folder to `path` (one atomic rename when `path` is
    free; an existing `path` is first moved aside, then removed)."""
    if not os.path.exists(path):
        os.rename(partial, path)
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=os.path.dirname(path))
    os.rename(path, os.path.join(old, "saved_model"))
    os.rename(partial, path)
    shutil.rmtree(old, ignore_errors=True)
