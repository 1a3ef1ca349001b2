"""SST-2 baselines for the fine-tuned all-MiniLM-L6-v2 (an opt-in quality run, not CI).

The fine-tuned model itself comes from `kerasnlm finetune --config
configs/finetune_sst2_minilm.yaml`; this script runs what it is compared with, on the same
data (`../shared/data/sst2`, dev accuracy) and checkpoint, printing accuracy and CPU time:

    python benchmarks/sst2_minilm_baselines.py logistic   # logistic regression on frozen
                                                          # SentenceEncoder embeddings
    python benchmarks/sst2_minilm_baselines.py scratch    # the same classifier, random weights,
                                                          # the same recipe as the config
    python benchmarks/sst2_minilm_baselines.py keras_hub  # keras-hub's BertTextClassifier on
                                                          # the same folder: 10,000 examples,
                                                          # 1 epoch, sequence 64, its defaults

`--train-examples N` uses the first N training examples (all by default, 10,000 for
keras_hub as the issue's reference run did). scikit-learn is needed for `logistic` (seqeval
brings it in).
"""

import argparse
import math
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from common import cpu_description  # noqa: E402
from common import cpu_seconds  # noqa: E402
from common import minilm_folder  # noqa: E402

import kerasnlm as knlm  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared/data/sst2"




def logistic(folder, train, dev):
    from sklearn.linear_model import LogisticRegression

    encoder = knlm.models.SentenceEncoder.from_pretrained(folder)
    features = {name: encoder.predict(texts, batch_size=64) for name, (texts, _) in
                (("train", train), ("dev", dev))}
    model = LogisticRegression(C=1.0, max_iter=2000).fit(features["train"], train[1])
    return float(np.mean(model.predict(features["dev"]) == np.array(dev[1])))


def scratch(folder, train, dev):
    """The configured fine-tuning recipe on the same architecture with random weights."""
    recipe = yaml.safe_load((ROOT / "configs/finetune_sst2_minilm.yaml").read_text())
    tokenizer = knlm.tokenizers.WordPieceTokenizer.from_pretrained(folder)
    pretrained = knlm.models.TransformerBackbone.from_pretrained(folder)
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone.from_config(pretrained.get_config())
    classifier = knlm.models.SequenceClassifier(
        backbone, num_classes=2, pooling=recipe["pooling"], dropout=recipe["dropout"],
        tokenizer=tokenizer,
    )
    steps = math.ceil(len(train[0]) / recipe["batch_size"]) * recipe["epochs"]
    classifier.compile(learning_rate=knlm.training.WarmupDecay(
        recipe["learning_rate"], steps, int(recipe["warmup_ratio"] * steps)
    ))
    batches = lambda texts, labels, shuffle: knlm.data.classification_dataset(  # noqa: E731
        texts, labels, tokenizer, recipe["sequence_length"], recipe["batch_size"],
        num_classes=2, pad_to_multiple_of=16, shuffle=shuffle, seed=0,
    )
    classifier.fit(batches(*train, True), epochs=recipe["epochs"], verbose=2)
    return classifier.evaluate(batches(*dev, False), verbose=0, return_dict=True)["accuracy"]


def keras_hub_classifier(folder, train, dev):
    import keras_hub

    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
        folder, sequence_length=64
    )
    classifier = keras_hub.models.BertTextClassifier.from_preset(
        folder, num_classes=2, preprocessor=preprocessor
    )
    classifier.fit(x=train[0], y=np.array(train[1]), batch_size=32, epochs=1, verbose=2)
    return classifier.evaluate(x=dev[0], y=np.array(dev[1]), batch_size=32, verbose=0,
                               return_dict=True)["sparse_categorical_accuracy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", choices=("logistic", "scratch", "keras_hub"))
    parser.add_argument("--train-examples", type=int, default=None)
    args = parser.parse_args()
    limit = args.train_examples or (10_000 if args.run == "keras_hub" else None)
    train = knlm.data.read_tsv(str(SST2 / "train.tsv"))
    train = (train[0][:limit], [int(label) for label in train[1][:limit]])
    dev = knlm.data.read_tsv(str(SST2 / "dev.tsv"))
    dev = (dev[0], [int(label) for label in dev[1]])
    print(f"CPU: {cpu_description()}")
    print(f"{args.run}: {len(train[0])} training examples, {len(dev[0])} dev examples")
    start_cpu, start_wall = cpu_seconds(), time.perf_counter()
    run = {"logistic": logistic, "scratch": scratch, "keras_hub": keras_hub_classifier}[args.run]
    accuracy = run(minilm_folder(), train, dev)
    print(f"{args.run}: SST-2 dev accuracy {100 * accuracy:.1f}% in "
          f"{(cpu_seconds() - start_cpu) / 60:.1f} CPU-min "
          f"({(time.perf_counter() - start_wall) / 60:.1f} min wall)")


if __name__ == "__main__":
    main()
