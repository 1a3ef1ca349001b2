"""Which token embeddings SST-2 fine-tuning moves (an opt-in quality run, not CI).

Fine-tunes a pretrained backbone on all of SST-2 train (`../shared/data/sst2`, 1 epoch,
sequence 64, batch 32, mean pooling) with `compile()` defaults, then compares its token
embeddings before and after with `kerasnlm.analysis.embedding_drift`, counting tokens in the
training texts:

    python benchmarks/sst2_embedding_drift.py                       # all-MiniLM-L6-v2
    python benchmarks/sst2_embedding_drift.py --backbone runs/pretrain_clm/backbone.keras \\
        --vocabulary runs/pretrain_clm/vocab.txt                    # a kerasnlm pretraining run

Prints the CPU, dev accuracy, the 20 most-moved tokens seen at least `--min-count` times with
their nearest neighbours before and after, the drift by frequency band, and writes
`drift.png` and `drift.md` to `--output`.
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import cpu_description  # noqa: E402
from common import minilm_folder  # noqa: E402

import kerasnlm as knlm  # noqa: E402

SST2 = pathlib.Path(__file__).resolve().parents[2] / "shared/data/sst2"


def load(args):
    if args.backbone is None:
        folder = minilm_folder()
        return (knlm.models.TransformerBackbone.from_pretrained(folder),
                knlm.tokenizers.WordPieceTokenizer.from_pretrained(folder))
    if os.path.isdir(args.backbone):
        return (knlm.models.TransformerBackbone.from_pretrained(args.backbone),
                knlm.tokenizers.WordPieceTokenizer.from_pretrained(args.backbone))
    vocabulary = args.vocabulary or os.path.join(os.path.dirname(args.backbone), "vocab.txt")
    return keras.models.load_model(args.backbone), knlm.tokenizers.WordPieceTokenizer(vocabulary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", help="a .keras backbone or a BERT folder (default: MiniLM)")
    parser.add_argument("--vocabulary", help="vocab.txt of a .keras backbone")
    parser.add_argument("--max-train", type=int)
    parser.add_argument("--min-count", type=int, default=100)
    parser.add_argument("--output", default="runs/sst2_embedding_drift")
    args = parser.parse_args()
    print(cpu_description())
    keras.utils.set_random_seed(0)
    start, wall = os.times(), time.time()
    backbone, tokenizer = load(args)
    texts, labels = (c[: args.max_train] for c in knlm.data.read_tsv(SST2 / "train.tsv"))
    dev_texts, dev_labels = knlm.data.read_tsv(SST2 / "dev.tsv")
    before = knlm.analysis.embedding_matrix(backbone)
    classifier = knlm.models.SequenceClassifier(
        backbone, num_classes=2, pooling="mean", tokenizer=tokenizer
    )
    classifier.compile()
    classifier.fit(knlm.data.classification_dataset(
        texts, [int(y) for y in labels], tokenizer, sequence_length=64, batch_size=32,
        num_classes=2, seed=0,
    ), epochs=1, verbose=2)
    predicted = [int(p["label"]) for p in classifier.predict(dev_texts, batch_size=64)]
    accuracy = float(np.mean(np.array(predicted) == np.array(dev_labels, int)))
    report = knlm.analysis.embedding_drift(before, classifier, tokenizer, texts=texts)
    os.makedirs(args.output, exist_ok=True)
    table = report.to_markdown(20, args.min_count)
    report.plot(os.path.join(args.output, "drift.png"), n=20, min_count=args.min_count)
    bands = "\n".join(
        f"| {b['band']} | {b['tokens']} | {b['cosine_change']:.3g} | {b['l2_shift']:.3g} |"
        for b in report.by_frequency()
    )
    text = (f"SST-2 dev accuracy {100 * accuracy:.1f}\n\n{table}\n\n| count band | tokens | mean "
            f"cosine change | mean L2 shift |\n|---|---|---|---|\n{bands}\n")
    with open(os.path.join(args.output, "drift.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    end = os.times()
    cpu = (end.user + end.system - start.user - start.system) / 60
    print(f"{cpu:.1f} CPU-min, {(time.time() - wall) / 60:.1f} min wall")


if __name__ == "__main__":
    main()
