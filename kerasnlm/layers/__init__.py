"""Keras layers that Transformer models are built from (keras.ops inside; serializable)."""

from kerasnlm.layers.cross_attention import CrossAttention
from kerasnlm.layers.dropout import Dropout
from kerasnlm.layers.fused_dense import FusedDense
from kerasnlm.layers.language_model_head import LanguageModelHead
from kerasnlm.layers.multi_head_attention import MultiHeadAttention
from kerasnlm.layers.replaced_token_sampler import ReplacedTokenSampler
from kerasnlm.layers.token_and_position_embedding import TokenAndPositionEmbedding
from kerasnlm.layers.transformer_decoder import TransformerDecoder
from kerasnlm.layers.transformer_encoder import TransformerEncoder
