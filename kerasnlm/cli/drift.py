"""`kerasnlm drift`: the embedding-drift table of two saved models."""

from kerasnlm import analysis
from kerasnlm import data
from kerasnlm.export.serving import Predictor


def _texts(path, text_column):
    if path.endswith(".tsv"):
        return data.read_tsv(path, text_column=text_column, label_column=None)[0]
    if path.endswith(".conll"):
        return [" ".join(words) for words in data.read_conll(path)[0]]
    return data.read_text(path)


def drift(args):
    """The markdown table (and the plot with `--plot`) for the parsed arguments."""
    from kerasnlm.models.files import load_keras_file

    try:
        before = load_keras_file(args.before)
    except (OSError, ValueError) as error:  # which of the two models is wrong
        raise type(error)(f"`--before`: {error}") from None
    after = Predictor.load_keras_model(args.after)
    tokenizer = getattr(after, "tokenizer", None) or getattr(before, "tokenizer", None)
    if args.vocabulary:
        from kerasnlm.tokenizers import WordPieceTokenizer

        tokenizer = WordPieceTokenizer(args.vocabulary)
    if tokenizer is None:
        raise ValueError("Neither model holds a tokenizer: pass `--vocabulary vocab.txt`.")
    texts = _texts(args.texts, args.text_column) if args.texts else None
    report = analysis.embedding_drift(before, after, tokenizer, texts=texts)
    if args.plot:
        report.plot(args.plot, n=args.top, min_count=args.min_count)
    return report.to_markdown(args.top, args.min_count)
