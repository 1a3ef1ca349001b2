"""Tokenizer throughput: kerasnlm's WordPieceTokenizer against keras-hub's and HuggingFace's.

All three get the same vocabulary (the bundled `vocab.txt`, uncased) and the same text: the
first `--lines` lines of the shared `english_text/train.txt` (the bundled sample if that is
absent). Prints sentences/s for each, in batches of `--batch`, the share of sentences whose
ids agree with ours (so the comparison is like for like), and the ratios.

- kerasnlm: `tf.function` (how tf.data, `predict` and a SavedModel run it) and eager calls.
- keras-hub `WordPieceTokenizer`: the same two ways (its eager call runs a Python path).
- HuggingFace `tokenizers` `BertWordPieceTokenizer.encode_batch` (Rust, uses every core).
- tensorflow-text `BertTokenizer`, the other exportable option, to show why we use FastWordpiece.

    python benchmarks/tokenizer_throughput.py [--lines 20000] [--batch 1000] [--repeats 3]
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_hub  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text as tf_text  # noqa: E402
import tokenizers  # noqa: E402
from common import cpu_description  # noqa: E402

import kerasnlm as knlm  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_TEXT = ROOT.parent / "shared" / "data" / "english_text" / "train.txt"




def sentences_per_second(tokenize, batches, repeats):
    """Best of `repeats` timed passes over `batches`, after one untimed warm-up batch."""
    tokenize(batches[0])
    count = sum(len(batch) for batch in batches)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            tokenize(batch)
        best = max(best, count / (time.perf_counter() - start))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    path = SHARED_TEXT if SHARED_TEXT.exists() else pathlib.Path(knlm.data.samples.english_text())
    lines = knlm.data.read_text(path)[: args.lines]
    vocabulary_file = knlm.data.samples.vocabulary()
    ours = knlm.tokenizers.WordPieceTokenizer(vocabulary_file)
    theirs = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary_file, lowercase=True, strip_accents=True, oov_token="[UNK]"
    )
    hf = tokenizers.BertWordPieceTokenizer(vocabulary_file, lowercase=True, strip_accents=True)
    # The tensorflow-text alternative we did not pick (same ops family, also exportable).
    bert = tf_text.BertTokenizer(vocabulary_file, lower_case=True, token_out_type=tf.int32)

    # Python lists for HuggingFace; string tensors for TensorFlow (a tf.function given a
    # Python list would retrace on every new list).
    lists = [lines[i : i + args.batch] for i in range(0, len(lines), args.batch)]
    tensors = [tf.constant(batch) for batch in lists]
    spec = [tf.TensorSpec([None], tf.string)]
    candidates = {
        "kerasnlm (tf.function)": (tf.function(lambda x: ours(x), input_signature=spec), tensors),
        "kerasnlm (eager)": (ours, tensors),
        "keras-hub (tf.function)": (
            tf.function(lambda x: theirs(x), input_signature=spec),
            tensors,
        ),
        "keras-hub (eager)": (theirs, lists),
        "tf-text BertTokenizer (tf.function)": (
            tf.function(lambda x: bert.tokenize(x).merge_dims(-2, -1), input_signature=spec),
            tensors,
        ),
        "HF tokenizers (Rust)": (lambda x: hf.encode_batch(x, add_special_tokens=False), lists),
    }
    print(f"CPU: {cpu_description()}")
    print(
        f"tensorflow {tf.__version__}, tensorflow-text {tf_text.__version__}, keras-hub "
        f"{keras_hub.__version__}, tokenizers {tokenizers.__version__}"
    )
    print(
        f"text: {len(lines)} lines of {path.name}, batches of {args.batch}; vocabulary "
        f"{ours.vocabulary_size} tokens"
    )

    reference = ours(lines).to_list()
    agreement = {
        "keras-hub": tf.function(theirs)(tf.constant(lines)).to_list(),
        "HF tokenizers": [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)],
        "tf-text BertTokenizer": bert.tokenize(lines).merge_dims(-2, -1).to_list(),
    }
    for name, ids in agreement.items():
        same = sum(a == b for a, b in zip(ids, reference)) / len(lines)
        print(f"ids identical to kerasnlm's: {name} {same:.2%} of sentences")

    rates = {}
    for name, (tokenize, batches) in candidates.items():
        rates[name] = sentences_per_second(tokenize, batches, args.repeats)
        print(f"{name:>36}: {rates[name]:10.0f} sentences/s")
    base = rates["kerasnlm (tf.function)"]
    for name, rate in rates.items():
        if not name.startswith("kerasnlm"):
            print(f"kerasnlm (tf.function) / {name}: {base / rate:.2f}x")


if __name__ == "__main__":
    main()
