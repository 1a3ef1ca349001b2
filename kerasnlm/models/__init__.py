"""Models: the Transformer backbone, pretraining models and task models built on it."""

from kerasnlm.models.backbone import TransformerBackbone
from kerasnlm.models.model import Model
