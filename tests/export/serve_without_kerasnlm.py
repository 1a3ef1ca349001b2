"""Loads SavedModels as a server would, with kerasnlm and keras-hub impossible to import, and
writes what every signature answers (run by tests/export/test_saved_model.py in a fresh
process): `python serve_without_kerasnlm.py requests.json answers.json`.

`requests.json`: `[{"path": ..., "signature": ..., "inputs": {name: [str, ...]}}, ...]`;
each request is answered for the whole batch and for each row alone.
"""

import importlib.abc
import json
import sys


class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("kerasnlm", "keras_hub"):
            raise ImportError(f"{name} must not be needed to serve an export")
        return None


sys.meta_path.insert(0, Blocked())

import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402, F401  (registers the tokenizer's ops)


def plain(value):
    value = value.numpy()
    if value.dtype == object:
        return [plain_strings(row) for row in value] if value.ndim > 1 else plain_strings(value)
    return value.tolist()


def plain_strings(row):
    return [s.decode("utf-8") for s in row]


def main(requests_file, answers_file):
    with open(requests_file, encoding="utf-8") as f:
        requests = json.load(f)
    loaded, answers = {}, []
    for request in requests:
        if request["path"] not in loaded:
            loaded[request["path"]] = tf.saved_model.load(request["path"])
        function = loaded[request["path"]].signatures[request["signature"]]
        inputs = request["inputs"]
        count = len(next(iter(inputs.values())))
        batch = {k: plain(v) for k, v in function(**{
            name: tf.constant(values, tf.string) for name, values in inputs.items()
        }).items()}
        alone = [
            {k: plain(v) for k, v in function(**{
                name: tf.constant(values[i : i + 1], tf.string) for name, values in inputs.items()
            }).items()}
            for i in range(count)
        ]
        answers.append({"batch": batch, "alone": alone})
    assert "kerasnlm" not in sys.modules and "keras_hub" not in sys.modules
    with open(answers_file, "w", encoding="utf-8") as f:
        json.dump(answers, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
