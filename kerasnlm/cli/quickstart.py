"""`kerasnlm quickstart`: the whole path from raw text to a served model, on the bundled samples.

1. trains a WordPiece vocabulary on the bundled English text and SST-2 sentences;
2. pretrains a small causal-LM backbone on the same text and compares its held-out perplexity
   with a unigram model's (a causal LM learns more per step than a masked LM at this budget:
   it is scored on every position, a masked LM on the 15% it masks);
3. fine-tunes a `SequenceClassifier` on that very backbone object (its embedding matrix is the
   one the language-model head is tied to) and, for comparison, the same classifier from a
   random backbone, with the same data and epochs;
4. lists the tokens whose embeddings fine-tuning moved most (`kerasnlm.analysis`);
5. exports the classifier as a SavedModel that takes raw strings, reloads it with TensorFlow
   alone and classifies a few sentences.

Everything it writes goes to `output_dir`, with `quickstart.json` holding the figures.
"""

import json
import math
import os
import shutil
import time
import warnings

import keras
import numpy as np

from kerasnlm import analysis
from kerasnlm import data
from kerasnlm import distribute
from kerasnlm.export import export_saved_model
from kerasnlm.models import TransformerBackbone
from kerasnlm.tokenizers import WordPieceTokenizer
from kerasnlm.training import TASKS
from kerasnlm.training import Encoders
from kerasnlm.training import PretrainConfig
from kerasnlm.training import compile_with_recipe
from kerasnlm.training import pretrain
from kerasnlm.training import unigram_perplexity
from kerasnlm.training.config import check_output_dir
from kerasnlm.training.config import fit_verbosity
from kerasnlm.utils.arguments import positive_integer

SEQUENCE_LENGTH = 64
VOCABULARY_SIZE = 4000
# Pre-norm blocks: they start learning at once at this learning rate (post-norm ones sit on
# the unigram plateau for hundreds of steps; README, "Results").
BACKBONE = dict(num_layers=2, num_heads=4, hidden_dim=128, intermediate_dim=512, dropout=0.1,
                normalize_first=True)
STEPS = 600
EPOCHS = 2
# The fine-tuning recipe's 1e-4 suits BERT-size checkpoints; this 2-layer, 128-wide backbone
# learns too slowly with it in a few epochs (SST-2 sample dev, 3 epochs after 600 pretraining
# steps, dropout off: 0.70 with 1e-4, 0.72-0.74 with 5e-4; a new model 0.70-0.71).
SMALL_BACKBONE_PEAK = 5e-4
LABELS = ["negative", "positive"]
PROBES = ["a wonderful, moving film", "a dull, lifeless mess",
          "the acting is superb and the story touching", "boring, predictable and far too long"]
MARKER = "quickstart.json"


def _claim(output_dir):
    """Makes `output_dir` this run's: a new or empty folder, or a previous quickstart's (whose
    artifacts are replaced); any other folder is refused rather than written into."""
    check_output_dir(output_dir, "--output-dir")
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        if not os.path.exists(os.path.join(output_dir, MARKER)):
            raise FileExistsError(
                f"`--output-dir` {output_dir} holds files of something other than a "
                "quickstart; choose a new folder."
            )
        shutil.rmtree(output_dir)
    os.makedirs(output_dir, exist_ok=True)


class _Story:
    """Prints the numbered stages with their wall time."""

    def __init__(self, stages):
        self.stages, self.done, self.start = stages, 0, time.time()
        self.stage_start = self.start

    def next(self, title):
        self.done += 1
        self.stage_start = time.time()
        print(f"\n[{self.done}/{self.stages}] {title}", flush=True)

    def took(self):
        return time.time() - self.stage_start


def _vocabulary(corpus, output_dir, seed):
    tokenizer = WordPieceTokenizer.train(corpus, vocabulary_size=VOCABULARY_SIZE, seed=seed)
    path = os.path.join(output_dir, "vocab.txt")
    tokenizer.save_vocabulary(path)
    return tokenizer, path


def _pretrain(corpus, vocabulary, tokenizer, output_dir, steps, precision, seed):
    config = PretrainConfig(
        corpus=corpus, output_dir=os.path.join(output_dir, "pretrain"), vocabulary=vocabulary,
        objective="causal_lm", sequence_length=SEQUENCE_LENGTH, **BACKBONE, batch_size=32,
        steps=steps, checkpoint_every=steps, warmup_steps=steps // 10, learning_rate=1e-3,
        precision=precision, seed=seed,
    )
    language_model = pretrain(config)
    held_out = data.causal_lm_dataset(
        data.samples.english_text("valid"), tokenizer, sequence_length=SEQUENCE_LENGTH,
        batch_size=32, shuffle=False,
    )
    with warnings.catch_warnings():
        # Keras warns "ran out of data" at the end of any dataset of unknown length (packed).
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        scores = language_model.evaluate(held_out, verbose=0, return_dict=True)
    training = data.causal_lm_dataset(
        corpus, tokenizer, sequence_length=SEQUENCE_LENGTH, batch_size=32, shuffle=False
    )
    unigram = unigram_perplexity(training, held_out, tokenizer.vocabulary_size)
    return language_model, float(scores["perplexity"]), unigram


