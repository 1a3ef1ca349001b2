"""kerasnlm: build, pretrain and fine-tune Transformer language models with Keras 3."""

from kerasnlm.utils.startup import import_tensorflow_quietly

import_tensorflow_quietly()  # before any submodule imports TensorFlow

from kerasnlm import analysis  # noqa: E402
from kerasnlm import data  # noqa: E402
from kerasnlm import distribute  # noqa: E402
from kerasnlm import export  # noqa: E402
from kerasnlm import layers  # noqa: E402
from kerasnlm import models  # noqa: E402
from kerasnlm import tokenizers  # noqa: E402
from kerasnlm import training  # noqa: E402

__version__ = "0.1.0"
