import pytest

import kerasnlm as knlm
from kerasnlm.cli.main import main


def test_split_is_a_seeded_partition_of_the_lines(tmp_path):
    source = knlm.data.samples.spa_eng()
    lines = [line for line in open(source, encoding="utf-8").read().splitlines() if line.strip()]
    files = knlm.data.split_lines(source, tmp_path / "a", holdout={"dev": 100, "test": 50}, seed=3)
    parts = {name: open(path, encoding="utf-8").read().splitlines() for name, path in files.items()}
    assert len(parts["dev"]) == 100 and len(parts["test"]) == 50
    assert sorted(parts["train"] + parts["dev"] + parts["test"]) == sorted(lines)
    assert parts["dev"] != lines[:100]  # shuffled
    again = knlm.data.split_lines(source, tmp_path / "b", holdout={"dev": 100, "test": 50}, seed=3)
    assert open(again["dev"], encoding="utf-8").read().splitlines() == parts["dev"]
    english, spanish = knlm.data.read_parallel(files["test"])
    assert len(english) == len(spanish) == 50
    with pytest.raises(ValueError, match="not more than the"):
        knlm.data.split_lines(source, tmp_path / "c", holdout={"dev": len(lines)})
    assert main(["split", source, "--output-dir", str(tmp_path / "d"), "--dev", "10",
                 "--test", "5"]) == 0
    assert len(open(tmp_path / "d" / "test.txt", encoding="utf-8").read().splitlines()) == 5


def test_a_tsv_header_heads_every_part(tmp_path):
    """An SST-2 style TSV: the header stays first in each part, readable by `read_tsv`."""
    source = knlm.data.samples.sst2("dev")
    header, *rows = [
        line for line in open(source, encoding="utf-8").read().splitlines() if line.strip()
    ]
    assert main(["split", source, "--output-dir", str(tmp_path), "--dev", "20", "--test", "0",
                 "--header"]) == 0
    train, dev = (open(tmp_path / f"{n}.txt", encoding="utf-8").read().splitlines()
                  for n in ("train", "dev"))
    assert train[0] == dev[0] == header and len(dev) == 21
    assert sorted(train[1:] + dev[1:]) == sorted(rows)
    texts, labels = knlm.data.read_tsv(tmp_path / "dev.txt")
    assert len(texts) == len(labels) == 20
