"""`compile()` defaults on the real all-MiniLM-L6-v2 (an opt-in quality run, not CI).

Fine-tunes the checkpoint through the Python API exactly as a new user would: load it,
build the task model, `compile()` with no arguments (the fine-tuning recipe that
`backbone.pretrained` selects), `fit`. `--learning-rate` compiles with a hand-set constant
rate instead (`5e-4` is the from-scratch default that used to apply to every backbone).

    python benchmarks/minilm_compile_defaults.py sst2                    # all of train, 1 epoch
    python benchmarks/minilm_compile_defaults.py sst2 --learning-rate 5e-4
    python benchmarks/minilm_compile_defaults.py wnut17 --epochs 3       # dev and test F1
    python benchmarks/minilm_compile_defaults.py wnut17 --epochs 3 --hand-set cosine

Prints the CPU, the recipe line `fit` prints, accuracy (SST-2 dev) or seqeval entity F1
(WNUT-17 dev and test), and the CPU time.
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import cpu_description  # noqa: E402
from common import cpu_seconds  # noqa: E402
from common import minilm_folder  # noqa: E402

import kerasnlm as knlm  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared/data"




def compile_model(model, args, batches):
    if args.hand_set:  # the recipe users set by hand before the defaults did it
        steps = args.epochs * int(batches.cardinality())
        model.compile(learning_rate=knlm.training.WarmupDecay(
            1e-4, steps, int(0.1 * steps), decay=args.hand_set
        ))
    elif args.learning_rate is None:
        model.compile()
    else:
        model.compile(learning_rate=args.learning_rate)


def sst2(folder, args):
    tokenizer = knlm.tokenizers.WordPieceTokenizer.from_pretrained(folder)
    train = knlm.data.read_tsv(DATA / "sst2/train.tsv")
    dev_texts, dev_labels = knlm.data.read_tsv(DATA / "sst2/dev.tsv")
    texts, labels = (column[: args.max_train] for column in train)
    classifier = knlm.models.SequenceClassifier(
        knlm.models.TransformerBackbone.from_pretrained(folder), num_classes=2,
        pooling="mean", tokenizer=tokenizer,
    )
    batches = knlm.data.classification_dataset(
        texts, [int(y) for y in labels], tokenizer, sequence_length=64, batch_size=32,
        num_classes=2, seed=0,
    )
    compile_model(classifier, args, batches)
    classifier.fit(batches, epochs=args.epochs, verbose=2)
    predicted = [int(p["label"]) for p in classifier.predict(dev_texts, batch_size=64)]
    return {"dev accuracy": float(np.mean(np.array(predicted) == np.array(dev_labels, int)))}


def wnut17(folder, args):
    tokenizer = knlm.tokenizers.WordPieceTokenizer.from_pretrained(folder)
    words, tags = knlm.data.read_conll(DATA / "wnut17/train.conll")
    words, tags = words[: args.max_train], tags[: args.max_train]
    names = sorted({t for sentence in tags for t in sentence})
    tagger = knlm.models.TokenClassifier(
        knlm.models.TransformerBackbone.from_pretrained(folder), num_classes=len(names),
        tokenizer=tokenizer, tags=names,
    )
    batches = knlm.data.token_classification_dataset(
        words, tags, tokenizer, names, sequence_length=96, batch_size=32, seed=0
    )
    compile_model(tagger, args, batches)
    splits = {s: knlm.data.read_conll(DATA / f"wnut17/{s}.conll") for s in ("dev", "test")}
    tagger.fit(batches, epochs=args.epochs, verbose=2,
               callbacks=[knlm.training.EntityF1(*splits["dev"])])
    return {f"{s} entity F1": tagger.evaluate_entities(*split)["f1"] for s, split in splits.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=("sst2", "wnut17"))
    parser.add_argument("--learning-rate", type=float, help="compile(learning_rate=...)")
    parser.add_argument("--hand-set", choices=("linear", "cosine"),
                        help="compile with WarmupDecay(1e-4, 10%% warm-up, this decay)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-train", type=int, help="the first N training examples")
    args = parser.parse_args()
    print(cpu_description())
    keras.utils.set_random_seed(0)
    start, wall = cpu_seconds(), time.time()
    results = {"sst2": sst2, "wnut17": wnut17}[args.task](minilm_folder(), args)
    if args.hand_set:
        recipe = f"hand-set 1e-4, 10% warm-up, {args.hand_set} decay"
    elif args.learning_rate is None:
        recipe = "compile() defaults"
    else:
        recipe = f"compile(learning_rate={args.learning_rate:g})"
    figures = ", ".join(f"{name} {100 * value:.1f}" for name, value in results.items())
    print(f"{args.task}, {recipe}, {args.epochs} epoch(s): {figures}; "
          f"{(cpu_seconds() - start) / 60:.1f} CPU-min, {(time.time() - wall) / 60:.1f} min wall")


if __name__ == "__main__":
    main()
