import os
import random

from kerasnlm.data import readers


def split_lines(path, output_dir, holdout=None, seed=0, header=False):
    """Splits a line-per-example file (TSV, parallel pairs, plain text) into `train.txt` plus
    held-out files, after a seeded shuffle; blank lines are dropped.

    Args:
        path: a UTF-8 file, one example a line.
        output_dir: where `train.txt` and one `<name>.txt` per held-out part are written.
        holdout: dict `{name: number_of_lines}`, e.g. `{"dev": 1000, "test": 1000}`.
        seed: the shuffle's seed; the same seed gives the same split.
        header: the first line is a header (a TSV's column names): kept out of the shuffle and
            written first in every part.

    Returns:
        dict `{name: path}` of the written files, `"train"` included.

    Example:
    ```python
    import kerasnlm as knlm

    files = knlm.data.split_lines(
        knlm.data.samples.spa_eng(), "spa_eng_split", holdout={"dev": 200, "test": 200})
    english, spanish = knlm.data.read_parallel(files["test"])  # 200 held-out pairs
    ```
    """
    holdout = dict(holdout or {})
    if "train" in holdout:
        raise ValueError("`holdout` names the held-out parts; 'train' is the rest.")
    if any(not isinstance(n, int) or n < 1 for n in holdout.values()):
        raise ValueError(f"`holdout` sizes must be positive ints; received {holdout}.")
    lines = [text for _, text in readers.lines(path) if text.strip()]
    first = [lines.pop(0)] if header and lines else []
    if sum(holdout.values()) >= len(lines):
        raise ValueError(
            f"{path} has {len(lines)} lines, not more than the {sum(holdout.values())} held out."
        )
    random.Random(seed).shuffle(lines)
    os.makedirs(output_dir, exist_ok=True)
    parts, start = {}, 0
    for name, size in [*holdout.items(), ("train", len(lines) - sum(holdout.values()))]:
        parts[name] = os.path.join(output_dir, f"{name}.txt")
        with open(parts[name], "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in first + lines[start : start + size])
        start += size
    return parts
