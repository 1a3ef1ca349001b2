"""Training runs: pretraining and fine-tuning entry points, the kinds of fine-tuning task,
recipes (optimizer and learning-rate schedule), resumable checkpoints, callbacks."""

from kerasnlm.training.callbacks import EntityF1
from kerasnlm.training.callbacks import NonFiniteLossError
from kerasnlm.training.callbacks import StopOnNonFiniteLoss
from kerasnlm.training.checkpoints import StepCheckpoint
from kerasnlm.training.checkpoints import restore_latest
from kerasnlm.training.checkpoints import save_checkpoint
from kerasnlm.training.finetune import FinetuneConfig
from kerasnlm.training.finetune import compile_with_recipe
from kerasnlm.training.finetune import evaluate_file
from kerasnlm.training.finetune import finetune
from kerasnlm.training.optimizers import LayerwiseDecayAdamW
from kerasnlm.training.pretrain import PretrainConfig
from kerasnlm.training.pretrain import pretrain
from kerasnlm.training.pretrain import unigram_perplexity
from kerasnlm.training.recipes import RECIPES
from kerasnlm.training.recipes import Recipe
from kerasnlm.training.schedules import WarmupDecay
from kerasnlm.training.tasks import TASKS
from kerasnlm.training.tasks import Encoders
from kerasnlm.training.tasks import FinetuningTask
from kerasnlm.training.tasks import ReadingSettings
from kerasnlm.training.tasks import register_task
