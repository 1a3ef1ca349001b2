"""kerasnlm: build, pretrain and fine-tune Transformer language models with Keras 3."""

import importlib

from kerasnlm.utils.startup import import_tensorflow_quietly
from kerasnlm.utils.startup import is_command_line

__version__ = "0.1.0"

_SUBPACKAGES = ("analysis", "data", "distribute", "export", "layers", "models", "tokenizers",
                "training")


def __getattr__(name):
    """`knlm.models` and the rest on first use, when the package was loaded lazily."""
    if name in _SUBPACKAGES:
        import_tensorflow_quietly()
        return importlib.import_module(f"kerasnlm.{name}")
    raise AttributeError(f"module 'kerasnlm' has no attribute {name!r}")


# The command line loads TensorFlow only once a command runs (`kerasnlm --help` stays fast and
# quiet, kerasnlm/cli/main.py); a program importing kerasnlm gets every subpackage now.
if not is_command_line():
    import_tensorflow_quietly()  # before any submodule imports TensorFlow
    for _name in _SUBPACKAGES:
        importlib.import_module(f"kerasnlm.{_name}")
    del _name
