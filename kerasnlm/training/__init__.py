"""Training runs: pretraining and fine-tuning entry points, recipes (optimizer and
learning-rate schedule), resumable checkpoints."""

from kerasnlm.training.checkpoints import StepCheckpoint
from kerasnlm.training.checkpoints import restore_latest
from kerasnlm.training.checkpoints import save_checkpoint
from kerasnlm.training.finetune import FinetuneConfig
from kerasnlm.training.finetune import evaluate_file
from kerasnlm.training.finetune import finetune
from kerasnlm.training.optimizers import LayerwiseDecayAdamW
from kerasnlm.training.pretrain import PretrainConfig
from kerasnlm.training.pretrain import pretrain
from kerasnlm.training.pretrain import unigram_perplexity
from kerasnlm.training.recipes import RECIPES
from kerasnlm.training.recipes import Recipe
from kerasnlm.training.schedules import WarmupDecay
