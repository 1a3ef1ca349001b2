"""The choices the command line offers, as plain constants: building the parser (`--help`,
`--version`) must not import TensorFlow. tests/bad_input/test_quiet_start.py checks they equal
kerasnlm.distribute's PRECISIONS and KINDS and kerasnlm.training.TASKS."""

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
KINDS = ("auto", "tpu", "multi_worker", "mirrored", "one_device", "default")
TASK_NAMES = ("classification", "token_classification", "seq2seq")
