"""Analysis: what the embeddings learned and how fine-tuning moved them.

The functions that compute return numpy arrays and lists; the plots need matplotlib
(`pip install kerasnlm[plots]`).
"""

from kerasnlm.analysis.attention import attention_maps
from kerasnlm.analysis.attention import plot_attention
from kerasnlm.analysis.drift import DriftReport
from kerasnlm.analysis.drift import embedding_drift
from kerasnlm.analysis.embeddings import analogy
from kerasnlm.analysis.embeddings import embedding_matrix
from kerasnlm.analysis.embeddings import nearest_neighbors
from kerasnlm.analysis.embeddings import word_vector
from kerasnlm.analysis.projection import export_projector
from kerasnlm.analysis.projection import plot_projection
from kerasnlm.analysis.projection import project
from kerasnlm.analysis.sentences import semantic_search
from kerasnlm.analysis.sentences import sentence_embeddings
from kerasnlm.analysis.sentences import similarity
