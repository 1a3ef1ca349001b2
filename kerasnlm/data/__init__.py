"""Readers for common file formats and tf.data pipelines for each training objective."""

from kerasnlm.data import samples
from kerasnlm.data.packing import split_words_with_offsets
from kerasnlm.data.pipelines import causal_lm_dataset
from kerasnlm.data.pipelines import classification_dataset
from kerasnlm.data.pipelines import masked_lm_dataset
from kerasnlm.data.pipelines import prediction_dataset
from kerasnlm.data.pipelines import seq2seq_dataset
from kerasnlm.data.pipelines import token_classification_dataset
from kerasnlm.data.pipelines import word_start_positions
from kerasnlm.data.readers import read_conll
from kerasnlm.data.readers import read_csv
from kerasnlm.data.readers import read_jsonl
from kerasnlm.data.readers import read_parallel
from kerasnlm.data.readers import read_text
from kerasnlm.data.readers import read_tsv
from kerasnlm.data.readers import text_dataset
from kerasnlm.data.splits import split_lines