def _classifier(backbone, tokenizer, causal, steps, peak=None):
    """A sentiment classifier on `backbone`, built as `finetune` builds one and compiled with
    the recipe that fits it (fine-tuning or from scratch), its peak learning rate replaced by
    `peak` if given."""
    # A causal backbone keeps its causal attention (and mean pooling), as GPT's classifiers
    # do: a few epochs are not enough to re-learn attention that looks both ways.
    model = TASKS["classification"].build_model(
        backbone, Encoders(tokenizer, names=LABELS), pooling="mean", use_causal_mask=causal
    )
    if peak is None:
        model.compile()
    else:
        compile_with_recipe(model, steps, learning_rate=peak)
    return model


def _fit(model, train, dev, epochs):
    history = model.fit(train, validation_data=dev, epochs=epochs, verbose=fit_verbosity(),
                        shuffle=False)  # the pipeline shuffles, seeded
    return [float(a) for a in history.history["val_accuracy"]]


def _serve(path, texts):
    """Reloads the export with TensorFlow alone (no kerasnlm object involved) and classifies."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the ops the tokenizer runs in-graph

    served = tf.saved_model.load(path).signatures["serving_default"]
    outputs = served(text=tf.constant(texts))
    labels = [label.decode() for label in outputs["labels"].numpy()]
    return list(zip(texts, labels, outputs["probabilities"].numpy().max(axis=1).tolist()))


def quickstart(output_dir="runs/quickstart", steps=None, epochs=None, precision="float32",
               backbone=None, seed=0):
    """Runs the five stages; returns the figures (also in `output_dir/quickstart.json`)."""
    steps = STEPS if steps is None else steps
    epochs = EPOCHS if epochs is None else epochs
    positive_integer("steps", steps)
    positive_integer("epochs", epochs)
    if backbone is not None and not os.path.isdir(backbone):
        raise FileNotFoundError(f"`--backbone`: no Hugging Face BERT folder at {backbone}.")
    _claim(output_dir)
    keras.utils.set_random_seed(seed)
    policy = distribute.set_precision(precision)
    texts, labels = data.read_tsv(data.samples.sst2("train"))
    dev_texts, dev_labels = data.read_tsv(data.samples.sst2("dev"))
    labels, dev_labels = [int(y) for y in labels], [int(y) for y in dev_labels]
    figures = {"precision": policy, "artifacts": {}}
    artifacts = figures["artifacts"]
    story = _Story(5)
    print(f"kerasnlm quickstart: SST-2 sample, {len(texts)} training and {len(dev_texts)} dev "
          f"sentences; English text sample, 10,000 lines (sources: kerasnlm/data/samples/"
          f"README.md); precision {policy}")

    if backbone is None:
        story.next("WordPiece vocabulary, trained on the English text and the SST-2 sentences")
        sentences = os.path.join(output_dir, "sst2_sentences.txt")
        with open(sentences, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        corpus = [data.samples.english_text("train"), sentences]
        tokenizer, vocabulary = _vocabulary(corpus, output_dir, seed)
        figures["vocabulary_size"] = tokenizer.vocabulary_size
        artifacts["vocabulary"] = vocabulary
        example = "a heartbreaking, unforgettable performance"
        pieces = [tokenizer.get_vocabulary()[i] for i in tokenizer([example])[0].numpy()]
        print(f"{tokenizer.vocabulary_size} pieces in {story.took():.0f} s; {example!r} -> "
              f"{' '.join(pieces)}")

        story.next(f"Causal-LM pretraining of a {BACKBONE['num_layers']}-layer backbone, "
                   f"{steps} steps of 32 x {SEQUENCE_LENGTH} pieces")
        language_model, perplexity, unigram = _pretrain(
            corpus, vocabulary, tokenizer, output_dir, steps, policy, seed
        )
        pretrained = language_model.backbone
        figures.update(perplexity=perplexity, unigram_perplexity=unigram)
        artifacts["backbone"] = os.path.join(output_dir, "pretrain", "backbone.keras")
        print(f"held-out perplexity {perplexity:.1f} (unigram model: {unigram:.1f}) "
              f"in {story.took():.0f} s")
        causal = True
    else:
        story.next(f"Vocabulary of {backbone}")
        tokenizer = WordPieceTokenizer.from_pretrained(backbone)
        story.next(f"Pretrained weights of {backbone} (no pretraining run)")
        pretrained = TransformerBackbone.from_pretrained(backbone, dtype=policy)
        language_model, causal = None, False
        figures["vocabulary_size"] = tokenizer.vocabulary_size
        print(f"{pretrained.num_layers} layers, hidden {pretrained.hidden_dim}, "
              f"{tokenizer.vocabulary_size} pieces")

    story.next(f"Fine-tuning a SequenceClassifier on that backbone, and one from scratch, "
               f"{epochs} epochs each")
    train = data.classification_dataset(texts, labels, tokenizer, SEQUENCE_LENGTH, batch_size=32,
                                        num_classes=2, seed=seed)
    dev = data.classification_dataset(dev_texts, dev_labels, tokenizer, SEQUENCE_LENGTH,
                                      batch_size=64, num_classes=2, shuffle=False)
    before = analysis.embedding_matrix(pretrained)
    steps_per_fit = epochs * math.ceil(len(texts) / 32)
    peak = SMALL_BACKBONE_PEAK if language_model is not None else None
    classifier = _classifier(pretrained, tokenizer, causal, steps_per_fit, peak)
    if language_model is not None:
        # One backbone object, so one embedding matrix: the LM head's tied output projection.
        assert classifier.backbone is language_model.backbone
        assert classifier.backbone.token_embedding.embeddings is (
            language_model.backbone.token_embedding.embeddings)
        print("The classifier holds the pretraining model's backbone object: fine-tuning "
              "trains the very embedding matrix the language-model head is tied to.")
    pretrained_curve = _fit(classifier, train, dev, epochs)
    # The same shape with random weights (so compile() picks the from-scratch recipe).
    scratch_backbone = TransformerBackbone.from_config(
        {**pretrained.get_config(), "name": None, "pretrained": False}
    )
    scratch = _classifier(scratch_backbone, tokenizer, causal, steps_per_fit)
    scratch_curve = _fit(scratch, train, dev, epochs)
    majority = float(max(np.mean(dev_labels), 1 - np.mean(dev_labels)))
    figures.update(pretrained_dev_accuracy=pretrained_curve[-1],
                   scratch_dev_accuracy=scratch_curve[-1], majority_baseline=majority,
                   pretrained_curve=pretrained_curve, scratch_curve=scratch_curve)
    classifier_path = os.path.join(output_dir, "classifier.keras")
    classifier.save(classifier_path)
    artifacts["classifier"] = classifier_path
    print(f"SST-2 dev accuracy after {epochs} epochs: pretrained {pretrained_curve[-1]:.3f}, "
          f"from scratch {scratch_curve[-1]:.3f} (majority class {majority:.3f})")

    story.next("The token embeddings fine-tuning moved most (tokens seen 20+ times)")
    report = analysis.embedding_drift(before, classifier, tokenizer, texts=texts)
    moved = report.most_moved(8, min_count=20)
    for row in moved:
        print(f"  {row['token']:<12} cosine change {row['cosine_change']:.4f}; neighbours "
              f"before: {', '.join(row['neighbors_before'][:4])}; after: "
              f"{', '.join(row['neighbors_after'][:4])}")
    drift_path = os.path.join(output_dir, "drift.md")
    with open(drift_path, "w", encoding="utf-8") as f:
        f.write(report.to_markdown(20, min_count=20) + "\n")
    figures["most_moved"] = [row["token"] for row in moved]
    artifacts["drift_table"] = drift_path

    story.next("Export: a SavedModel that takes raw strings, reloaded with TensorFlow alone")
    exported = export_saved_model(classifier, path=os.path.join(output_dir, "exported"))
    answers = _serve(exported, PROBES)
    for text, label, probability in answers:
        print(f"  {label:<8} {probability:.2f}  {text}")
    figures["served"] = {text: label for text, label, _ in answers}
    artifacts["saved_model"] = exported

    figures["seconds"] = round(time.time() - story.start, 1)
    with open(os.path.join(output_dir, MARKER), "w", encoding="utf-8") as f:
        json.dump(figures, f, indent=2)
    _summary(figures, output_dir)
    return figures


def _summary(figures, output_dir):
    rows = []
    if "perplexity" in figures:
        rows.append(("held-out perplexity, causal LM / unigram",
                     f"{figures['perplexity']:.1f} / {figures['unigram_perplexity']:.1f}"))
    rows += [
        ("SST-2 dev accuracy, pretrained backbone", f"{figures['pretrained_dev_accuracy']:.3f}"),
        ("SST-2 dev accuracy, same model from scratch", f"{figures['scratch_dev_accuracy']:.3f}"),
        ("SST-2 dev accuracy, majority class", f"{figures['majority_baseline']:.3f}"),
        ("most moved embeddings", ", ".join(figures["most_moved"][:5])),
        ("total time", f"{figures['seconds'] / 60:.1f} min"),
    ]
    rows += [(name.replace("_", " "), path) for name, path in figures["artifacts"].items()]
    width = max(len(name) for name, _ in rows)
    print("\nDone.\n" + "\n".join(f"  {name:<{width}}  {value}" for name, value in rows))
    exported = figures["artifacts"]["saved_model"]
    print(f"""
Next:
  kerasnlm predict --model {exported} "an instant classic"
  kerasnlm drift --before {figures['artifacts'].get('backbone', '<backbone.keras>')} \\
      --after {figures['artifacts']['classifier']} --texts {data.samples.sst2('train')}
  kerasnlm finetune --config configs/finetune_sst2_pretrained.yaml   # a bigger run, any data
  notebooks/ (pip install -e ".[notebooks]"), and README.md""")
