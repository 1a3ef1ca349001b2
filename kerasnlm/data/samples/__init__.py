"""The small real data samples bundled with kerasnlm, in this folder (see its `README.md`).

They let the quickstart, the notebooks and the tests run on a fresh machine with no download.

Example:
```python
import kerasnlm as knlm

texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("train"))
tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
```
"""

import os

from kerasnlm.utils.arguments import one_of

DIRECTORY = os.path.dirname(os.path.abspath(__file__))


def _path(relative, split, splits):
    one_of("split", split, splits)
    return os.path.join(DIRECTORY, relative.format(split=split))


def english_text(split="train"):
    """Plain English text, one sentence a line: 10,000 lines (`"train"`) or 1,000 (`"valid"`)."""
    return _path("english_text/{split}.txt", split, ("train", "valid"))


def sst2(split="train"):
    """SST-2 sentiment TSV with header `sentence<TAB>label` (0 negative, 1 positive):
    5,000 random train rows (`"train"`) or the whole GLUE dev set, 872 rows (`"dev"`)."""
    return _path("sst2/{split}.tsv", split, ("train", "dev"))


def wnut17(split="train"):
    """WNUT-17 named entities, CoNLL `token<TAB>tag`, BIO over 6 entity types:
    1,500 train sentences (`"train"`) or 500 dev sentences (`"dev"`)."""
    return _path("wnut17/{split}.conll", split, ("train", "dev"))


def spa_eng():
    """5,000 random English<TAB>Spanish sentence pairs (Tatoeba), shuffled."""
    return os.path.join(DIRECTORY, "spa_eng", "spa.txt")


def vocabulary():
    """A 3,886-token WordPiece vocabulary (uncased) learned by `WordPieceTokenizer.train` on
    the English text these samples come from."""
    return os.path.join(DIRECTORY, "vocab.txt")
