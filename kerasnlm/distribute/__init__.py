"""Distributed training and mixed precision on TensorFlow's own engine (`tf.distribute`)."""

from kerasnlm.distribute.backup import BackupAndRestore
from kerasnlm.distribute.precision import resolve_precision
from kerasnlm.distribute.precision import set_precision
from kerasnlm.distribute.replicas import replica_id
from kerasnlm.distribute.replicas import sum_over_replicas
from kerasnlm.distribute.strategies import describe
from kerasnlm.distribute.strategies import get_strategy
from kerasnlm.distribute.strategies import is_chief
from kerasnlm.distribute.strategies import remove_worker_files
from kerasnlm.distribute.strategies import worker_path
