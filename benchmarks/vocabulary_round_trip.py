"""Does a trained vocabulary lose text? Unseen review-like lines with HTML tags, round-tripped.

Learns a WordPiece vocabulary of `--size` tokens on `--corpus` twice, in the same run:
- `WordPieceTokenizer.train` (kerasnlm);
- keras-hub's `compute_word_piece_vocabulary` on the same normalized words (what `train` used
  before: tensorflow-text's learner with its own size search).
Then tokenizes and detokenizes `--lines` lines the corpus never saw, built like IMDB reviews:
three sentences joined by `<br /><br />`, some with an `<i>title</i>` or a `(7/10)` rating,
once from SST-2 dev (movie reviews) and once from WNUT-17 test (tweets, with emoji); neither is
in `english_text`. A line survives when it comes back equal to its normalized form (the
tokenizer's words joined by spaces). Prints size, time, survivors and lines holding an `[UNK]`
for each vocabulary and set of lines.

    python benchmarks/vocabulary_round_trip.py [--size 4000] [--lines 300]
"""

import argparse
import os
import pathlib
import random
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from common import cpu_description  # noqa: E402
from keras_hub.tokenizers import compute_word_piece_vocabulary  # noqa: E402

import kerasnlm as knlm  # noqa: E402
from kerasnlm.tokenizers.word_piece_tokenizer import SPECIAL_TOKENS  # noqa: E402
from kerasnlm.tokenizers.word_piece_tokenizer import split_words  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def unseen_sentences():
    """{name: sentences} of SST-2 dev and WNUT-17 test: neither is in `english_text`."""
    texts, _ = knlm.data.read_tsv(SHARED / "sst2" / "dev.tsv")
    words, _ = knlm.data.read_conll(SHARED / "wnut17" / "test.conll")
    return {
        "movie reviews (SST-2 dev)": list(texts),
        "tweets (WNUT-17 test)": [" ".join(sentence) for sentence in words],
    }


def review_lines(sentences, count, seed=0):
    """`count` IMDB-like lines: three sentences, capitalized, joined by HTML line breaks."""
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        parts = [s[:1].upper() + s[1:] for s in rng.sample(sentences, 3)]
        if i % 3 == 0:
            parts[0] = f"<i>{rng.choice(sentences).split()[0].title()}</i> - {parts[0]}"
        if i % 4 == 0:
            parts[-1] += f" ({rng.randint(1, 10)}/10)"
        lines.append("<br /><br />".join(parts))
    return lines


def keras_hub_vocabulary(corpus, size):
    """The learner as keras-hub calls it, on the words `train` learns from."""
    lines = knlm.data.text_dataset(str(corpus))
    words = lines.batch(1024).map(
        lambda batch: tf.strings.reduce_join(split_words(batch), axis=-1, separator=" ")
    )
    vocabulary = compute_word_piece_vocabulary(
        words, size, lowercase=False, strip_accents=False, reserved_tokens=list(SPECIAL_TOKENS)
    )
    return knlm.tokenizers.WordPieceTokenizer(vocabulary)


def survivors(tokenizer, lines):
    """(lines that come back equal to their normalized form, lines with an `[UNK]`)."""
    normalized = tf.strings.reduce_join(tokenizer.split_words(lines), axis=-1, separator=" ")
    ids = tokenizer(lines)
    back = tokenizer.detokenize(ids)
    equal = int(tf.reduce_sum(tf.cast(back == normalized, tf.int32)))
    unknown = int(tf.reduce_sum(tf.cast(tf.reduce_any(ids == tokenizer.unk_id, axis=1), tf.int32)))
    return equal, unknown


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(SHARED / "english_text" / "train.txt"))
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--lines", type=int, default=300)
    args = parser.parse_args()
    print(cpu_description())
    line_sets = {
        name: review_lines(sentences, args.lines) for name, sentences in unseen_sentences().items()
    }
    print(f"corpus {args.corpus}, {args.size} tokens asked; {args.lines} unseen lines a set, e.g.")
    for lines in line_sets.values():
        print(f"  {lines[0][:150]}")
    print("| vocabulary | tokens | learn time | unseen lines | lines back equal | with [UNK] |")
    print("|---|---|---|---|---|---|")
    for name, learn in (
        ("kerasnlm `WordPieceTokenizer.train`", lambda: knlm.tokenizers.WordPieceTokenizer.train(
            args.corpus, vocabulary_size=args.size)),
        ("keras-hub `compute_word_piece_vocabulary`", lambda: keras_hub_vocabulary(
            args.corpus, args.size)),
    ):
        start = time.perf_counter()
        tokenizer = learn()
        seconds = time.perf_counter() - start
        for lines_name, lines in line_sets.items():
            equal, unknown = survivors(tokenizer, lines)
            print(
                f"| {name} | {tokenizer.vocabulary_size:,} "
                f"({tokenizer.vocabulary_size / args.size:.1%} of asked) | {seconds:.0f} s "
                f"| {lines_name} | {equal} of {len(lines)} ({equal / len(lines):.1%}) "
                f"| {unknown} |"
            )


if __name__ == "__main__":
    main()
