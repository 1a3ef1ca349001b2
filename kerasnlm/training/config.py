"""The config-file schema shared by the training entry points (`pretrain`, `finetune`)."""

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


class FileConfig:
    """A dataclass mixin: `from_file` reads a YAML or JSON mapping of the dataclass's fields."""

    @classmethod
    def from_file(cls, path, **overrides):
        """Reads a YAML or JSON config file; `overrides` replace its values."""
        return cls(**cls.read_settings(path, **overrides))

    @classmethod
    def read_settings(cls, path, **overrides):
        """The settings a config file gives (names checked, numbers read as numbers) as a
        dict, without building the config: `kerasnlm evaluate` takes a run's reading settings
        from it where the run's training files may no longer exist."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"No config file at {path}.")
        with open(path) as f:
            if path.endswith(".json"):
                values = json.load(f)
            else:
                import yaml

                values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            raise ValueError(
                f"{path} must hold a mapping of settings; it holds {type(values).__name__}."
            )
        types = {field.name: field.type for field in dataclasses.fields(cls)}
        for source, settings in ((path, values), ("the overrides", overrides)):
            unknown = sorted(set(settings) - set(types))
            if unknown:
                raise ValueError(f"Unknown settings in {source}: {unknown}.")
        settings = {**values, **overrides}
        for name, value in settings.items():
            # YAML reads `1e-4` (no dot) as a string; a float setting takes it as a number.
            if (
                types[name] is float
                and isinstance(value, (str, int))
                and not isinstance(value, bool)
            ):
                try:
                    settings[name] = float(value)
                except ValueError:
                    raise ValueError(f"`{name}` must be a number; received {value!r}.") from None
        return settings


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
    normalize_first: bool = False

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
            normalize_first=self.normalize_first,
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
        if self.strategy not in KINDS:
            raise ValueError(f"`strategy` must be one of {KINDS}; received {self.strategy!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"`precision` must be one of {PRECISIONS}; received {self.precision!r}."
            )
