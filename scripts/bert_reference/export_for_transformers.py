"""Writes a fine-tuned model's backbone as a Hugging Face BERT folder, with the outputs
transformers should reproduce from it (checked by `make_reference.py --check-saved`).

    python scripts/bert_reference/export_for_transformers.py runs/finetune_sst2_minilm/best.keras \\
        runs/minilm_sst2_hf
    HF_HUB_OFFLINE=1 /tmp/ref/bin/python scripts/bert_reference/make_reference.py \\
        --check-saved runs/minilm_sst2_hf runs/minilm_sst2_hf/expected.npz

The `.keras` file is any kerasnlm task model with a tokenizer (the output of `kerasnlm
finetune`); `save_pretrained` writes its backbone and tokenizer, and `expected.npz` holds the
reference sentences, their token ids and the backbone's last hidden states for them.
"""

import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasnlm  # noqa: E402, F401  (registers the classes load_model needs)

REFERENCE = pathlib.Path(__file__).resolve().parents[2] / "tests/models/data/minilm_reference.json"


def main(model_file, folder):
    model = keras.models.load_model(model_file)
    backbone, tokenizer = model.backbone, model.tokenizer
    backbone.save_pretrained(folder, tokenizer=tokenizer)
    sentences = json.loads(REFERENCE.read_text(encoding="utf-8"))["sentences"]
    arrays = {"sentences": np.array(sentences)}
    for i, pieces in enumerate(tokenizer(sentences).to_list()):
        ids = np.array([[tokenizer.cls_id] + pieces + [tokenizer.sep_id]], "int32")
        outputs = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids, bool)})
        arrays[f"token_ids_{i}"] = ids[0]
        arrays[f"hidden_{i}"] = keras.ops.convert_to_numpy(outputs["sequence_output"])[0]
    np.savez(os.path.join(folder, "expected.npz"), **arrays)
    print(f"wrote {folder} (BERT folder) and {folder}/expected.npz ({len(sentences)} sentences)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
