"""Every speed comparison in one process, side by side: writes a JSON and a markdown table.

    python benchmarks/run.py [--only training,generation] [--rounds 3] [--out benchmarks/results]

Comparisons (a table of functions below, each returning its rows):
- `training`: tokens/s of a training step, kerasnlm's `MaskedLanguageModel` vs keras-hub's
  `BertMaskedLM` and kerasnlm's `SequenceClassifier` vs keras-hub's `BertTextClassifier`, at the
  benchmark size (4 layers, hidden 256, 4 heads, intermediate 1024, sequence 128, batch 32,
  vocabulary 8,192, dropout 0.1, 20 masked positions), `compile()` defaults, in float32 and
  mixed_bfloat16; the fraction of the same run's matrix-product ceiling each reaches (BERT's
  FLOPs: the work the step stands for, whatever shortcut it takes).
- `predict`: sentences/s of all-MiniLM-L6-v2 sentence embeddings on raw text: kerasnlm's
  `SentenceEncoder.predict` with its defaults, keras-hub's `BertBackbone` from the same folder,
  and sentence-transformers when installed (`pip install -e ".[benchmarks]" torch==2.13.0`).
- `generation`: new tokens/s of greedy decoding (8 prompts of 16 tokens, 128 new tokens), a
  kerasnlm `CausalLanguageModel` with and without its key/value cache vs keras-hub's
  `GPT2CausalLM`, both at the benchmark size with random weights.
- `tokenizer`: sentences/s of kerasnlm's `WordPieceTokenizer` vs keras-hub's on the same
  vocabulary and text (in a `tf.function`), and the share of lines with identical ids.

Each subject is built and warmed up once; then the subjects of a comparison are timed in
turn, `--rounds` times (interleaved, so drift in the machine's load hits all of them), and the
median is reported. Beside each rate: the cores busy while it ran (process CPU seconds per
wall second) and its peak resident memory, measured apart: one child process per subject
builds it and runs it once (in a shared process, memory TensorFlow's allocator freed for one
subject is reused by the next); "above imports" subtracts the child's memory before building.
`--no-memory` skips the children.
"""

import argparse
import gc
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:  # before TensorFlow, as sentence-transformers users import it
    import sentence_transformers  # noqa: F401
except ImportError:
    pass
import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import cpu_description  # noqa: E402
from common import matmul_ceiling  # noqa: E402
from common import minilm_folder  # noqa: E402
from common import step_flops  # noqa: E402

import kerasnlm as knlm  # noqa: E402

VOCABULARY, LENGTH, BATCH, PREDICTIONS = 8192, 128, 32, 20
SIZE = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024, dropout=0.1)
ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_TEXT = ROOT.parent / "shared" / "data" / "english_text" / "valid.txt"


# --- Measuring ---


