"""The config-file schema shared by the training entry points (`pretrain`, `finetune`)."""

import collections.abc
import dataclasses
import json
import os
import sys

from kerasnlm.distribute.precision import PRECISIONS
from kerasnlm.distribute.precision import resolve_precision
from kerasnlm.distribute.strategies import KINDS
from kerasnlm.distribute.strategies import get_strategy
from kerasnlm.models import TransformerBackbone


def fit_verbosity(verbose="auto"):
    """`fit`'s `verbose` for a run's setting: `"auto"` is a live progress bar (1) on a terminal
    or in Jupyter and one line an epoch (2) when the output goes to a file or a pipe, where a
    bar's redraws would pile up in the log."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() or "ipykernel" in sys.modules else 2


# `fit`'s `verbose`: the one setting of two types.
VERBOSITIES = ("auto", 0, 1, 2)


def _parse_error(path, error, kind):
    """A config file's syntax error as one line naming the file and the 1-based line."""
    if kind == "JSON":
        return ValueError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}).")
    mark = getattr(error, "problem_mark", None)
    where = f", line {mark.line + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or type(error).__name__
    return ValueError(f"{path}{where}: not valid YAML ({problem}).")


def _read_mapping(path):
    """The YAML or JSON value a config file holds; one clear error for a file that is not
    there, is a folder, is not UTF-8 or does not parse."""
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"The config file {path} is a directory; give a YAML or JSON file."
        )
    if not os.path.exists(path):
        raise FileNotFoundError(f"No config file at {path}.")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {line}: not valid UTF-8 (byte 0x{raw[error.start]:02x}). "
            "Re-encode the config file as UTF-8."
        ) from None
    if path.endswith(".json"):

        def mapping(pairs):
            names = [name for name, _ in pairs]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:  # json keeps the last value without a word
                raise ValueError(f"{path}: the setting {repeated[0]!r} is given twice.")
            return dict(pairs)

        try:
            return json.loads(text, object_pairs_hook=mapping)
        except json.JSONDecodeError as error:
            raise _parse_error(path, error, "JSON") from None
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader(path))
    except yaml.YAMLError as error:
        raise _parse_error(path, error, "YAML") from None


