"""Where a training step's time goes: per-op CPU time from TensorFlow's profiler.

    python benchmarks/training_profile.py [kerasnlm|keras-hub] [--precision mixed_bfloat16]
        [--steps 5] [--top 15] [--ops MatMul,Mul]

Trains the masked-LM model of `benchmarks/run.py` (benchmark size, `compile()` defaults) for
two untimed steps, profiles `--steps` more, and prints the op types by total time per step
(summed over threads, so the total exceeds the step's wall time when ops overlap), and with
`--ops` the largest single ops of those types.
"""

import argparse
import collections
import glob
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import cpu_description  # noqa: E402
from run import masked_lm_batches  # noqa: E402
from run import our_backbone  # noqa: E402
from run import their_backbone  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

import kerasnlm as knlm  # noqa: E402


def build(library):
    if library == "kerasnlm":
        return knlm.models.MaskedLanguageModel(our_backbone()), False
    return keras_hub.models.BertMaskedLM(their_backbone(), preprocessor=None), True


def op_times(library, precision, steps):
    """{"name:Type": milliseconds per step} over `steps` profiled training steps."""
    keras.config.set_dtype_policy(precision)
    keras.utils.set_random_seed(0)
    model, segments = build(library)
    model.compile()
    batches = masked_lm_batches()
    if segments:
        batches = [({**x, "segment_ids": 0 * x["token_ids"]}, y, w) for x, y, w in batches]
    for x, y, w in batches[:2]:
        model.train_on_batch(x, y, sample_weight=w)
    logdir = tempfile.mkdtemp()
    tf.profiler.experimental.start(logdir)
    for step in range(steps):
        x, y, w = batches[step % len(batches)]
        model.train_on_batch(x, y, sample_weight=w)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb") as f:
        space.ParseFromString(f.read())
    times = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # Op events are "op_name:OpType"; the executor's own events hold them.
                if ":" in name and not name.startswith("ExecutorState"):
                    times[name] += event.duration_ps / 1e9 / steps
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", choices=["kerasnlm", "keras-hub"], nargs="?",
                        default="kerasnlm")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--ops", default="", help="op types whose largest ops to list")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    times = op_times(args.library, args.precision, args.steps)
    by_type = collections.Counter()
    for name, ms in times.items():
        by_type[name.rsplit(":", 1)[1]] += ms
    total = sum(by_type.values())
    print(f"{args.library} {args.precision}: {total:.0f} op-ms per step (summed over threads)")
    for kind, ms in by_type.most_common(args.top):
        print(f"  {kind:<40}{ms:9.1f} ms {100 * ms / total:6.1f}%")
    for kind in filter(None, args.ops.split(",")):
        print(f"largest {kind} ops:")
        rows = sorted(((ms, n) for n, ms in times.items() if n.endswith(":" + kind)), reverse=True)
        for ms, name in rows[: args.top]:
            print(f"  {ms:8.2f} ms  {name[:120]}")


if __name__ == "__main__":
    main()