def resident_megabytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_resident_megabytes():
    """This process's peak resident memory (VmHWM; `ru_maxrss` would carry over the parent's
    peak across fork and exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


class Subject:
    """One thing being timed: its work function, its rates and the cores it kept busy."""

    def __init__(self, comparison, name, unit, work, amount, precision="float32", **extra):
        self.comparison, self.name, self.unit = comparison, name, unit
        self.work, self.amount, self.precision, self.extra = work, amount, precision, extra
        self.rates, self.cpu, self.wall = [], 0.0, 0.0

    def time_once(self):
        cpu, start = os.times(), time.perf_counter()
        self.work()
        wall, after = time.perf_counter() - start, os.times()
        self.rates.append(self.amount / wall)
        self.wall += wall
        self.cpu += (after.user - cpu.user) + (after.system - cpu.system)

    def row(self):
        return {
            "comparison": self.comparison,
            "subject": self.name,
            "precision": self.precision,
            "unit": self.unit,
            "median": statistics.median(self.rates),
            "rounds": [round(r, 1) for r in self.rates],
            "cores_busy": round(self.cpu / self.wall, 2),
            **self.extra,
        }


# With `--subject` (the child processes that measure memory) only that subject is built.
ONLY_SUBJECT = None


def build(comparison, name, unit, make, amount, precision="float32", warmups=1, **extra):
    """A `Subject` whose work is `make()`'s result, built under `precision` and warmed up;
    None when another subject was asked for."""
    if ONLY_SUBJECT is not None and name != ONLY_SUBJECT:
        return None
    gc.collect()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        work = make()
    finally:
        keras.config.set_dtype_policy("float32")
    subject = Subject(comparison, name, unit, work, amount, precision, **extra)
    for _ in range(warmups):
        work()
    return subject


def interleave(subjects, rounds):
    subjects = [subject for subject in subjects if subject is not None]
    for _ in range(rounds):
        for subject in subjects:
            subject.time_once()
    return [subject.row() for subject in subjects]


# --- Training ---


def masked_lm_batches(count=4, seed=0):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        ids = rng.integers(5, VOCABULARY, size=(BATCH, LENGTH), dtype="int32")
        positions = np.sort(
            np.stack([rng.choice(LENGTH, PREDICTIONS, replace=False) for _ in range(BATCH)]), 1
        ).astype("int32")
        x = {"token_ids": ids, "padding_mask": np.ones_like(ids), "mask_positions": positions}
        batches.append((x, np.take_along_axis(ids, positions, 1), np.ones((BATCH, PREDICTIONS))))
    return batches


def training_work(model, batches, steps, keras_hub_inputs=False):
    def work():
        for step in range(steps):
            x, y, w = batches[step % len(batches)]
            if keras_hub_inputs:
                x = {**x, "segment_ids": np.zeros_like(x["token_ids"])}
            loss = model.train_on_batch(x, y, sample_weight=w)
            loss = loss[0] if isinstance(loss, list) else loss
            if not np.isfinite(loss):
                raise FloatingPointError(f"{model.name}: loss {loss}")

    return work


def our_backbone():
    return knlm.models.TransformerBackbone(
        vocabulary_size=VOCABULARY, sequence_length=LENGTH, **SIZE
    )


def their_backbone():
    return keras_hub.models.BertBackbone(
        vocabulary_size=VOCABULARY, max_sequence_length=LENGTH, **SIZE
    )


def training(args, ceilings):
    steps, rows = args.steps, []
    mlm_batches = masked_lm_batches()
    labels = np.random.default_rng(1).integers(0, 2, (len(mlm_batches), BATCH))
    classifier_batches = [
        ({k: x[k] for k in ("token_ids", "padding_mask")}, y, np.ones(BATCH))
        for (x, _, _), y in zip(mlm_batches, labels)
    ]
    tokens = steps * BATCH * LENGTH

    def compiled(model):
        model.compile()
        return model

    for precision in args.precisions:
        # BERT's FLOPs, the work the step stands for, whatever shortcut it takes.
        size = dict(batch=BATCH, length=LENGTH, layers=SIZE["num_layers"],
                    hidden=SIZE["hidden_dim"], intermediate=SIZE["intermediate_dim"])
        flops = {"mlm": step_flops(**size, predictions=PREDICTIONS, vocabulary=VOCABULARY),
                 "classifier": step_flops(**size)}
        makers = {
            ("mlm", "kerasnlm MaskedLanguageModel"): lambda: training_work(
                compiled(knlm.models.MaskedLanguageModel(our_backbone())), mlm_batches, steps
            ),
            ("mlm", "keras-hub BertMaskedLM"): lambda: training_work(
                compiled(keras_hub.models.BertMaskedLM(their_backbone(), preprocessor=None)),
                mlm_batches, steps, keras_hub_inputs=True,
            ),
            ("classifier", "kerasnlm SequenceClassifier"): lambda: training_work(
                compiled(knlm.models.SequenceClassifier(our_backbone(), num_classes=2)),
                classifier_batches, steps,
            ),
            ("classifier", "keras-hub BertTextClassifier"): lambda: training_work(
                compiled(keras_hub.models.BertTextClassifier(
                    their_backbone(), num_classes=2, preprocessor=None
                )),
                classifier_batches, steps, keras_hub_inputs=True,
            ),
        }
        for task in ("mlm", "classifier"):
            subjects = [
                build(f"training {task}", name, "tokens/s", make, tokens, precision)
                for (kind, name), make in makers.items() if kind == task
            ]
            for row in interleave(subjects, args.rounds):
                achieved = row["median"] / (BATCH * LENGTH) * flops[task] / 1e9
                row["gflops"] = round(achieved, 1)
                row["of_matmul_ceiling"] = round(achieved / ceilings[precision], 3)
                rows.append(row)
            del subjects
    return rows


# --- Inference ---


def predict(args, ceilings):
    from sentence_encoding import keras_hub_encoder
    from sentence_encoding import sentence_transformers_encoder

    source = SHARED_TEXT if SHARED_TEXT.exists() else knlm.data.samples.english_text("valid")
    sentences = knlm.data.read_text(str(source))[: args.sentences]
    folder, batch = minilm_folder(), 32

    def on_sentences(make_encode):
        return lambda: (lambda encode: lambda: encode(sentences))(make_encode())

    def ours():
        encoder = knlm.models.SentenceEncoder.from_pretrained(folder)
        return lambda sentences: encoder.predict(sentences, batch_size=batch, verbose=0)

    makers = {
        "kerasnlm SentenceEncoder.predict (defaults)": on_sentences(ours),
        "keras-hub BertBackbone (padded to 128)": on_sentences(
            lambda: keras_hub_encoder(folder, batch, 128)
        ),
    }
    # Checked by import, not by loading the model a first time for nothing.
    if importlib.util.find_spec("sentence_transformers") is not None:
        import torch

        makers[f"sentence-transformers (torch {torch.__version__})"] = on_sentences(
            lambda: sentence_transformers_encoder(folder, batch)
        )
    subjects = [
        build("predict", name, "sentences/s", make, len(sentences))
        for name, make in makers.items()
    ]
    return interleave(subjects, args.rounds)


def generation(args, ceilings):
    prompts, new_tokens, batch = 16, args.new_tokens, 8
    total = prompts + new_tokens
    rng = np.random.default_rng(0)
    ids = rng.integers(5, VOCABULARY, (batch, prompts)).astype("int32")
    size = {k: v for k, v in SIZE.items() if k != "dropout"}

    def ours(use_cache):
        def make():
            backbone = knlm.models.TransformerBackbone(
                vocabulary_size=VOCABULARY, sequence_length=256, normalize_first=True, **size
            )
            model = knlm.models.CausalLanguageModel(backbone)
            return lambda: model.generate(
                ids, max_length=total, sampler="greedy", use_cache=use_cache, stop_at_end=False
            )

        return make

    def theirs():
        backbone = keras_hub.models.GPT2Backbone(
            vocabulary_size=VOCABULARY, max_sequence_length=256, **size
        )
        model = keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)
        model.compile(sampler="greedy")
        padded = np.zeros((batch, total), "int32")
        padded[:, :prompts] = ids
        inputs = {"token_ids": padded, "padding_mask": padded != 0}
        return lambda: model.generate(inputs, stop_token_ids=None)

    makers = {
        "kerasnlm CausalLanguageModel (cache)": ours(True),
        "kerasnlm CausalLanguageModel (no cache)": ours(False),
        "keras-hub GPT2CausalLM (cache)": theirs,
    }
    subjects = [
        build("generation", name, "new tokens/s", make, batch * new_tokens)
        for name, make in makers.items()
    ]
    return interleave(subjects, args.rounds)


# Passes over the lines in one timed round. One pass of 20,000 lines takes about 0.1 s: so
# short a window that one stall of the machine made a round 3x slower than the next.
TOKENIZER_PASSES = 5


def tokenizer(args, ceilings):
    source = ROOT.parent / "shared" / "data" / "english_text" / "train.txt"
    source = source if source.exists() else knlm.data.samples.english_text()
    lines = knlm.data.read_text(str(source))[: args.lines]
    vocabulary = knlm.data.samples.vocabulary()
    ours = knlm.tokenizers.WordPieceTokenizer(vocabulary)
    theirs = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, lowercase=True, strip_accents=True, oov_token="[UNK]"
    )
    spec = [tf.TensorSpec([None], tf.string)]
    batches = [tf.constant(lines[i : i + 1000]) for i in range(0, len(lines), 1000)]
    reference = ours(lines).to_list()
    rows = []
    for name, layer in [("kerasnlm WordPieceTokenizer", ours),
                        ("keras-hub WordPieceTokenizer", theirs)]:
        function = tf.function(lambda x, layer=layer: layer(x), input_signature=spec)
        same = np.mean([a == b for a, b in zip(function(tf.constant(lines)).to_list(), reference)])

        def make(function=function):
            return lambda: [function(batch) for _ in range(TOKENIZER_PASSES) for batch in batches]

        subject = build("tokenizer", name, "sentences/s", make, TOKENIZER_PASSES * len(lines),
                        same_ids_as_kerasnlm=round(float(same), 4))
        rows.append(subject)
    return interleave(rows, args.rounds)


COMPARISONS = {
    "training": training,
    "predict": predict,
    "generation": generation,
    "tokenizer": tokenizer,
}
# The `comparison` field of each one's rows -> its name above.
COMPARISON_OF = {
    "training mlm": "training", "training classifier": "training",
    "predict": "predict", "generation": "generation", "tokenizer": "tokenizer",
}


# --- Reporting ---


def memory(row):
    if "peak_memory_mb" not in row:
        return "-"
    return f"{row['peak_memory_mb']:,} MB ({row['above_imports_mb']:,} MB)"


def measure_memory(row, args):
    """Peak resident memory of a child process that builds `row`'s subject and runs it once."""
    command = [
        sys.executable, __file__, "--child", "--only", COMPARISON_OF[row["comparison"]],
        "--subject", row["subject"], "--precisions", row["precision"], "--rounds", "1",
        "--steps", str(args.steps), "--sentences", str(args.sentences),
        "--new-tokens", str(args.new_tokens), "--lines", str(args.lines),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    child = json.loads(result.stdout.strip().splitlines()[-1])
    row["peak_memory_mb"] = child["peak_memory_mb"]
    row["above_imports_mb"] = child["peak_memory_mb"] - child["imports_mb"]


def markdown(rows, header):
    lines = [header, "", "| comparison | subject | precision | rate (median) | vs first | "
             "cores busy | peak memory (above imports) | notes |",
             "|---|---|---|---|---|---|---|---|"]
    firsts = {}
    for row in rows:
        key = (row["comparison"], row["precision"])
        first = firsts.setdefault(key, row["median"])
        notes = ", ".join(
            f"{k} {v}" for k, v in row.items()
            if k in ("gflops", "of_matmul_ceiling", "same_ids_as_kerasnlm")
        )
        lines.append(
            f"| {row['comparison']} | {row['subject']} | {row['precision']} | "
            f"{row['median']:,.0f} {row['unit']} | {first / row['median']:.2f}x | "
            f"{row['cores_busy']} | {memory(row)} | {notes} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(COMPARISONS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="training steps per round")
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--no-memory", action="store_true", help="skip the memory children")
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.precisions = args.precisions.split(",")
    chosen = args.only.split(",")
    unknown = set(chosen) - set(COMPARISONS)
    if unknown:
        parser.error(f"unknown comparisons {sorted(unknown)}; choose from {list(COMPARISONS)}")

    if args.child:  # build and run one subject once; print this process's peak memory
        global ONLY_SUBJECT
        ONLY_SUBJECT = args.subject
        imports = resident_megabytes()
        rows = COMPARISONS[chosen[0]](args, {p: 1.0 for p in args.precisions})
        peak = peak_resident_megabytes()
        assert len(rows) == 1, f"no single subject named {args.subject!r}"
        print(json.dumps({"peak_memory_mb": round(peak), "imports_mb": round(imports)}))
        return

    machine = {
        "cpu": cpu_description(),
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "precision_auto": knlm.distribute.resolve_precision("auto"),
    }
    print(f"CPU: {machine['cpu']}", flush=True)
    ceilings = {"float32": matmul_ceiling("float32"),
                "mixed_bfloat16": matmul_ceiling("bfloat16")}
    machine["matmul_ceiling_gflops"] = {k: round(v, 1) for k, v in ceilings.items()}
    print(f"matrix-product ceiling (GFLOP/s): {machine['matmul_ceiling_gflops']}", flush=True)
    rows = []
    for name in chosen:
        start = time.perf_counter()
        new = COMPARISONS[name](args, ceilings)
        rows += new
        for row in new:
            print(json.dumps(row), flush=True)
        print(f"[{name}: {time.perf_counter() - start:.0f} s]", flush=True)
    if not args.no_memory:
        for row in rows:
            measure_memory(row, args)
            print(f"memory: {row['subject']} ({row['precision']}): {memory(row)}", flush=True)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    header = (f"CPU: {machine['cpu']}; TensorFlow {machine['tensorflow']}, Keras "
              f"{machine['keras']}, keras-hub {machine['keras_hub']}; matrix-product ceiling "
              f"{machine['matmul_ceiling_gflops']} GFLOP/s; 'auto' precision: "
              f"{machine['precision_auto']}. Medians of {args.rounds} interleaved rounds; "
              "'vs first' is the first row of the group's rate over this row's.")
    (out / "results.md").write_text(markdown(rows, header))
    print(markdown(rows, header))


if __name__ == "__main__":
    main()
