"""MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1: the code path of
several machines, with TF_CONFIG set per process as a cluster manager would."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

WORKER = """
import os
import sys

import kerasnlm as knlm

strategy = knlm.distribute.get_strategy()  # first, before TensorFlow runs anything
import keras; keras.config.disable_traceback_filtering()
import numpy as np
import tensorflow as tf

assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), type(strategy)
assert strategy.num_replicas_in_sync == 2
output, weights_file = sys.argv[1], sys.argv[2]
samples = knlm.data.samples
tiny = dict(sequence_length=32, num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64,
            vocabulary=samples.vocabulary(), verbose=0)
pretrained = knlm.training.pretrain(knlm.training.PretrainConfig(
    corpus=[samples.english_text()], output_dir=os.path.join(output, "pretrain"),
    objective="causal_lm", batch_size=8, steps=4, checkpoint_every=2, warmup_steps=1, **tiny))
model, results = knlm.training.finetune(knlm.training.FinetuneConfig(
    task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
    output_dir=os.path.join(output, "finetune"), epochs=2, max_train_examples=64, batch_size=16,
    **tiny))
np.savez(weights_file, *[w.numpy() for w in pretrained.weights + model.weights])
print("WORKER", knlm.distribute.describe(strategy), "private files:",
      knlm.distribute.worker_path(os.sep) if not knlm.distribute.is_chief() else None)
"""


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_alike_and_only_the_chief_writes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        env = {
            **os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        # Each worker its own output folder, as on machines with local disks: the non-chief's
        # must stay empty.
        command = [sys.executable, str(script), str(tmp_path / f"out{index}"),
                   str(tmp_path / f"weights{index}.npz")]
        log = open(tmp_path / f"worker{index}.log", "w")
        workers.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=tmp_path), log))
    try:
        for process, _ in workers:
            process.wait(timeout=900)
    finally:
        for process, log in workers:  # reaped, whatever happened
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    for (process, _), log in zip(workers, logs):
        assert process.returncode == 0, log[-6000:]

    chief, other = (np.load(tmp_path / f"weights{i}.npz") for i in range(2))
    assert len(chief.files) == len(other.files) > 10
    for name in chief.files:
        np.testing.assert_array_equal(chief[name], other[name])

    assert sorted(os.listdir(tmp_path / "out0" / "finetune")) == [
        "best.keras", "history.csv", "results.json", "vocab.txt"]
    assert {"backbone.keras", "model.keras", "checkpoints", "vocab.txt"} <= set(
        os.listdir(tmp_path / "out0" / "pretrain"))
    assert not (tmp_path / "out1").exists(), os.listdir(tmp_path / "out1")
    private = logs[1].split("private files:")[1].split()[0]
    assert private.startswith("/") and not os.path.exists(private)  # cleaned up
    assert "(chief)" in logs[0] and "(chief)" not in logs[1]
