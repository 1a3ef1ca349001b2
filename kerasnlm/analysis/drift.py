"""How fine-tuning moved the token embeddings: `embedding_drift` and its `DriftReport`."""

import collections

import numpy as np
from keras import ops

from kerasnlm.analysis.embeddings import embedding_matrix
from kerasnlm.analysis.embeddings import special_mask
from kerasnlm.analysis.embeddings import unit_rows

COLUMNS = ("token", "cosine_change", "l2_shift", "count", "neighbors_changed")


class DriftReport:
    """Per-token change between two embedding matrices of one vocabulary.

    Attributes (numpy arrays, one entry per token id):
        tokens: the vocabulary.
        cosine_change: `1 - cos(before, after)`, 0 for a token that did not move.
        l2_shift: `|after - before|`.
        counts: occurrences of each token in `texts` (None without texts).
    Rows (`most_moved`, `least_moved`) are dicts with `COLUMNS`, `neighbors_changed` being
    the fraction of the token's `k` nearest neighbours (cosine) that differ before and after,
    plus `neighbors_before` and `neighbors_after`.
    """

    def __init__(self, before, after, tokens, counts=None, k=10):
        self.before, self.after = before, after
        self.tokens = np.array(tokens, dtype=object)
        cosine = np.sum(unit_rows(before) * unit_rows(after), axis=1)
        self.cosine_change = np.clip(1.0 - cosine, 0.0, 2.0)
        self.cosine_change[np.all(before == after, axis=1)] = 0.0  # exactly, not to rounding
        self.l2_shift = np.linalg.norm(after - before, axis=1)
        self.counts = counts
        self.k = k
        self.special = special_mask(self.tokens)

    def _candidates(self, min_count):
        keep = ~self.special
        if self.counts is not None:
            keep &= self.counts >= max(min_count, 1)
        return np.flatnonzero(keep)

    def _neighbors(self, matrix, ids):
        unit = unit_rows(matrix)
        similarity = unit[ids] @ unit.T
        similarity[:, self.special] = -np.inf
        similarity[np.arange(len(ids)), ids] = -np.inf  # not itself
        return np.argsort(-similarity, axis=1, kind="stable")[:, : self.k]

    def rows(self, ids):
        """Rows for the given token ids, in that order."""
        ids = np.asarray(ids, int)
        if not len(ids):
            return []
        before, after = self._neighbors(self.before, ids), self._neighbors(self.after, ids)
        return [
            {
                "token": self.tokens[i],
                "cosine_change": float(self.cosine_change[i]),
                "l2_shift": float(self.l2_shift[i]),
                "count": None if self.counts is None else int(self.counts[i]),
                "neighbors_changed": 1.0 - len(set(b) & set(a)) / self.k,
                "neighbors_before": [self.tokens[j] for j in b],
                "neighbors_after": [self.tokens[j] for j in a],
            }
            for i, b, a in zip(ids, before, after)
        ]

    def most_moved(self, n=20, min_count=1):
        """The `n` tokens whose embeddings turned most (largest cosine change), among those
        seen at least `min_count` times in `texts` (all but special tokens without texts)."""
        ids = self._candidates(min_count)
        return self.rows(ids[np.argsort(-self.cosine_change[ids], kind="stable")[:n]])

    def least_moved(self, n=20, min_count=1):
        ids = self._candidates(min_count)
        return self.rows(ids[np.argsort(self.cosine_change[ids], kind="stable")[:n]])

    def by_frequency(self, edges=(1, 10, 100, 1000)):
        """Mean cosine change and L2 shift of the tokens in each band of counts in `texts`
        (`[0, 1)` = unseen, `[1, 10)`, ...): rows of `band`, `tokens`, `cosine_change`,
        `l2_shift`."""
        if self.counts is None:
            raise ValueError("`by_frequency` needs the report made with `texts`.")
        keep = ~self.special
        bounds = [0, *edges, np.inf]
        rows = []
        for low, high in zip(bounds[:-1], bounds[1:]):
            band = keep & (self.counts >= low) & (self.counts < high)
            rows.append({
                "band": f"[{low}, {high:g})" if np.isfinite(high) else f">= {low}",
                "tokens": int(band.sum()),
                "cosine_change": float(self.cosine_change[band].mean()) if band.any() else 0.0,
                "l2_shift": float(self.l2_shift[band].mean()) if band.any() else 0.0,
            })
        return rows

    def to_markdown(self, n=20, min_count=1):
        """The `most_moved` rows as a markdown table, with the neighbours before and after."""
        lines = [
            "| token | count | cosine change | L2 shift | neighbours changed | neighbours before "
            "| neighbours after |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.most_moved(n, min_count):
            count = "" if row["count"] is None else row["count"]
            lines.append(
                f"| {row['token']} | {count} | {row['cosine_change']:.3g} | "
                f"{row['l2_shift']:.3g} | {row['neighbors_changed']:.0%} | "
                f"{', '.join(row['neighbors_before'][:5])} | "
                f"{', '.join(row['neighbors_after'][:5])} |"
            )
        return "\n".join(lines)

    def plot(self, path, n=20, min_count=1):
        """A PNG: the `n` most-moved tokens' cosine change, and (with texts) change against
        frequency for every token seen. Needs matplotlib (`pip install kerasnlm[plots]`)."""
        from kerasnlm.analysis.plots import figure as new_figure

        rows = self.most_moved(n, min_count)
        panels = 2 if self.counts is not None else 1
        figure = new_figure(figsize=(6 * panels, 0.3 * max(n, 10) + 1.5))
        axes = np.atleast_1d(figure.subplots(1, panels))
        axes[0].barh([r["token"] for r in rows][::-1], [r["cosine_change"] for r in rows][::-1])
        axes[0].set_xlabel("1 - cos(before, after)")
        axes[0].set_title(f"{len(rows)} most moved tokens")
        if self.counts is not None:
            seen = self._candidates(1)
            axes[1].scatter(self.counts[seen], self.cosine_change[seen], s=4, alpha=0.5)
            axes[1].set_xscale("log")
            axes[1].set_xlabel("count in the texts")
            axes[1].set_ylabel("1 - cos(before, after)")
            axes[1].set_title("drift against frequency")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        return path


def token_counts(tokenizer, texts):
    """Occurrences of every token id in `texts` (a list of str), `(vocabulary_size,)` int."""
    counts = collections.Counter()
    for start in range(0, len(texts), 1024):
        ids = ops.convert_to_numpy(tokenizer(list(texts[start : start + 1024])).flat_values)
        counts.update(ids.tolist())
    result = np.zeros(tokenizer.vocabulary_size, int)
    for token_id, count in counts.items():
        result[token_id] = count
    return result


def embedding_drift(before, after, tokenizer, texts=None, k=10):
    """How the token embeddings moved from `before` to `after`.

    Args:
        before, after: each a backbone, a task model, a `.keras` file or an embedding matrix
            (take `knlm.analysis.embedding_matrix(backbone)` before fine-tuning: a task model
            trains its backbone's matrix in place).
        tokenizer: the tokenizer both share.
        texts: optional list of str (e.g. the task's training texts): counts each token, so
            rows can be filtered to tokens seen and summarized by frequency.
        k: neighbours compared per token.

    Returns:
        A `DriftReport`.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
        num_heads=2, hidden_dim=16, intermediate_dim=32)
    before = knlm.analysis.embedding_matrix(backbone)
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile(learning_rate=1e-2)
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("dev"))
    classifier.fit(knlm.data.classification_dataset(
        texts, labels, tokenizer, sequence_length=32, num_classes=2, seed=0), verbose=0)
    report = knlm.analysis.embedding_drift(before, classifier, tokenizer, texts=texts)
    print(report.to_markdown(5))
    ```
    """
    before, after = embedding_matrix(before), embedding_matrix(after)
    if before.shape != after.shape:
        raise ValueError(
            f"The two embedding matrices differ in shape ({before.shape} vs {after.shape}): "
            "not two states of one model."
        )
    if before.shape[0] != tokenizer.vocabulary_size:
        raise ValueError(
            f"The embeddings have {before.shape[0]} rows but the tokenizer "
            f"{tokenizer.vocabulary_size} tokens."
        )
    counts = None if texts is None else token_counts(tokenizer, texts)
    return DriftReport(before, after, tokenizer.get_vocabulary(), counts, k)
