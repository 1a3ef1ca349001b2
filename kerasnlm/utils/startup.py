"""Importing TensorFlow without its C++ start-up lines.

TensorFlow writes a dozen log lines to the process's stderr while it loads (oneDNN notices,
"Could not find cuda drivers", cuInit errors on machines without a GPU). They come from C++
before Python logging exists, so `TF_CPP_MIN_LOG_LEVEL` alone does not stop all of them
(absl prints its pre-initialization messages regardless); kerasnlm imports TensorFlow once with
file descriptor 2 pointed at /dev/null. Python exceptions raised by the import still reach the
caller. `TF_CPP_MIN_LOG_LEVEL=0` keeps every line.
"""

import contextlib
import os
import sys


def is_command_line():
    """True in the `kerasnlm` command (or `python -m kerasnlm`), while this package loads."""
    if os.path.basename(sys.argv[0]) == "kerasnlm":
        return True
    arguments = getattr(sys, "orig_argv", [])
    return any(arguments[i : i + 2] in (["-m", "kerasnlm"], ["-m", "kerasnlm.cli.main"])
               for i in range(len(arguments)))


@contextlib.contextmanager
def _stderr_discarded():
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_tensorflow_quietly():
    """Imports tensorflow and keras (and lists the devices, which is when CUDA is probed)
    without the C++ start-up noise; does nothing if TensorFlow is already imported or the user
    asked for its logs with `TF_CPP_MIN_LOG_LEVEL=0`."""
    # The command line also hides TensorFlow's C++ error lines (oneDNN fallbacks, cuInit on a
    # CPU machine): real failures reach it as Python exceptions, reported in one line.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if is_command_line() else "2")
    if "tensorflow" in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        return
    try:
        os.fstat(2)
    except OSError:  # no stderr at all (some daemons): nothing to silence
        return
    with _stderr_discarded():
        import keras  # noqa: F401
        import tensorflow as tf

        # Listing devices probes CUDA (its cuInit error line) but does not initialize the
        # runtime, so logical devices can still be configured afterwards.
        tf.config.list_physical_devices()
