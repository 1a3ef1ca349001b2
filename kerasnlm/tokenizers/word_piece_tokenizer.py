import json
import math
import os
import warnings

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from kerasnlm.data import readers
from kerasnlm.tokenizers import bert_characters

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _load_vocabulary(vocabulary, lowercase=False):
    """A vocabulary file path or a list of tokens -> a validated list of tokens.

    Every token must be one that the tokenizer can produce: no whitespace (input is split
    there) and no duplicate; errors name the file line (or list index) of the token. With
    `lowercase`, tokens with an uppercase letter (outside bracketed specials such as `[UNK]`)
    can never be produced either: a warning names them, since a vocabulary shared between
    cased and uncased tokenizers is legitimate, but a cased vocabulary read uncased is not.
    """
    if isinstance(vocabulary, (str, os.PathLike)):
        tokens, where = [], []
        for number, line in readers.lines(vocabulary):
            if not line.strip():
                raise ValueError(f"'{vocabulary}', line {number}: blank line in a vocabulary.")
            tokens.append(line)
            where.append(f"'{os.fspath(vocabulary)}', line {number}")
    elif isinstance(vocabulary, (list, tuple)):
        tokens = list(vocabulary)
        where = [f"`vocabulary[{i}]`" for i in range(len(tokens))]
        for i, token in enumerate(tokens):
            if not isinstance(token, str) or not token.strip():
                raise TypeError(f"`vocabulary[{i}]` must be a non-empty str; received {token!r}.")
    else:
        raise TypeError(
            "`vocabulary` must be a file path or a list of str; received "
            f"{type(vocabulary).__name__}."
        )
    if not tokens:
        raise ValueError("`vocabulary` is empty.")
    for token, location in zip(tokens, where):
        if any(character.isspace() for character in token):
            raise ValueError(
                f"{location}: vocabulary token {token!r} contains whitespace; the tokenizer "
                "splits its input at whitespace, so it can never produce this token."
            )
    if lowercase:
        cased = [
            (token, location) for token, location in zip(tokens, where)
            if token != token.lower() and not _is_special(token)
        ]
        if cased:
            examples = ", ".join(f"{token!r} ({location})" for token, location in cased[:3])
            warnings.warn(
                f"{len(cased)} of the {len(tokens)} vocabulary tokens have an uppercase letter, "
                f"e.g. {examples}, but `lowercase=True` lowercases the input, so they can "
                "never be produced. Pass `lowercase=False` for a cased vocabulary.",
                stacklevel=3,
            )
    seen = {}
    for i, token in enumerate(tokens):
        if token in seen:
            raise ValueError(
                f"`vocabulary` holds {token!r} twice: {where[seen[token]]} and {where[i]}."
            )
        seen[token] = i
    if tokens[0] != "[PAD]":
        raise ValueError(
            f"`vocabulary` must start with '[PAD]' (id 0, the padding id); it starts with "
            f"{tokens[0]!r}."
        )
    missing = [t for t in SPECIAL_TOKENS if t not in seen]
    if missing:
        raise ValueError(f"`vocabulary` lacks the special tokens {missing}.")
    return tokens


def _is_special(token):
    """Whether a token is a bracketed special token (`[UNK]`, `[unused0]`...)."""
    return len(token) > 2 and token.startswith("[") and token.endswith("]")


# Characters every trained vocabulary spells, seen in its corpus or not: printable ASCII (so
# HTML, code and e-mail addresses never become `[UNK]`), Latin-1 and the typographic
# punctuation of edited English text (curly quotes, dashes, the ellipsis).
ALWAYS_SPELLED = (
    "".join(chr(code) for code in range(0x21, 0x7F))
    + "".join(chr(code) for code in range(0xA1, 0x100) if code != 0xAD)  # 0xAD is deleted
    + "\u2013\u2014\u2018\u2019\u201a\u201c\u201d\u201e"  # dashes, quotes
    + "\u2022\u2026\u2032\u2033\u2039\u203a\u20ac\u2122"  # bullet, ellipsis, primes, euro...
)


def _always_spelled(lowercase, strip_accents):
    """The characters of `ALWAYS_SPELLED` left after normalization (no uppercase when
    lowercasing, no accented letter when stripping accents)."""
    normalized = normalize(tf.constant(ALWAYS_SPELLED), lowercase, strip_accents)
    return sorted(set(normalized.numpy().decode("utf-8")) - {" "})