def _yaml_loader(path):
    """PyYAML's safe loader, refusing a key given twice (it keeps the last value silently)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, collections.abc.Hashable):
                    continue  # PyYAML refuses it below, with its line
                if key in seen:
                    raise ValueError(
                        f"{path}, line {key_node.start_mark.line + 1}: the setting {key!r} is "
                        "given twice."
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader


# Settings that default to a value but take None too: `pad_to_multiple_of: null` pads every
# batch to `sequence_length` (one shape, as TPUs want).
NULLABLE = {"pad_to_multiple_of"}

# What a field's type means in a config file, for the messages.
EXPECTED = {int: "an integer", float: "a number", str: "a str", bool: "true or false",
            list: "a path or a list of paths"}


def _checked(name, value, field, source):
    """`value` of the setting `name` if it has the field's type (a float setting also takes
    an int, and a str YAML did not read as a number); else a TypeError naming all four."""
    if name == "verbose":
        if value in VERBOSITIES and not isinstance(value, (bool, float)):
            return value
        expected = f"one of {VERBOSITIES}"
    elif value is None and (field.default is None or name in NULLABLE):
        return value  # an optional setting left out
    else:
        kind = field.type
        if kind not in EXPECTED:
            return value  # a type this schema does not check
        expected = EXPECTED[kind]
        if kind is bool and isinstance(value, bool):
            return value
        # Booleans are ints in Python, but `epochs: true` is a mistake, not 1.
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is float and isinstance(value, str):
            # YAML reads `1e-4` (no dot) as a string: a number all the same.
            try:
                return float(value)
            except ValueError:
                pass
        if kind is str and isinstance(value, str):
            return value
        if kind is list and (
            isinstance(value, str)
            or isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            return value
    raise TypeError(
        f"`{name}` in {source} must be {expected}; received {value!r} "
        f"({type(value).__name__})."
    )


def check_output_dir(path, name="output_dir"):
    """Refuses an output folder (the setting or option `name`) that is, or lies inside, an
    existing file (a new folder, or one of an earlier run, is fine): found before a run builds
    anything, not at its first save."""
    if path is None:
        return
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a folder path; received {path!r}.")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "is" if existing == os.path.abspath(path) else f"lies inside {existing}, which is"
        raise NotADirectoryError(
            f"`{name}` {path} {where} a file, not a folder; choose another `{name}`."
        )


class FileConfig:
    """A dataclass mixin: `from_file` reads a YAML or JSON mapping of the dataclass's fields."""

    @classmethod
    def from_file(cls, path, **overrides):
        """Reads a YAML or JSON config file; `overrides` replace its values."""
        settings = cls.read_settings(path, **overrides)
        missing = [
            field.name for field in dataclasses.fields(cls)
            if field.name not in settings
            and field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ValueError(f"{path} lacks the required settings {missing}.")
        return cls(**settings)

    @classmethod
    def read_settings(cls, path, **overrides):
        """The settings a config file gives (names and types checked, numbers read as numbers)
        as a dict, without building the config: `kerasnlm evaluate` takes a run's reading
        settings from it where the run's training files may no longer exist."""
        values = _read_mapping(path)
        if values is None:  # an empty file, or only comments
            values = {}
        if not isinstance(values, dict):
            raise ValueError(
                f"{path} must hold a mapping of settings; it holds {type(values).__name__}."
            )
        fields = {field.name: field for field in dataclasses.fields(cls)}
        checked = {}
        for source, settings in ((path, values), (f"the overrides of {path}", overrides)):
            unknown = sorted(set(settings) - set(fields), key=str)
            if unknown:
                raise ValueError(f"Unknown settings in {source}: {unknown}.")
            for name, value in settings.items():
                checked[name] = _checked(name, value, fields[name], source)
        return checked


@dataclasses.dataclass(kw_only=True)
class BackboneSettings:
    """The size and shape of a new backbone (the benchmark backbone by default: 4 layers,
    hidden 256, 4 heads, intermediate 1024, sequence 128, post-norm) and of its vocabulary."""

    vocabulary_size: int = 8000
    lowercase: bool = True
    sequence_length: int = 128
    num_layers: int = 4
    num_heads: int = 4
    hidden_dim: int = 256
    intermediate_dim: int = 1024
    dropout: float = 0.1
    position_encoding: str = "learned"
    # None, or "alibi": a fixed distance penalty on attention scores (see TransformerBackbone).
    position_bias: str = None
    normalize_first: bool = False
    # A LayerNorm on the summed embeddings (BERT's): the token vectors then enter the residual
    # stream at unit scale instead of the initializer's 0.02, which masked-LM pretraining needs
    # to get off the unigram plateau (see configs/pretrain_mlm.yaml).
    normalize_embeddings: bool = False

    def build_backbone(self, vocabulary_size, dtype=None):
        """A new `TransformerBackbone` of these settings over a vocabulary of that size."""
        return TransformerBackbone(
            vocabulary_size=vocabulary_size,
            sequence_length=self.sequence_length,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            hidden_dim=self.hidden_dim,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            position_encoding=self.position_encoding,
            position_bias=self.position_bias,
            normalize_first=self.normalize_first,
            normalize_embeddings=self.normalize_embeddings,
            dtype=dtype,
        )


@dataclasses.dataclass(kw_only=True)
class RunSettings:
    """Where and how a run computes: the `tf.distribute` strategy (`kerasnlm.distribute.
    get_strategy` kinds) and the precision (`"float32"`, `"mixed_bfloat16"`,
    `"mixed_float16"` or `"auto"`). `batch_size` is the global batch, split across replicas."""

    strategy: str = "auto"
    precision: str = "float32"

    def distribution(self):
        """`(strategy, precision)` for this run: call first, before TensorFlow runs anything (a
        multi-worker strategy cannot be set up later)."""
        strategy = get_strategy(self.strategy)
        return strategy, resolve_precision(self.precision, strategy)

    def __post_init__(self):
        check_output_dir(getattr(self, "output_dir", None))
        if self.strategy not in KINDS:
            raise ValueError(f"`strategy` must be one of {KINDS}; received {self.strategy!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"`precision` must be one of {PRECISIONS}; received {self.precision!r}."
            )
