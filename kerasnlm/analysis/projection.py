"""2-D pictures of embeddings: PCA / t-SNE / UMAP plots, and TensorBoard's Embedding Projector."""

import os

import numpy as np

from kerasnlm.analysis.embeddings import embedding_matrix

METHODS = ("pca", "tsne", "umap")


def project(vectors, method="pca", seed=0):
    """`(n, dim)` -> `(n, 2)`: scikit-learn's PCA or t-SNE, or umap-learn's UMAP (installed
    separately)."""
    vectors = np.asarray(vectors, "float32")
    if vectors.ndim != 2 or len(vectors) < 2:
        raise ValueError(f"`vectors` must be (n >= 2, dim); received shape {vectors.shape}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(vectors)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(vectors) - 1) / 3)
        return TSNE(n_components=2, perplexity=perplexity, init="pca",
                    random_state=seed).fit_transform(vectors)
    if method == "umap":
        try:
            import umap
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                "`method='umap'` needs umap-learn: `pip install umap-learn`."
            ) from None
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(vectors)
    raise ValueError(f"`method` must be one of {METHODS}; received {method!r}.")


def plot_projection(vectors, labels, path, method="pca", texts=None, title=None):
    """A PNG scatter of `vectors` projected to 2-D, one colour per label (e.g. token or
    sentence embeddings coloured by class), optionally annotated with `texts`."""
    from kerasnlm.analysis.plots import figure as new_figure

    points = project(vectors, method)
    labels = np.asarray(labels if labels is not None else [""] * len(points), dtype=object)
    if len(labels) != len(points):
        raise ValueError(f"{len(labels)} labels for {len(points)} vectors.")
    figure = new_figure(figsize=(7, 6))
    axes = figure.subplots()
    for label in sorted(set(labels.tolist()), key=str):
        chosen = labels == label
        axes.scatter(points[chosen, 0], points[chosen, 1], s=12, alpha=0.7, label=str(label))
    if texts is not None:
        for (x, y), text in zip(points, texts):
            axes.annotate(str(text)[:30], (x, y), fontsize=7, alpha=0.8)
    if len(set(labels.tolist())) > 1:
        axes.legend(loc="best", fontsize=8)
    axes.set_title(title or f"{method.upper()} projection of {len(points)} vectors")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def export_projector(model, tokenizer, logdir, tokens=None, name="token_embeddings"):
    """Writes token embeddings for TensorBoard's Embedding Projector: `<name>.tsv` (one vector
    a line), `metadata.tsv` (one token a line) and `projector_config.pbtxt` naming both, so
    `tensorboard --logdir LOGDIR` shows them under "Projector". No checkpoint needed.

    Args:
        model: a backbone, task model, `.keras` file or embedding matrix.
        tokenizer: its tokenizer (the metadata).
        logdir: the folder to write.
        tokens: optional list of tokens to keep (default: the whole vocabulary).

    Returns:
        The path of `projector_config.pbtxt`.
    """
    from tensorboard.plugins import projector

    matrix = embedding_matrix(model)
    vocabulary = tokenizer.get_vocabulary()
    if matrix.shape[0] != len(vocabulary):
        raise ValueError(
            f"The embeddings have {matrix.shape[0]} rows but the tokenizer {len(vocabulary)} "
            "tokens."
        )
    ids = np.arange(len(vocabulary))
    if tokens is not None:
        index = {token: i for i, token in enumerate(vocabulary)}
        missing = [t for t in tokens if t not in index]
        if missing:
            raise ValueError(f"Not in the vocabulary: {missing[:10]}.")
        ids = np.array([index[t] for t in tokens])
    os.makedirs(logdir, exist_ok=True)
    np.savetxt(os.path.join(logdir, f"{name}.tsv"), matrix[ids], delimiter="\t", fmt="%.6g")
    with open(os.path.join(logdir, "metadata.tsv"), "w", encoding="utf-8") as f:
        for i in ids:
            f.write(vocabulary[i].replace("\t", " ") + "\n")  # one column: no header line
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = name
    embedding.tensor_path = f"{name}.tsv"
    embedding.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(logdir, config)
    return os.path.join(logdir, "projector_config.pbtxt")
