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
        elif args.command == "finetune":
            import json

            from kerasnlm.training import FinetuneConfig
            from kerasnlm.training import finetune

            _, results = finetune(FinetuneConfig.from_file(args.config, **_overrides(args)))
            scores = {split: results[split] for split in ("dev", "test") if split in results}
            print(json.dumps(scores, indent=2))
    except (ValueError, TypeError, FileNotFoundError, yaml.YAMLError) as error:
        print(f"kerasnlm {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
