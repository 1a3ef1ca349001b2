"""The `kerasnlm` command line: pretrain, fine-tune, evaluate, export and serve Transformer
language models; `kerasnlm quickstart` runs the whole path on the bundled sample data."""

import argparse
import json
import logging
import os
import sys

import yaml

# Plain constants: building the parser (`--help`, `--version`) must not import TensorFlow.
from kerasnlm.cli.choices import KINDS
from kerasnlm.cli.choices import PRECISIONS
from kerasnlm.cli.choices import TASK_NAMES
from kerasnlm.utils.startup import import_tensorflow_quietly

# Mistakes a user makes (a path, a setting, a value): one line and exit code 2.
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, yaml.YAMLError)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (and exit code 2), like every other
    error of the command line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _settings(pairs):
    """The `--set KEY=VALUE` pairs, each value read as YAML (`--set steps=2000` is an int)."""
    overrides = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise ValueError(f"`--set` takes KEY=VALUE; received {pair!r}.")
        overrides[key] = yaml.safe_load(value)
    return overrides


def _overrides(args):
    chosen = {name: getattr(args, name) for name in ("strategy", "precision")
              if getattr(args, name, None) is not None}
    return {**_settings(args.set), **chosen}


def run_quickstart(args):
    from kerasnlm.cli.quickstart import quickstart

    quickstart(
        output_dir=args.output_dir, steps=args.steps, epochs=args.epochs,
        precision=args.precision or "float32", backbone=args.backbone, seed=args.seed,
    )


def run_pretrain(args):
    from kerasnlm.training import PretrainConfig
    from kerasnlm.training import pretrain

    pretrain(PretrainConfig.from_file(args.config, **_overrides(args)))


def run_finetune(args):
    from kerasnlm.training import FinetuneConfig
    from kerasnlm.training import finetune

    _, results = finetune(FinetuneConfig.from_file(args.config, **_overrides(args)))
    print(json.dumps({split: results[split] for split in ("dev", "test") if split in results},
                     indent=2))


def run_evaluate(args):
    from kerasnlm.export.serving import Predictor
    from kerasnlm.training import FinetuneConfig
    from kerasnlm.training import evaluate_file
    from kerasnlm.training.tasks import READING

    if not os.path.isfile(args.data):
        raise FileNotFoundError(f"`--data`: no file at {args.data}.")
    saved = {}  # how the run read its files: its column names, batch and lengths
    run = os.path.join(args.model, "results.json")
    if args.config:
        # Only the reading settings: the run's training files need not exist any more.
        saved = FinetuneConfig.read_settings(args.config)
    elif os.path.isdir(args.model) and os.path.isfile(run):
        with open(run) as f:
            saved = json.load(f)["config"]
    reading = {key: value for key, value in saved.items() if key in READING}
    model = Predictor.load_keras_model(args.model)
    scores = evaluate_file(model, args.data, **{**reading, **_settings(args.set)})
    print(json.dumps(scores, indent=2))


def run_export(args):
    from kerasnlm.export import export_saved_model
    from kerasnlm.export.serving import Predictor

    model = Predictor.load_keras_model(args.model)
    labels = args.labels.split(",") if args.labels else None
    print(export_saved_model(model, path=args.output, labels=labels, overwrite=args.overwrite,
                             max_length=args.max_length))


def run_predict(args):
    from kerasnlm.export.serving import Predictor

    texts = args.texts or [line.rstrip("\r\n") for line in sys.stdin]
    predictor = Predictor(args.model, signature=args.signature)
    for row in predictor(texts, batch_size=args.batch_size):
        print(json.dumps(row, ensure_ascii=False))


def run_drift(args):
    from kerasnlm.cli.drift import drift

    print(drift(args))


def run_split(args):
    from kerasnlm.data import split_lines

    holdout = {name: n for name, n in (("dev", args.dev), ("test", args.test)) if n}
    files = split_lines(args.path, args.output_dir, holdout, args.seed, header=args.header)
    for name, path in files.items():
        print(f"{name}: {path}")


def _distribution_options(command):
    command.add_argument(
        "--strategy", choices=KINDS,
        help="the tf.distribute strategy (default: the config's, else auto: TPU, TF_CONFIG "
        "workers, several GPUs, one GPU, CPU); same as --set strategy=...",
    )
    command.add_argument(
        "--precision", choices=PRECISIONS,
        help="float32, mixed_bfloat16, mixed_float16 or auto (default: the config's, else "
        "float32); same as --set precision=...",
    )


def _config_options(command, kind):
    command.add_argument("--config", required=True, help=f"a YAML or JSON {kind} file")
    command.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override one setting of the config file (repeatable), e.g. --set epochs=5",
    )


