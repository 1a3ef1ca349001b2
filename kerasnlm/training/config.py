"""The config-file schema shared by the training entry points (`pretrain`, `finetune`)."""

import dataclasses
import json
import os


class FileConfig:
    """A dataclass mixin: `from_file` reads a YAML or JSON mapping of the dataclass's fields."""

    @classmethod
    def from_file(cls, path, **overrides):
        """Reads a YAML or JSON config file; `overrides` replace its values."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"No config file at {path}.")
        with open(path) as f:
            if path.endswith(".json"):
                values = json.load(f)
            else:
                import yaml

                values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a mapping of settings; it holds {type(values).__name__}.")
        unknown = set(values) | set(overrides)
        unknown -= {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"Unknown settings in {path}: {sorted(unknown)}.")
        return cls(**{**values, **overrides})
