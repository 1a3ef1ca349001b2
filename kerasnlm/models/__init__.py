"""Models: the Transformer backbone, pretraining models and task models built on it."""

from kerasnlm.models.backbone import TransformerBackbone
from kerasnlm.models.causal_language_model import CausalLanguageModel
from kerasnlm.models.electra_pretrainer import ElectraPretrainer
from kerasnlm.models.masked_language_model import MaskedLanguageModel
from kerasnlm.models.model import Model
from kerasnlm.models.sentence_encoder import SentenceEncoder
from kerasnlm.models.seq2seq_transformer import Seq2SeqTransformer
from kerasnlm.models.sequence_classifier import SequenceClassifier
from kerasnlm.models.task import Task
from kerasnlm.models.token_classifier import TokenClassifier