def _parser():
    from kerasnlm import __version__

    debug = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own default would otherwise undo `kerasnlm --debug COMMAND`.
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, show the traceback")
    parser = _Parser(prog="kerasnlm", description=__doc__, parents=[debug])
    parser.add_argument("--version", action="version", version=f"kerasnlm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    def command(name, run, help):
        sub = commands.add_parser(name, help=help, description=help, parents=[debug])
        sub.set_defaults(run=run)
        return sub

    quickstart = command(
        "quickstart", run_quickstart,
        "the whole path on the bundled samples in a few minutes: train a WordPiece vocabulary, "
        "pretrain a small backbone, fine-tune a sentiment classifier on it (and one from "
        "scratch), show the embeddings that moved, export a SavedModel and classify with it",
    )
    quickstart.add_argument("--output-dir", default="runs/quickstart",
                            help="where every artifact is written (default: %(default)s)")
    quickstart.add_argument("--steps", type=int, default=None,
                            help="pretraining steps (default: 600)")
    quickstart.add_argument("--epochs", type=int, default=None,
                            help="fine-tuning epochs of each classifier (default: 2)")
    quickstart.add_argument("--precision", choices=PRECISIONS,
                            help="float32 (default), mixed_bfloat16, mixed_float16 or auto")
    quickstart.add_argument(
        "--backbone", help="a local Hugging Face BERT folder to fine-tune instead of pretraining "
        "(its own vocabulary replaces the trained one)",
    )
    quickstart.add_argument("--seed", type=int, default=0)

    pretrain = command(
        "pretrain", run_pretrain,
        "pretrain a backbone (masked-LM or causal-LM); rerun the same command to resume",
    )
    _config_options(pretrain, "PretrainConfig")
    _distribution_options(pretrain)

    finetune = command(
        "finetune", run_finetune,
        "fine-tune a classifier, tagger or translator on TSV/CoNLL/parallel files (the "
        f"config's task: {', '.join(TASK_NAMES)}); keeps the best dev checkpoint and prints its "
        "dev (and test) scores",
    )
    _config_options(finetune, "FinetuneConfig")
    _distribution_options(finetune)

    evaluate = command(
        "evaluate", run_evaluate,
        "print a saved task model's scores (loss, accuracy; entity F1; BLEU) on a file",
    )
    evaluate.add_argument("--model", required=True,
                          help="a .keras task model, or a finetune output folder (its best.keras)")
    evaluate.add_argument("--data", required=True,
                          help="a file of the model's task: .tsv, CoNLL or source<TAB>target")
    evaluate.add_argument(
        "--config", help="the finetune config, for how to read the file (default: the "
        "folder's results.json, else text_column=sentence, label_column=label)",
    )
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="a reading setting, e.g. --set text_column=text (repeatable)")

    export = command(
        "export", run_export,
        "write a saved model as a SavedModel that serves raw strings without kerasnlm",
    )
    export.add_argument("--model", required=True,
                        help="a .keras model, or a finetune output folder (its best.keras)")
    export.add_argument("--output", required=True, help="the SavedModel folder to write")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    export.add_argument("--max-length", type=int,
                        help="generating models: the longest output, in pieces")
    export.add_argument("--labels",
                        help="comma-separated class or tag names, in id order "
                             "(default: the model's)")

    predict = command(
        "predict", run_predict,
        "answer texts with an export, a .keras model or a finetune output folder (JSON lines)",
    )
    predict.add_argument("--model", required=True,
                         help="a SavedModel folder, .keras file or finetune output folder")
    predict.add_argument("--signature", help="the signature to call (default: the main one)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("texts", nargs="*", help="the texts; none: one a line on standard input")

    drift = command(
        "drift", run_drift, "print which token embeddings moved most between two saved models"
    )
    drift.add_argument("--before", required=True,
                       help="a .keras backbone or model (e.g. a pretraining run's backbone.keras)")
    drift.add_argument("--after", required=True,
                       help="a .keras model or finetune output folder (its best.keras) of the "
                       "same vocabulary")
    drift.add_argument("--texts", help="count tokens in this file (.tsv: its text column; "
                       ".conll: its words; else one text a line) and rank tokens seen there")
    drift.add_argument("--text-column", default="sentence", help="the .tsv column of the texts")
    drift.add_argument("--vocabulary", help="vocab.txt, when neither model holds a tokenizer")
    drift.add_argument("--top", type=int, default=20, help="rows to print")
    drift.add_argument("--min-count", type=int, default=1, help="with --texts: fewest uses")
    drift.add_argument("--plot", help="also write the PNG plot here")

    split = command(
        "split", run_split, "shuffle a one-example-a-line file into train.txt and held-out parts"
    )
    split.add_argument("path")
    split.add_argument("--output-dir", required=True)
    split.add_argument("--dev", type=int, default=1000, help="lines held out as dev.txt")
    split.add_argument("--test", type=int, default=1000, help="lines held out as test.txt")
    split.add_argument("--seed", type=int, default=0)
    split.add_argument(
        "--header", action="store_true",
        help="the first line holds column names: kept first in every part, not shuffled in",
    )
    return parser


def _one_line(error):
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    lines = lines or [type(error).__name__]
    if lines[0] == "in user code:":  # a traced function's error: the cause is its last line
        lines = [lines[-1], *lines[:-1]]
    message = lines[0] if not isinstance(error, KeyError) else f"unknown key {lines[0]}"
    return message + (" (more with --debug)" if len(lines) > 1 else "")


def main(argv=None):
    args = _parser().parse_args(argv)
    logger = logging.getLogger("kerasnlm")  # the strategy and precision chosen, on stderr
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler())
        logger.setLevel(logging.INFO)
    try:
        import_tensorflow_quietly()  # a command runs: now TensorFlow loads, without its noise
        args.run(args)
    except KeyboardInterrupt:
        print(f"kerasnlm {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the command line reports, --debug re-raises
        if getattr(args, "debug", False):
            raise
        user_error = isinstance(error, USER_ERRORS)
        kind = "" if user_error else f"{type(error).__name__}: "
        print(f"kerasnlm {args.command}: error: {kind}{_one_line(error)}", file=sys.stderr)
        return 2 if user_error else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