def _learn_vocabulary(counts, size):
    """tensorflow-text's WordPiece learner, made to reach `size` tokens where it can.

    The learner keeps the pieces seen at least a threshold number of times, and its own search
    for the threshold stops short of the size (2,796 of 4,000 tokens on 20,000 lines). Here the
    search finds a threshold whose vocabulary reaches `size` (the highest, or one at most 5%
    over), and the rarest learned pieces beyond it go (never a character, so every word stays
    spellable). Below `size` only when even a threshold of one, every piece seen, does not.
    """
    params = learner.Params(
        upper_thresh=None, lower_thresh=1, num_iterations=4, max_input_tokens=int(5e6),
        max_token_length=50, max_unique_chars=1000, vocab_size=size, slack_ratio=0.0,
        include_joiner_token=True, joiner="##", reserved_tokens=list(SPECIAL_TOKENS),
    )
    words = learner.get_input_words(counts.items(), params.reserved_tokens, 50)
    allowed = learner.get_allowed_chars(words, params.max_unique_chars)
    words = learner.filter_input_words(words, allowed, params.max_input_tokens)
    # The size falls roughly as a power of the threshold: bisect its logarithm. `low` is a
    # threshold whose vocabulary reaches `size` (1 is assumed to until tried), `high` one
    # whose vocabulary does not.
    low, high, best = 1, max(count for _, count in words) + 1, None
    while high - low > 1:
        threshold = min(max(round(math.sqrt(low * high)), low + 1), high - 1)
        vocabulary = learner.learn_with_thresh(words, threshold, params)
        if size <= len(vocabulary) <= 1.05 * size:
            best = vocabulary  # Close enough: the rarest 5% at most are cut below.
            break
        if len(vocabulary) > size:
            low, best = threshold, vocabulary
        else:
            high = threshold
    if best is None:
        best = learner.learn_with_thresh(words, 1, params)
        if len(best) < size:
            return best  # Every piece seen: the corpus has no more.
    alphabet = [token for token in best if _is_alphabet(token)]
    if len(alphabet) > size:
        raise ValueError(
            f"`vocabulary_size={size}` is too small for this corpus: the special tokens and "
            f"its characters, each with its `##` form, take {len(alphabet)}."
        )
    pieces = [token for token in best if not _is_alphabet(token)]
    return alphabet + pieces[: size - len(alphabet)]


def _is_alphabet(token):
    """A special token, a character or a `##` character: what every vocabulary needs."""
    return token in SPECIAL_TOKENS or len(token) == 1 or (
        token.startswith("##") and len(token) == 3
    )


def _string_tensor(inputs):
    """Python strings, numpy arrays or tensors -> a tf.string Tensor or RaggedTensor."""
    if isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
        tensor = inputs
    elif isinstance(inputs, (list, tuple)) and any(isinstance(x, (list, tuple)) for x in inputs):
        tensor = tf.ragged.constant(inputs, dtype=tf.string)
    else:
        try:
            tensor = tf.convert_to_tensor(inputs)
        except (TypeError, ValueError):
            raise TypeError(f"Expected strings; received {inputs!r:.200}.") from None
    if tensor.dtype != tf.string:
        raise TypeError(f"Expected strings; received a tensor of dtype {tensor.dtype.name}.")
    return tensor


def _flat(x):
    return x.flat_values if isinstance(x, tf.RaggedTensor) else tf.reshape(x, [-1])


def normalize(strings, lowercase=True, strip_accents=True):
    """BERT's normalization of a `tf.string` tensor (see `WordPieceTokenizer`), same shape."""
    strings = tf.strings.regex_replace(strings, f"[{bert_characters.REMOVED}]", "")
    strings = tf.strings.regex_replace(strings, f"[{bert_characters.WHITESPACE}]", " ")
    if strip_accents:
        strings = tf_text.normalize_utf8(strings, "NFD")
        strings = tf.strings.regex_replace(strings, f"[{bert_characters.NONSPACING_MARKS}]", "")
    if lowercase:
        # BERT lowercases one character at a time; ICU would make a word-final sigma "ς".
        strings = tf.strings.regex_replace(strings, "Σ", "σ")
        strings = tf.strings.lower(strings, encoding="utf-8")
    return strings


