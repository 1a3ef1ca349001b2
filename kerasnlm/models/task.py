import dataclasses
import inspect
import warnings

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from kerasnlm import data
from kerasnlm.distribute.losses import WeightedCrossEntropy
from kerasnlm.models.model import Model
from kerasnlm.utils.arguments import positive_integer


def raw_texts(x, name="x"):
    """The texts in `x` as a list of str when `x` is raw text for a task's `predict` or
    `generate`, else None (ids or arrays: Keras' own route).

    Raw text is a list, tuple or numpy array of str (or UTF-8 bytes), `[]` included. A bare
    string is refused rather than read as one text per character, and an item that is not
    text (`None`, a number) or not valid UTF-8 is named by its index.
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"`{name}` is a single string; pass a list of strings, e.g. [{name}].")
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "USO":
            return None
        x = x.tolist()
    if not isinstance(x, (list, tuple)):
        return None
    if x and not any(isinstance(item, (str, bytes)) for item in x):
        return None  # e.g. a list of id lists
    texts = []
    for index, item in enumerate(x):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"`{name}[{index}]` is not valid UTF-8 (byte 0x{item[error.start]:02x} at "
                    f"position {error.start})."
                ) from None
        if not isinstance(item, str):
            raise TypeError(
                f"`{name}[{index}]` is {type(item).__name__}, not a string: every item of a "
                "list of texts must be a str."
            )
        texts.append(item)
    return texts


def token_prediction_loss():
    """Cross-entropy on logits, averaged over the weighted (real) tokens of the global batch
    only, not padding."""
    return WeightedCrossEntropy()


def token_prediction_metrics():
    """Token accuracy and perplexity (keras-hub's), both weighted by the sample weights."""
    return [
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        keras_hub.metrics.Perplexity(from_logits=True, name="perplexity"),
    ]


def _xla_cannot_update(model):
    if (
        keras.backend.backend() != "tensorflow"
        or model.distribute_strategy.num_replicas_in_sync == 1
    ):
        return False
    import tensorflow as tf

    return not isinstance(model.distribute_strategy, tf.distribute.TPUStrategy)


class Task(Model):
    """The base of every model built on a `TransformerBackbone` (pretraining and task models).

    - The backbone is held by reference (`self.backbone`), never copied: two tasks built on one
      backbone train the same variables.
    - The config stores the backbone as a nested config, and `from_config` rebuilds the task on
      the rebuilt backbone, so ties to its embedding survive `save` / `load_model`.
    - `compile()` with no arguments uses the task's defaults (`default_loss`,
      `default_metrics`, and AdamW with weight decay off for biases and LayerNorm) and the
      learning-rate recipe that fits the backbone's weights (`kerasnlm.training.recipes`): a
      warm-up and decay around 1e-4 for a pretrained backbone, a constant 5e-4 for a new one.
      Any argument given overrides its default.

    - An optional `tokenizer` (checked against the backbone's vocabulary) lets a task take raw
      strings; it is saved with the model.

    A subclass builds its layers and Functional graph, running the backbone's layers with
    `backbone.encode(...)` (and `backbone.pool(...)` for the `[CLS]` vector) rather than calling
    the backbone model, so the graph holds only what the task uses: a BERT pooler that a
    mean-pooling head ignores is not trained and not warned about as gradient-less. It calls
    `super().__init__(inputs, outputs, backbone=backbone, tokenizer=...)`, and lists its extra
    `__init__` arguments in `get_config`.
    """

    def __init__(self, inputs, outputs, backbone, tokenizer=None, **kwargs):
        if tokenizer is not None and tokenizer.vocabulary_size != backbone.vocabulary_size:
            raise ValueError(
                f"The tokenizer's vocabulary ({tokenizer.vocabulary_size} tokens) does not match "
                f"the backbone's `vocabulary_size` ({backbone.vocabulary_size})."
            )
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # The task runs at its backbone's precision (a Functional model ignores `dtype`); under
        # "mixed_float16" this is what makes `compile` add loss scaling.
        self.dtype_policy = backbone.dtype_policy
        self.backbone = backbone
        self.tokenizer = tokenizer

    @property
    def trainable_weights(self):
        # The backbone is tracked whole, but a task's graph may not run all of it (a
        # mean-pooling head never runs BERT's pooler): weights outside the graph would get no
        # gradient, so they are left out of training rather than warned about at every step.
        in_graph = {id(w) for layer in self.layers for w in layer.trainable_weights}
        return [w for w in super().trainable_weights if id(w) in in_graph]

    @property
    def trainable_variables(self):
        # The same list, or the optimizer would be built for one and saved for the other.
        return self.trainable_weights

    def _predict_texts(self, texts, sequence_length, batch_size, pad_to_multiple_of, *args,
                       **kwargs):
        """Keras `predict` on raw texts or lists of words, batched by
        `data.prediction_dataset`: the outputs in the order of `texts`, a numpy array, or a
        `tf.RaggedTensor` when they are per token (each batch has its own width)."""
        batches, order = data.prediction_dataset(
            texts, self.tokenizer, sequence_length, batch_size or 32, pad_to_multiple_of
        )
        kwargs.setdefault("verbose", 0)
        predictions = super().predict(batches, *args, **kwargs)
        back = np.argsort(order)  # the i-th text's outputs are `predictions[back[i]]`
        if isinstance(predictions, tf.RaggedTensor):
            return tf.gather(predictions, back)
        return keras.ops.convert_to_numpy(predictions)[back]

    def token_id_limits(self):
        return self.backbone.token_id_limits()

    def default_loss(self):
        raise NotImplementedError

    def default_metrics(self):
        return []

    def compile(
        self, optimizer="auto", loss="auto", weighted_metrics="auto", learning_rate="auto",
        weight_decay="auto", total_steps=None, **kwargs,
    ):
        """Keras `compile` with working defaults.

        Args:
            optimizer: `"auto"` for AdamW exempting biases and LayerNorm parameters from
                weight decay, or any Keras optimizer.
            loss: `"auto"` for the task's loss, or any Keras loss.
            weighted_metrics: `"auto"` for the task's metrics (weighted by the pipelines'
                sample weights, so padding never counts), or a list.
            learning_rate: `"auto"` for the recipe that fits the backbone
                (`kerasnlm.training.recipes.RECIPES`): with pretrained weights
                (`backbone.pretrained`) a linear warm-up over the first 10% of the steps to
                1e-4, then linear decay to 0; for a new backbone a constant 5e-4. Or a float
                or a `keras.optimizers.schedules.LearningRateSchedule`, which always wins.
                Only with the default optimizer.
            weight_decay: `"auto"` (0.01) or a float, for the default optimizer.
            total_steps: int, the number of training steps the `"auto"` schedule spans. Left
                out, each `fit` plans it from its `epochs` and steps per epoch (a `fit` after
                the schedule has run out plans a new one from where training stands).
            **kwargs: passed to `keras.Model.compile` (`metrics`, `jit_compile`...).
        """
        from kerasnlm.training import recipes  # training builds on models: imported late

        if optimizer != "auto" and (learning_rate != "auto" or weight_decay != "auto"):
            raise ValueError(
                "`learning_rate` and `weight_decay` configure the default optimizer; with "
                f"`optimizer={optimizer!r}`, set them on the optimizer itself."
            )
        if total_steps is not None:
            positive_integer("total_steps", total_steps)
        if kwargs.get("jit_compile") is True and _xla_cannot_update(self):
            # XLA cannot compile the cross-replica update of mirrored variables ("Trying to
            # access resource ... located in device CPU:1 from device CPU:0"); keras-hub #949.
            warnings.warn(
                f"`jit_compile=True` is turned off under {type(self.distribute_strategy).__name__}"
                f" with {self.distribute_strategy.num_replicas_in_sync} replicas: XLA cannot "
                "compile the update of mirrored variables. The step runs as a TensorFlow graph.",
                stacklevel=2,
            )
            kwargs["jit_compile"] = False
        self._default_optimizer = optimizer == "auto"
        self._recipe = None  # set while the learning rate is the recipe's, planned by `fit`
        self._recipe_announced = False
        if optimizer == "auto":
            recipe = recipes.recipe_for(self.backbone)
            if weight_decay != "auto":
                recipe = recipe.replace(weight_decay=weight_decay)
            if learning_rate == "auto":
                self._recipe = recipe
                learning_rate = recipe.schedule(total_steps)
            optimizer = recipe.optimizer(learning_rate)
        if loss == "auto":
            loss = self.default_loss()
        if weighted_metrics == "auto":
            weighted_metrics = self.default_metrics()
        super().compile(
            optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs
        )

    def fit(self, *args, **kwargs):
        arguments = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        given = arguments.arguments
        if isinstance(given.get("x"), tf.data.Dataset) and "shuffle" not in given:
            # A dataset shuffles itself (kerasnlm's pipelines do, seeded); Keras ignores
            # `shuffle` for one but warns about its default on every `fit`.
            given["shuffle"] = False
        from kerasnlm.training.callbacks import StopOnNonFiniteLoss  # training builds on models

        callbacks = given.get("callbacks") or []
        if isinstance(callbacks, (list, tuple)) and not any(
            isinstance(callback, StopOnNonFiniteLoss) for callback in callbacks
        ):
            given["callbacks"] = [*callbacks, StopOnNonFiniteLoss()]
        args, kwargs = arguments.args[1:], arguments.kwargs
        if getattr(self, "_recipe", None) is not None:
            arguments.apply_defaults()
            self._plan_learning_rate(
                **{k: v for k, v in arguments.arguments.items() if k != "self"}
            )
        history = super().fit(*args, **kwargs)
        if self._steps_taken():
            # Trained weights now: a model built on this backbone next fine-tunes them.
            self.backbone.pretrained = True
        return history

    def _steps_taken(self):
        # Through numpy: under a tf.distribute strategy the counter is a MirroredVariable,
        # which `int()` does not take.
        return int(keras.ops.convert_to_numpy(self.optimizer.iterations))

    def _plan_learning_rate(
        self, x, batch_size, epochs, initial_epoch, steps_per_epoch, validation_split, verbose,
        **_,
    ):
        """Fits the recipe's schedule to this `fit` when the one in use has no length yet or
        has run out, and says once per plan which recipe runs."""
        from kerasnlm.training import recipes

        current = recipes.current_schedule(self.optimizer)
        iterations = self._steps_taken()
        planned = (
            current is not None and current.end_step is not None
            and iterations < current.end_step
        )
        if current is not None and not planned:
            per_epoch = recipes.steps_per_epoch(x, batch_size, steps_per_epoch, validation_split)
            if per_epoch is not None or current.end_step is not None:
                total = None if per_epoch is None else epochs * per_epoch
                start = max(iterations - initial_epoch * (per_epoch or 0), 0)
                current = self._recipe.schedule(total, start_step=start)
                self.optimizer.learning_rate = current
                self.train_function = None  # the schedule's constants are traced into the step
                self._recipe_announced = False
        if not self._recipe_announced and verbose != 0:
            print(recipes.describe(self._recipe, current or self._recipe.learning_rate))
        self._recipe_announced = True

    def get_compile_config(self):
        config = super().get_compile_config()
        if config:
            # AdamW's own config does not record which variables skip weight decay.
            config["default_optimizer"] = getattr(self, "_default_optimizer", False)
            recipe = getattr(self, "_recipe", None)
            config["learning_rate_recipe"] = None if recipe is None else dataclasses.asdict(recipe)
        return config

    def compile_from_config(self, config):
        """Recompiles a loaded model exactly as it was compiled (used by `load_model`)."""
        from kerasnlm.training import recipes

        config = dict(config)
        default_optimizer = config.pop("default_optimizer", False)
        recipe = config.pop("learning_rate_recipe", None)
        config = keras.saving.deserialize_keras_object(config)
        super().compile(**config)
        if default_optimizer:
            self.optimizer.exclude_from_weight_decay(var_names=recipes.NO_DECAY)
        self._default_optimizer = default_optimizer
        self._recipe = None if recipe is None else recipes.Recipe(**recipe)
        self._recipe_announced = False
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
        }
        if self.tokenizer is not None:  # saved with the model: it carries its vocabulary
            config["tokenizer"] = keras.saving.serialize_keras_object(self.tokenizer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "tokenizer"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
