"""The `kerasnlm` command line."""

import argparse
import logging
import os
import sys

import yaml

from kerasnlm.distribute.precision import PRECISIONS
from kerasnlm.distribute.strategies import KINDS


def _parser():
    parser = argparse.ArgumentParser(prog="kerasnlm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    quickstart = commands.add_parser(
        "quickstart",
        help="train a tokenizer and a sentiment classifier on the bundled SST-2 sample",
    )
    quickstart.add_argument("--epochs", type=int, default=3)
    quickstart.add_argument("--output-dir", default="runs/quickstart")
    quickstart.add_argument("--seed", type=int, default=0)

    pretrain = commands.add_parser(
        "pretrain",
        help="pretrain a backbone (masked-LM or causal-LM); rerun the same command to resume",
    )
    pretrain.add_argument("--config", required=True, help="a YAML or JSON PretrainConfig file")
    pretrain.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override one setting of the config file (repeatable), e.g. --set steps=2000",
    )

    finetune = commands.add_parser(
        "finetune",
        help="fine-tune a classifier, tagger or translator on TSV/CoNLL/parallel files; keeps "
        "the best dev checkpoint",
    )
    finetune.add_argument("--config", required=True, help="a YAML or JSON FinetuneConfig file")
    finetune.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override one setting of the config file (repeatable), e.g. --set epochs=5",
    )

    for command in (pretrain, finetune):
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

    export = commands.add_parser(
        "export",
        help="write a saved model as a SavedModel that serves raw strings without kerasnlm",
    )
    export.add_argument(
        "--model", required=True,
        help="a .keras model, or a finetune output folder (its best.keras)",
    )
    export.add_argument("--output", required=True, help="the SavedModel folder to write")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    export.add_argument(
        "--max-length", type=int, help="generating models: the longest output, in pieces"
    )
    export.add_argument(
        "--labels", help="comma-separated class or tag names, in id order (default: the model's)"
    )

    predict = commands.add_parser(
        "predict",
        help="answer texts with an export, a .keras model or a finetune output folder (JSON lines)",
    )
    predict.add_argument("--model", required=True, help="a SavedModel folder, .keras file or "
                         "finetune output folder")
    predict.add_argument("--signature", help="the signature to call (default: the main one)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument(
        "texts", nargs="*", help="the texts; none: one a line on standard input"
    )

    drift = commands.add_parser(
        "drift", help="print which token embeddings moved most between two saved models",
    )
    drift.add_argument("--before", required=True, help="a .keras backbone or model (e.g. "
                       "a pretraining run's backbone.keras)")
    drift.add_argument("--after", required=True, help="a .keras model or finetune output "
                       "folder (its best.keras) of the same vocabulary")
    drift.add_argument("--texts", help="count tokens in this file (.tsv: its text column; "
                       ".conll: its words; else one text a line) and rank tokens seen there")
    drift.add_argument("--text-column", default="sentence", help="the .tsv column of the texts")
    drift.add_argument("--vocabulary", help="vocab.txt, when neither model holds a tokenizer")
    drift.add_argument("--top", type=int, default=20, help="rows to print")
    drift.add_argument("--min-count", type=int, default=1, help="with --texts: fewest uses")
    drift.add_argument("--plot", help="also write the PNG plot here")

    split = commands.add_parser(
        "split", help="shuffle a one-example-a-line file into train.txt and held-out parts"
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


def _overrides(args):
    overrides = {name: getattr(args, name) for name in ("strategy", "precision")
                 if getattr(args, name) is not None}
    return {**_settings(args.set), **overrides}


def _settings(pairs):
    overrides = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ValueError(f"`--set` takes KEY=VALUE; received {pair!r}.")
        overrides[key] = yaml.safe_load(value)
    return overrides


def main(argv=None):
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logger = logging.getLogger("kerasnlm")  # the strategy and precision chosen, on stderr
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler())
        logger.setLevel(logging.INFO)
    try:
        if args.command == "quickstart":
            from kerasnlm.cli.quickstart import quickstart

            quickstart(epochs=args.epochs, output_dir=args.output_dir, seed=args.seed)
        elif args.command == "pretrain":
            from kerasnlm.training import PretrainConfig
            from kerasnlm.training import pretrain

            pretrain(PretrainConfig.from_file(args.config, **_overrides(args)))
        elif args.command == "split":
            from kerasnlm.data import split_lines

            holdout = {name: n for name, n in (("dev", args.dev), ("test", args.test)) if n}
            files = split_lines(args.path, args.output_dir, holdout, args.seed, header=args.header)
            for name, path in files.items():
                print(f"{name}: {path}")
        elif args.command == "export":
            from kerasnlm.export import export_saved_model
            from kerasnlm.export.serving import Predictor

            model = Predictor.load_keras_model(args.model)
            labels = args.labels.split(",") if args.labels else None
            path = export_saved_model(
                model, path=args.output, labels=labels, overwrite=args.overwrite,
                max_length=args.max_length,
            )
            print(path)
        elif args.command == "predict":
            import json

            from kerasnlm.export.serving import Predictor

            texts = args.texts or [line.rstrip("\r\n") for line in sys.stdin]
            predictor = Predictor(args.model, signature=args.signature)
            for row in predictor(texts, batch_size=args.batch_size):
                print(json.dumps(row, ensure_ascii=False))
        elif args.command == "drift":
            from kerasnlm.cli.drift import drift

            print(drift(args))
        elif args.command == "finetune":
            import json

            from kerasnlm.training import FinetuneConfig
            from kerasnlm.training import finetune

            _, results = finetune(FinetuneConfig.from_file(args.config, **_overrides(args)))
            scores = {split: results[split] for split in ("dev", "test") if split in results}
            print(json.dumps(scores, indent=2))
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, yaml.YAMLError) as error:
        print(f"kerasnlm {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