def split_words(strings, lowercase=True, strip_accents=True):
    """Normalizes, then splits at spaces, every punctuation character and CJK ideograph its
    own word: BERT's "basic tokenizer". Ragged `strings.shape + (None,)`."""
    separate = f"[{bert_characters.PUNCTUATION}{bert_characters.CJK}]"
    normalized = normalize(strings, lowercase, strip_accents)
    spaced = tf.strings.regex_replace(normalized, separate, r" \0 ")  # \0: the match
    return tf.strings.split(spaced)  # at runs of spaces, the only whitespace left


@keras.saving.register_keras_serializable(package="kerasnlm")
class WordPieceTokenizer(keras.layers.Layer):
    """BERT's WordPiece tokenizer as a Keras layer: strings in, int32 token ids out.

    Gives the token ids of Hugging Face's BERT tokenizer (`BertTokenizerFast`), character for
    character, with TensorFlow ops only, so it runs the same eagerly, in `tf.data`, in a
    `tf.function` and inside an exported SavedModel:

    1. normalize as BERT does: delete control and format characters, U+0000 and U+FFFD; turn
       whitespace into spaces; with `strip_accents`, decompose (NFD) and drop non-spacing
       marks; with `lowercase`, lowercase one character at a time;
    2. split into words at spaces, and make every punctuation character and every CJK
       ideograph a word of its own;
    3. split each word into the longest vocabulary pieces, left to right (continuation pieces
       start with `##`); a word that cannot be split, or is longer than `max_word_length`
       characters, becomes `[UNK]` (tensorflow-text's `FastWordpieceTokenizer`).

    The character classes of steps 1-2 are Hugging Face's own (`bert_characters.py`, read off
    the `tokenizers` library, whose Unicode tables are older than TensorFlow's).

    Shapes: strings of shape `()` -> int32 `(num_pieces,)`; `(batch,)` -> int32 ragged
    `(batch, None)`; a ragged `(batch, None)` of words -> `(batch, None, None)`, the pieces of
    each word. No special tokens are added: the pipelines in `kerasnlm.data` do that.

    The vocabulary must start with `[PAD]` (id 0) and contain `[UNK]`, `[CLS]`, `[SEP]`,
    `[MASK]` anywhere (so a BERT vocabulary, where `[UNK]` is 100, works). Input that is not
    valid UTF-8 is an error.

    Args:
        vocabulary: path of a vocabulary file (one token a line) or a list of tokens.
        lowercase: bool, lowercase the input first (BERT "uncased").
        strip_accents: bool, remove accents (NFD, then drop non-spacing marks). `None` follows
            `lowercase`, as BERT does.
        max_word_length: int, words longer than this many characters become `[UNK]`.
        **kwargs: passed to `keras.layers.Layer` (`name`...).

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    ids = tokenizer(["The movie was great!", "Hello"])  # int32 ragged, 2 rows
    tokenizer.detokenize(ids)  # [b"the movie was great !", b"hello"]
    tokenizer.pad_id, tokenizer.cls_id, tokenizer.vocabulary_size  # 0, 2, 3886
    ```

    References:
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805) (BERT)
        - [Song et al., 2021](https://arxiv.org/abs/2012.15524) (Fast WordPiece)
    """

    def __init__(
        self, vocabulary, lowercase=True, strip_accents=None, max_word_length=100, **kwargs
    ):
        super().__init__(**kwargs)
        if not isinstance(lowercase, bool):
            raise TypeError(f"`lowercase` must be a bool; received {lowercase!r}.")
        if strip_accents is not None and not isinstance(strip_accents, bool):
            raise TypeError(f"`strip_accents` must be a bool or None; received {strip_accents!r}.")
        if not isinstance(max_word_length, int) or max_word_length < 1:
            raise ValueError(
                f"`max_word_length` must be a positive int; received {max_word_length!r}."
            )
        self.vocabulary = _load_vocabulary(vocabulary, lowercase)
        self.lowercase = lowercase
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.max_word_length = max_word_length
        # Strings and ragged tensors go to the TF ops as they are, whatever Keras backend.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            self.vocabulary,
            # Words are split and length-checked (in characters) before: see `call`.
            no_pretokenization=True,
            max_bytes_per_word=4 * max_word_length,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
            support_detokenization=True,
        )
        self._split_and_wordpiece = tf_text.FastWordpieceTokenizer(
            self.vocabulary,
            no_pretokenization=False,  # splits at whitespace and punctuation itself
            max_bytes_per_word=max_word_length,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
        )
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    @property
    def pad_id(self):
        return self._ids["[PAD]"]

    @property
    def unk_id(self):
        return self._ids["[UNK]"]

    @property
    def cls_id(self):
        return self._ids["[CLS]"]

    @property
    def sep_id(self):
        return self._ids["[SEP]"]

    @property
    def mask_id(self):
        return self._ids["[MASK]"]

    def get_vocabulary(self):
        """The tokens, in id order (a copy)."""
        return list(self.vocabulary)

    def save_vocabulary(self, path):
        """Writes the vocabulary to `path`, one token a line, readable by this class and BERT."""
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(token + "\n" for token in self.vocabulary))

    def split_words(self, strings):
        """Steps 1-2 of the class docstring: the normalized words of each string, ragged
        `strings.shape + (None,)`."""
        return split_words(strings, self.lowercase, self.strip_accents)

    def call(self, inputs):
        strings = _string_tensor(inputs)
        scalar = strings.shape.rank == 0
        if scalar:
            strings = tf.expand_dims(strings, 0)
        if isinstance(strings, tf.Tensor) and strings.shape.rank == 1:
            ids = self._tokenize_lines(strings)
        else:
            ids = self._tokenize_exactly(strings)
        return ids[0] if scalar else ids

    def _tokenize_lines(self, strings):
        """A batch of strings, those of printable ASCII (and tab, newline, carriage return:
        most English text) through the fast path, giving the ids of `_tokenize_exactly`."""
        ascii = tf.strings.regex_full_match(strings, r"[\t\n\r\x20-\x7e]*")
        fast, exact = tf.where(ascii)[:, 0], tf.where(~ascii)[:, 0]
        ids = tf.concat(
            [
                self._tokenize_ascii(tf.gather(strings, fast)),
                self._tokenize_exactly(tf.gather(strings, exact), flat_indices=exact),
            ],
            axis=0,
        )
        return tf.gather(ids, tf.argsort(tf.concat([fast, exact], axis=0)))

    def _tokenize_ascii(self, strings):
        """Printable ASCII in two passes instead of eight: there BERT's normalization is only
        lowercasing (no control characters to delete, no accents), and tensorflow-text's
        end-to-end WordPiece splits at whitespace and punctuation exactly as BERT's basic
        tokenizer does (checked against Hugging Face's tokenizer on every ASCII character).
        A word longer than `max_word_length` characters (bytes, here) becomes `[UNK]`."""
        if self.lowercase:
            strings = tf.strings.lower(strings)  # bytes: ASCII letters only, as wanted here
        return self._split_and_wordpiece.tokenize(strings)

    def _tokenize_exactly(self, strings, flat_indices=None):
        """Any strings: BERT's normalization and pre-tokenization, one step at a time.
        `flat_indices`: where these strings sit in the caller's batch, for error messages."""
        # RE2 matches only valid UTF-8; the tokenizer op would silently make such text [UNK].
        valid = tf.strings.regex_full_match(_flat(strings), "(?s).*")
        invalid = tf.where(~valid)[:3, 0]
        if flat_indices is not None:
            invalid = tf.gather(flat_indices, invalid)
        if tf.executing_eagerly():
            if len(invalid):
                index = int(invalid[0])
                raise ValueError(f"Input string at flat index {index} is not valid UTF-8.")
        else:
            message = "WordPieceTokenizer: input strings are not valid UTF-8 at flat indices"
            check = tf.debugging.Assert(tf.reduce_all(valid), [message, invalid])
            with tf.control_dependencies([check]):
                strings = tf.identity(strings)
        words = self.split_words(strings)
        # A word too long to split becomes the vocabulary's "[UNK]", which is one piece.
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > self.max_word_length
        words = words.with_flat_values(tf.where(too_long, "[UNK]", words.flat_values))
        return self._wordpiece.tokenize(words).merge_dims(-2, -1)

    def detokenize(self, ids, skip_special_tokens=False):
        """Token ids -> strings: pieces joined into words, words joined by single spaces.

        `[PAD]` ids are always dropped. The text comes back normalized (lowercased if
        `lowercase`, punctuation split off), not byte-identical to the input.

        Args:
            ids: int ids of shape `(num_pieces,)` (-> a scalar string) or `(batch, length)`,
                dense or ragged (-> strings of shape `(batch,)`).
            skip_special_tokens: also drop `[CLS]`, `[SEP]` and `[MASK]`.
        """
        if not isinstance(ids, (tf.Tensor, tf.RaggedTensor)):
            ragged = isinstance(ids, (list, tuple)) and any(
                isinstance(x, (list, tuple)) for x in ids
            )
            ids = tf.ragged.constant(ids) if ragged else tf.convert_to_tensor(ids)
        if not ids.dtype.is_integer:
            raise TypeError(f"`ids` must be integers; received dtype {ids.dtype.name}.")
        ids = tf.cast(ids, tf.int32)
        scalar = ids.shape.rank == 1
        if scalar:
            ids = tf.expand_dims(ids, 0)
        if isinstance(ids, tf.Tensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        flat = ids.flat_values
        in_range = tf.reduce_all((flat >= 0) & (flat < self.vocabulary_size))
        if tf.executing_eagerly():
            if not in_range:
                raise ValueError(
                    f"`ids` must be in [0, {self.vocabulary_size}); received min "
                    f"{int(tf.reduce_min(flat))}, max {int(tf.reduce_max(flat))}."
                )
        else:
            with tf.control_dependencies([tf.debugging.Assert(in_range, ["ids out of range"])]):
                ids = tf.identity(ids)
        dropped = [self.pad_id]
        if skip_special_tokens:
            dropped += [self.cls_id, self.sep_id, self.mask_id]
        keep = tf.reduce_all(tf.not_equal(ids.flat_values[:, None], dropped), axis=-1)
        ids = tf.ragged.boolean_mask(ids, ids.with_flat_values(keep))
        strings = self._wordpiece.detokenize(ids)
        return strings[0] if scalar else strings

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.get_vocabulary(),
                "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "max_word_length": self.max_word_length,
            }
        )
        return config

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """The tokenizer of a Hugging Face BERT folder, giving the same ids as its own.

        Reads `vocab.txt`, and the settings from `tokenizer_config.json` (which transformers
        lets win) or else `tokenizer.json`: `do_lower_case`, `strip_accents`, the longest word.
        Settings this tokenizer cannot reproduce (no CJK splitting, no basic tokenization,
        other special-token names) are refused rather than silently changed.

        Args:
            path: the folder.
            **kwargs: passed to the constructor, overriding what the folder says.

        Example:
        ```python
        tokenizer = knlm.tokenizers.WordPieceTokenizer.from_pretrained("all-MiniLM-L6-v2/")
        tokenizer(["Crème brûlée"])  # [[13675, 21382, 7987, 9307, 2063]], as BertTokenizerFast
        ```
        """
        folder = os.fspath(path)
        vocabulary = os.path.join(folder, "vocab.txt")
        if not os.path.exists(vocabulary):
            raise ValueError(f"'{folder}' holds no vocab.txt: not a BERT tokenizer folder.")
        settings = {}
        fast = os.path.join(folder, "tokenizer.json")
        if os.path.exists(fast):
            with open(fast, encoding="utf-8") as f:
                tokenizer_json = json.load(f)
            model = tokenizer_json.get("model") or {}
            normalizer = tokenizer_json.get("normalizer") or {}
            if model.get("type") not in (None, "WordPiece"):
                raise ValueError(f"'{fast}': a {model.get('type')} tokenizer, not WordPiece.")
            if normalizer.get("type") == "BertNormalizer":
                settings.update(
                    do_lower_case=normalizer.get("lowercase", True),
                    strip_accents=normalizer.get("strip_accents"),
                    tokenize_chinese_chars=normalizer.get("handle_chinese_chars", True),
                )
            settings["max_input_chars_per_word"] = model.get("max_input_chars_per_word", 100)
        config_file = os.path.join(folder, "tokenizer_config.json")
        if os.path.exists(config_file):
            with open(config_file, encoding="utf-8") as f:
                settings.update(json.load(f))
        if not settings.get("never_split"):  # `never_split: []` means none too
            settings.pop("never_split", None)
        unsupported = [
            f"{key}={settings[key]!r}"
            for key, wanted in (
                ("tokenize_chinese_chars", True),
                ("do_basic_tokenize", True),
                ("never_split", None),
            )
            if settings.get(key, wanted) != wanted
        ]
        for name, token in zip(("pad", "unk", "cls", "sep", "mask"), SPECIAL_TOKENS):
            given = settings.get(f"{name}_token", token)
            given = given.get("content") if isinstance(given, dict) else given
            if given != token:
                unsupported.append(f"{name}_token={given!r} (must be {token!r})")
        if unsupported:
            raise ValueError(
                f"'{folder}': this tokenizer cannot reproduce {', '.join(unsupported)}."
            )
        lowercase = bool(settings.get("do_lower_case", True))
        arguments = dict(
            lowercase=lowercase,
            strip_accents=settings.get("strip_accents"),
            max_word_length=settings.get("max_input_chars_per_word", 100),
        )
        arguments.update(kwargs)
        return cls(vocabulary, **arguments)

    def save_pretrained(self, path, model_max_length=None):
        """Writes `vocab.txt`, `tokenizer_config.json` and `special_tokens_map.json` to the
        folder `path`, which `from_pretrained` and transformers' `AutoTokenizer` read.

        Args:
            path: the folder, created if needed.
            model_max_length: int, the longest input of the model the tokenizer serves.
        """
        os.makedirs(path, exist_ok=True)
        self.save_vocabulary(os.path.join(path, "vocab.txt"))
        special = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"),
                           SPECIAL_TOKENS))
        config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.lowercase,
            "strip_accents": None if self.strip_accents == self.lowercase else self.strip_accents,
            "tokenize_chinese_chars": True,
            "do_basic_tokenize": True,
            **special,
        }
        if model_max_length is not None:
            config["model_max_length"] = model_max_length
        for name, content in (
            ("tokenizer_config.json", config), ("special_tokens_map.json", special)
        ):
            with open(os.path.join(path, name), "w", encoding="utf-8") as f:
                json.dump(content, f, indent=2)

    @classmethod
    def train(
        cls,
        texts_or_files,
        vocabulary_size=8000,
        lowercase=True,
        strip_accents=None,
        max_lines=1_000_000,
        seed=0,
        **kwargs,
    ):
        """Learns a WordPiece vocabulary from text and returns a tokenizer that uses it.

        Uses tensorflow-text's WordPiece learner (the one keras-hub's
        `compute_word_piece_vocabulary` wraps), on words normalized and split as this
        tokenizer splits them. The vocabulary starts with `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`,
        `[MASK]` (ids 0-4), then every character of the corpus and of `ALWAYS_SPELLED`
        (printable ASCII, Latin-1, typographic punctuation), alone and as a `##`
        continuation, so unseen text such as HTML tags never becomes `[UNK]`; then the
        learned pieces, most frequent first. It holds exactly `vocabulary_size` tokens, unless
        the corpus has fewer pieces to learn (every piece seen is then in it).

        Args:
            texts_or_files: a file path or glob, a list of paths (one document a line), a list
                of texts, or a `tf.data.Dataset` of scalar strings.
            vocabulary_size: int, the vocabulary size to learn.
            lowercase, strip_accents: as for the constructor; the vocabulary is learned on text
                normalized the same way.
            max_lines: a corpus with more lines (lists and files; a dataset is used as given) is
                sampled down to about this many random lines; files are streamed, never loaded.
            seed: seed of that sample.
            **kwargs: passed to the constructor.

        Example:
        ```python
        import kerasnlm as knlm

        tokenizer = knlm.tokenizers.WordPieceTokenizer.train(
            knlm.data.samples.english_text("valid"), vocabulary_size=1000)
        tokenizer.save_vocabulary("vocab.txt")
        ```
        """
        if not isinstance(vocabulary_size, int) or vocabulary_size <= len(SPECIAL_TOKENS):
            raise ValueError(
                f"`vocabulary_size` must be an int > {len(SPECIAL_TOKENS)}; received "
                f"{vocabulary_size!r}."
            )
        strip = lowercase if strip_accents is None else strip_accents
        lines = readers.text_dataset(texts_or_files, max_lines=max_lines, seed=seed)
        words = lines.batch(1024).map(
            lambda batch: split_words(batch, lowercase, strip).flat_values,
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        try:
            counts = learner.count_words(words)
        except StopIteration:  # It found no word at all.
            raise ValueError("`texts_or_files` holds no text to learn a vocabulary from.") from None
        # A character the corpus lacks joins as a word seen once: the learner gives every
        # character of its input a piece and a `##` piece, and a count of one adds no other.
        for character in _always_spelled(lowercase, strip):
            counts.setdefault(character, 1)
        vocabulary = _learn_vocabulary(counts, vocabulary_size)
        return cls(vocabulary, lowercase=lowercase, strip_accents=strip_accents, **kwargs)
