"""kerasnlm: build, pretrain and fine-tune Transformer language models with Keras 3."""

from kerasnlm import analysis
from kerasnlm import data
from kerasnlm import distribute
from kerasnlm import export
from kerasnlm import layers
from kerasnlm import models
from kerasnlm import tokenizers
from kerasnlm import training

__version__ = "0.1.0"
