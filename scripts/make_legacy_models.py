"""Writes small `.keras` files and their outputs with the code as it is now.

`tests/models/test_legacy_files.py` loads them with later code and checks the outputs are
unchanged: a refactor that renames a registered class, a layer or a weight breaks users'
saved models, and this is where it shows. Rerun only to add a model kind, with the code of
the commit named in the files' `manifest.json`.

    python scripts/make_legacy_models.py tests/models/data/legacy
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np

import kerasnlm as knlm


def backbones():
    keras.utils.set_random_seed(0)
    small = dict(vocabulary_size=50, sequence_length=16, num_layers=2, num_heads=2,
                 hidden_dim=16, intermediate_dim=32)
    return {
        "bert_like": knlm.models.TransformerBackbone(
            **small, num_segments=2, normalize_embeddings=True, use_pooler=True),
        "pre_norm": knlm.models.TransformerBackbone(
            **small, normalize_first=True, position_encoding="sinusoidal"),
    }


def models():
    parts = backbones()
    bert_like, pre_norm = parts["bert_like"], parts["pre_norm"]
    return {
        "backbone": bert_like,
        "masked_language_model": knlm.models.MaskedLanguageModel(bert_like),
        "causal_language_model": knlm.models.CausalLanguageModel(pre_norm),
        "sequence_classifier": knlm.models.SequenceClassifier(bert_like, num_classes=3),
        "token_classifier": knlm.models.TokenClassifier(bert_like, num_classes=4),
        "sentence_encoder": knlm.models.SentenceEncoder(bert_like),
        "seq2seq_transformer": knlm.models.Seq2SeqTransformer(
            pre_norm, num_decoder_layers=1, target_vocabulary_size=40,
            target_sequence_length=12),
    }


def example_inputs(model):
    rng = np.random.default_rng(1)
    data = {}
    for name, tensor in model.input.items():
        length = 6 if "target" in name or name.startswith("decoder") else 8
        if name == "mask_positions":
            data[name] = np.array([[1, 3], [2, 5]], "int32")
        elif "mask" in name:
            data[name] = np.array([[1] * length, [1] * (length - 2) + [0, 0]], "int32")
        elif "segment" in name:
            data[name] = np.array([[0] * 4 + [1] * (length - 4)] * 2, "int32")
        else:
            data[name] = rng.integers(1, 40, size=(2, length)).astype("int32")
    return data


def main(folder):
    os.makedirs(folder, exist_ok=True)
    outputs, inputs = {}, {}
    for name, model in models().items():
        data = example_inputs(model)
        result = model(data)
        result = result if isinstance(result, dict) else {"output": result}
        for key, value in data.items():
            inputs[f"{name}/{key}"] = value
        for key, value in result.items():
            outputs[f"{name}/{key}"] = keras.ops.convert_to_numpy(value)
        model.save(os.path.join(folder, f"{name}.keras"))
    np.savez(os.path.join(folder, "inputs.npz"), **inputs)
    np.savez(os.path.join(folder, "outputs.npz"), **outputs)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump({"commit": commit.strip(), "keras": keras.__version__,
                   "outputs": sorted(outputs)}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
