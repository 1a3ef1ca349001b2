"""Readers: text files in common formats -> Python lists, and text -> a streaming `tf.data`.

The `read_*` functions load a whole (small, labelled) file into Python lists: SST-style TSV,
CSV, JSON lines, CoNLL columns, tab-separated translation pairs. Every error names the file
and, where it applies, the 1-based line number.

`text_dataset` is for corpora of any size: it streams plain-text files line by line with
`tf.data` (several files are interleaved), so memory stays constant however large they are.
"""

import csv
import glob
import io
import json
import os
import random
import re
import stat

import tensorflow as tf

SHUFFLE_BUFFER_LINES = 10_000


class MissingFileError(FileNotFoundError, ValueError):
    """A file that does not exist. Also a `ValueError`, which these readers raised before."""


class DirectoryGivenError(IsADirectoryError, ValueError):
    """A directory where a file is needed. Also a `ValueError`, as `MissingFileError`."""


# Suffixes that make a one-word string a file name rather than a text (see `_looks_like_path`).
PATH_SUFFIXES = frozenset(
    ".txt .text .tsv .csv .json .jsonl .ndjson .conll .conllu .iob .bio .md .vocab "
    ".gz .bz2 .xz .zst .zip".split()
)


def _file_status(path):
    """`"file"`, `"directory"`, `"special"` (a FIFO, socket or device) or `"missing"`."""
    try:
        mode = os.stat(path).st_mode
    except PermissionError:
        raise  # names the path, and "missing" would be wrong
    except (OSError, ValueError):  # no such file, a name too long, a NUL character...
        return "missing"
    if stat.S_ISREG(mode):
        return "file"
    return "directory" if stat.S_ISDIR(mode) else "special"


def _not_a_file(path, status, context="", advice=""):
    """The error for a path whose `_file_status` is not `"file"`, naming what it is instead.

    `context` starts the message (the argument, the list index); `advice` ends it.
    """
    if status == "directory":
        return DirectoryGivenError(
            f"{context}'{path}' is a directory, not a file. Name a file in it (a text corpus "
            f"also takes a glob, e.g. 'folder/*.txt').{advice}"
        )
    if status == "special":
        # Reading a FIFO or a terminal would block until someone writes to it.
        return ValueError(
            f"{context}'{path}' is not a regular file (a FIFO, socket or device). Save its "
            f"content to a file and pass that.{advice}"
        )
    if path.startswith("~"):
        advice = " ('~' is not expanded: use os.path.expanduser.)" + advice
    if context:
        return MissingFileError(f"{context}'{path}' is not a file: no such file.{advice}")
    return MissingFileError(f"File not found: '{path}'.{advice}")


def _check_file(path):
    """Returns `path` as a str; raises if it is not an existing, non-empty regular file."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected a file path (str or os.PathLike); received {path!r}.")
    path = os.fspath(path)
    status = _file_status(path)
    if status != "file":
        raise _not_a_file(path, status)
    if os.path.getsize(path) == 0:
        raise ValueError(f"File '{path}' is empty.")
    return path


def lines(path):
    """Yields `(line_number, text)` for each line of a UTF-8 file, without the line ending.

    Every reader and the tokenizer read files through this one function, so a file that is
    missing, a directory or not UTF-8 gets the same error everywhere.
    """
    path = _check_file(path)
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"'{path}', line {number}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at "
                    f"column {e.start + 1}). Re-encode the file as UTF-8."
                ) from None
            if number == 1:
                text = text.removeprefix("\ufeff")  # the byte-order mark some editors write
            yield number, text.rstrip("\r\n")


def read_text(path, mode="lines"):
    """Reads a plain-text file into a list of documents.

    Args:
        path: a UTF-8 text file.
        mode: `"lines"`: each non-blank line is a document (stripped of surrounding
            whitespace). `"paragraphs"`: documents are separated by blank (or
            whitespace-only) lines; the lines of one paragraph are joined with `"\\n"`.

    Returns:
        A non-empty list of str.

    Example:
    ```python
    import kerasnlm as knlm

    lines = knlm.data.read_text(knlm.data.samples.english_text("valid"))
    len(lines)  # 1000
    ```
    """
    if mode not in ("lines", "paragraphs"):
        raise ValueError(f"`mode` must be 'lines' or 'paragraphs'; received {mode!r}.")
    documents, paragraph = [], []
    for _, line in lines(path):
        line = line.strip()
        if mode == "lines":
            if line:
                documents.append(line)
        elif line:
            paragraph.append(line)
        elif paragraph:
            documents.append("\n".join(paragraph))
            paragraph = []
    if paragraph:
        documents.append("\n".join(paragraph))
    if not documents:
        raise ValueError(f"File '{path}' holds no text: every line is blank.")
    return documents


# An integer class id written as text: ASCII digits only, so that "1_0" (which `int` reads as
# 10) or "١" (an Arabic-Indic one) stays a string label instead of becoming a number.
_INTEGER = re.compile(r"[-+]?[0-9]+")


def _check_column_names(text_column, label_column, text_pair_column):
    if not isinstance(text_column, str):
        raise TypeError(f"`text_column` must be a column name (str); received {text_column!r}.")
    for setting, name in (("label_column", label_column), ("text_pair_column", text_pair_column)):
        if name is not None and not isinstance(name, str):
            raise TypeError(
                f"`{setting}` must be a column name (str) or None; received {name!r}."
            )


def _shown(value, limit=60):
    """A JSON value as the file spells it, cut short: an error message stays one line."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text_field(path, number, name, value):
    """A text field, stripped; an error naming file, line and column if it is no usable text."""
    where = f"'{path}', line {number}, column '{name}'"
    if not isinstance(value, str):
        raise TypeError(f"{where}: expected a text (a JSON string); received {_shown(value)}.")
    value = value.strip()
    if not value:
        raise ValueError(f"{where}: the text is blank. Remove the line or fill in the text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate, which JSON's "\ud800" escape allows
        raise ValueError(
            f"{where}: the text holds a lone surrogate (U+{ord(value[e.start]):04X}), which "
            "is not a character; fix the file's escapes."
        ) from None
    return value


def _label_field(path, number, name, value):
    """A label: an int, or a non-blank stripped str. Nothing else is turned into one."""
    where = f"'{path}', line {number}, column '{name}'"
    if isinstance(value, (bool, float)):
        # int(1.0) == int(True) == 1 would silently merge them with class 1; 0.5 would become 0.
        kind = "a boolean" if isinstance(value, bool) else "a float"
        raise TypeError(
            f"{where}: label {_shown(value)} is {kind}; a class label must be an integer "
            "or a string. Write the class id as an integer (e.g. 1) or quote it as a string."
        )
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{where}: label {_shown(value)} is not an integer or a string.")
    value = value.strip()
    if not value:
        raise ValueError(
            f"{where}: the label is blank; a blank is not a class. Remove the line or label it."
        )
    return value


def _read_columns(path, rows, text_column, label_column, text_pair_column, no_rows):
    """Picks the named columns out of `(line_number, {column: value})` rows; `no_rows` is the
    message when there is none."""
    text_columns = [name for name in (text_column, text_pair_column) if name is not None]
    names = text_columns + ([label_column] if label_column is not None else [])
    columns = {name: [] for name in names}
    for number, row in rows:
        for name in names:
            value = row.get(name)
            if value is None:
                raise ValueError(
                    f"'{path}', line {number}: no value for column '{name}'. "
                    f"Columns present: {sorted(row)}."
                )
            field = _label_field if name == label_column else _text_field
            columns[name].append(field(path, number, name, value))
    if not columns[text_column]:
        raise ValueError(no_rows)
    outputs = [columns[text_column]]
    if text_pair_column is not None:
        outputs.append(columns[text_pair_column])
    if label_column is not None:
        labels = columns[label_column]
        # Integer class ids are the common case ("0"/"1"); other labels stay strings.
        if all(isinstance(label, int) or _INTEGER.fullmatch(label) for label in labels):
            try:
                labels = [int(label) for label in labels]
            except ValueError:  # more digits than Python converts: an identifier, not a class id
                labels = [str(label) for label in labels]
        else:
            labels = [str(label) for label in labels]
        outputs.append(labels)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _header_rows(path, lines, columns_used):
    """Yields `(line_number, {column: value})` rows of a file whose first line names the columns."""
    header = None
    for number, fields in lines:
        if header is None:
            header = fields
            missing = [c for c in columns_used if c is not None and c not in header]
            if missing:
                raise ValueError(
                    f"'{path}': column '{missing[0]}' not found; the header (line {number}) "
                    f"names {header}."
                )
            continue
        if len(fields) != len(header):
            raise ValueError(
                f"'{path}', line {number}: {len(fields)} fields, but the header has "
                f"{len(header)} ({header})."
            )
        yield number, dict(zip(header, fields))
    if header is None:
        raise ValueError(f"File '{path}' holds no text: every line is blank.")


def read_tsv(path, text_column="sentence", label_column="label", text_pair_column=None):
    """Reads a tab-separated file with a header line (GLUE style, e.g. SST-2).

    Fields are split on TAB with no quoting (GLUE files contain bare `"`).

    Args:
        path: a UTF-8 `.tsv` file whose first line names the columns.
        text_column: column holding the text.
        label_column: column holding the label, or `None` for unlabelled data.
        text_pair_column: column holding the second text of a pair, or `None`.

    Returns:
        `texts`, then `pairs` if `text_pair_column` is given, then `labels` if `label_column`
        is given (a tuple when more than one). Texts are stripped of surrounding whitespace.
        Labels are ints when every label is an integer (ASCII digits), otherwise strs.
        A blank text or label is an error naming the file and line, as is (in JSON lines)
        a label that is a float or a boolean: nothing is coerced into a class.

    Example:
    ```python
    import kerasnlm as knlm

    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("dev"))
    texts[0], labels[0]  # ("it 's a charming and often affecting journey .", 1)
    ```
    """
    _check_column_names(text_column, label_column, text_pair_column)
    fields = ((n, line.split("\t")) for n, line in lines(path) if line.strip())
    rows = _header_rows(path, fields, (text_column, label_column, text_pair_column))
    no_rows = f"File '{path}' holds a header but no rows."
    return _read_columns(path, rows, text_column, label_column, text_pair_column, no_rows)


def read_csv(path, text_column="sentence", label_column="label", text_pair_column=None):
    """Reads a comma-separated file with a header line; standard CSV quoting.

    Arguments and return values are those of `read_tsv`. A quoted field may span lines;
    error messages give the line where a record ends.
    """

    _check_column_names(text_column, label_column, text_pair_column)

    def records():
        text = io.StringIO("\n".join(line for _, line in lines(path)))
        reader = csv.reader(text)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                problem = (
                    "a carriage return (\\r) inside an unquoted field; quote the field or "
                    "remove the character"
                    if "new-line" in str(e)
                    else f"invalid CSV ({e})"
                )
                raise ValueError(f"'{path}', line {reader.line_num}: {problem}.") from None
            if fields and (len(fields) > 1 or fields[0].strip()):  # skip blank lines
                yield reader.line_num, fields

    rows = _header_rows(path, records(), (text_column, label_column, text_pair_column))
    no_rows = f"File '{path}' holds a header but no rows."
    return _read_columns(path, rows, text_column, label_column, text_pair_column, no_rows)


def read_jsonl(path, text_column="text", label_column="label", text_pair_column=None):
    """Reads a JSON-lines file: one JSON object a line, columns are its keys.

    Arguments and return values are those of `read_tsv`.
    """

    _check_column_names(text_column, label_column, text_pair_column)

    def rows():
        for number, line in lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"'{path}', line {number}: invalid JSON ({e.msg}).") from None
            except (ValueError, RecursionError) as e:  # a 5000-digit number, deep nesting
                problem = "nested too deeply" if isinstance(e, RecursionError) else str(e)
                raise ValueError(f"'{path}', line {number}: invalid JSON ({problem}).") from None
            if not isinstance(row, dict):
                raise ValueError(f"'{path}', line {number}: expected a JSON object.")
            yield number, row

    no_rows = f"File '{path}' holds no JSON rows: every line is blank."
    return _read_columns(path, rows(), text_column, label_column, text_pair_column, no_rows)


def read_conll(path, token_column=0, tag_column=-1):
    """Reads a CoNLL-style column file into sentences of tokens and tags.

    One token a line, columns separated by TAB (or, when a line has no TAB, by spaces).
    A blank or whitespace-only line (WNUT-17 uses a lone TAB) ends a sentence; `-DOCSTART-`
    lines mark document boundaries and are skipped. Every token line must have the same
    number of columns (at least two), and a non-blank token and tag.

    Args:
        path: a UTF-8 CoNLL file.
        token_column: index of the token column.
        tag_column: index of the tag column (the last by default).

    Returns:
        `(token_lists, tag_lists)`: two lists of lists of str, one inner list per sentence.

    Example:
    ```python
    import kerasnlm as knlm

    tokens, tags = knlm.data.read_conll(knlm.data.samples.wnut17("train"))
    tokens[0][:3], tags[0][:3]
    ```
    """
    for setting, index in (("token_column", token_column), ("tag_column", tag_column)):
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"`{setting}` must be a column index (int); received {index!r}.")
    token_lists, tag_lists, tokens, tags = [], [], [], []
    num_columns = None
    for number, line in lines(path):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if tokens:
                token_lists.append(tokens)
                tag_lists.append(tags)
                tokens, tags = [], []
            continue
        fields = line.split("\t") if "\t" in line else line.split(" ")
        if num_columns is None:
            num_columns = len(fields)
            if num_columns < 2:
                raise ValueError(
                    f"'{path}', line {number}: a CoNLL line needs a token and a tag column; "
                    f"found 1 column in {line!r}."
                )
            for setting, index in (("token_column", token_column), ("tag_column", tag_column)):
                if not -num_columns <= index < num_columns:
                    raise ValueError(
                        f"`{setting}={index}` is out of range: '{path}' has {num_columns} "
                        f"columns (line {number}: {line!r})."
                    )
        if len(fields) != num_columns:
            raise ValueError(
                f"'{path}', line {number}: {len(fields)} columns, but the file's first token "
                f"line has {num_columns}: {line!r}."
            )
        if not fields[token_column].strip():
            raise ValueError(f"'{path}', line {number}: empty token in {line!r}.")
        if not fields[tag_column].strip():
            # Usually a tag lost in an export; an empty string must not become a tag class.
            raise ValueError(
                f"'{path}', line {number}: empty tag for token {fields[token_column]!r} in "
                f"{line!r}. Every token line needs a tag (e.g. 'O')."
            )
        tokens.append(fields[token_column])
        tags.append(fields[tag_column])
    if tokens:
        token_lists.append(tokens)
        tag_lists.append(tags)
    if not token_lists:
        raise ValueError(f"File '{path}' holds no sentences.")
    return token_lists, tag_lists


def read_parallel(path):
    """Reads tab-separated translation pairs: `source<TAB>target` a line.

    Extra columns (Anki/Tatoeba releases add an attribution column) are ignored; blank lines
    are skipped.

    Returns:
        `(sources, targets)`: two lists of str of equal length.

    Example:
    ```python
    import kerasnlm as knlm

    english, spanish = knlm.data.read_parallel(knlm.data.samples.spa_eng())
    ```
    """
    sources, targets = [], []
    for number, line in lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            raise ValueError(
                f"'{path}', line {number}: expected 'source<TAB>target'; received {line!r}."
            )
        sources.append(fields[0].strip())
        targets.append(fields[1].strip())
    if not sources:
        raise ValueError(f"File '{path}' holds no sentence pairs.")
    return sources, targets


def resolve_texts(texts_or_files):
    """Tells files from in-memory text: returns `("files", paths)`, `("texts", texts)` or
    `("dataset", dataset)`, after validating them.

    A str is a file path or a glob pattern (`"shards/*.txt"`). A list is a list of files when
    any item is an existing file or an `os.PathLike`, or when every non-blank item looks like
    a path (`_looks_like_path`, or an existing directory or FIFO); then every item must be
    an existing regular file. Any other list of str is text, one document an item. So
    `["corpus_typo.txt"]` is a missing file, not the text "corpus_typo.txt"; texts that look
    like file names can be passed as a `tf.data.Dataset`.
    """
    if isinstance(texts_or_files, tf.data.Dataset):
        spec = texts_or_files.element_spec
        if not (
            isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string and spec.shape.rank == 0
        ):
            raise TypeError(
                "`texts_or_files`: a tf.data.Dataset must yield scalar strings; its elements "
                f"are {spec}. Unbatch it or map it to one text per element."
            )
        return "dataset", texts_or_files
    if isinstance(texts_or_files, (str, os.PathLike)):
        pattern = os.fspath(texts_or_files)
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not paths:
            raise MissingFileError(f"`texts_or_files`: no file matches '{pattern}'.")
        return "files", [_check_has_text(p) for p in paths]
    if not isinstance(texts_or_files, (list, tuple)) or not texts_or_files:
        raise TypeError(
            "`texts_or_files` must be a file path, a non-empty list of file paths or texts, or "
            f"a tf.data.Dataset of strings; received {type(texts_or_files).__name__}."
        )
    for i, item in enumerate(texts_or_files):
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"`texts_or_files[{i}]` must be a str; received {item!r}.")
    # One stat per item that could be a file name; a text with a space in it cannot.
    statuses = [
        _file_status(item) if _is_one_word(item) else "missing" for item in texts_or_files
    ]
    if all(status == "file" for status in statuses):
        return "files", [_check_has_text(p) for p in texts_or_files]
    if "file" in statuses:
        i = next(i for i, status in enumerate(statuses) if status != "file")
        raise _not_a_file(
            os.fspath(texts_or_files[i]),
            statuses[i],
            "`texts_or_files` mixes file paths and other strings: ",
        )
    # Meant as files: a Path object, or a list whose every (non-blank) item names a path. A
    # text list may hold a line "." or "N/A" among its sentences; a list of only such items
    # is not text.
    named = [
        (i, status)
        for i, (item, status) in enumerate(zip(texts_or_files, statuses))
        if not isinstance(item, str) or item.strip()
    ]
    if any(isinstance(item, os.PathLike) for item in texts_or_files) or (
        named
        and all(status != "missing" or _looks_like_path(texts_or_files[i]) for i, status in named)
    ):
        i = next(i for i, status in named if status != "file")
        advice = ""
        if statuses[i] == "missing" and not isinstance(texts_or_files[i], os.PathLike):
            advice = (
                " Every item looks like a file path (one word with a '/' or a file suffix); "
                "if they are texts, pass tf.data.Dataset.from_tensor_slices(texts)."
            )
        raise _not_a_file(
            os.fspath(texts_or_files[i]), statuses[i], f"`texts_or_files[{i}]`: ", advice
        )
    if not any(text.strip() for text in texts_or_files):
        raise ValueError("`texts_or_files`: every text is empty or whitespace.")
    return "texts", list(texts_or_files)


def _is_one_word(item):
    """Whether `item` is an `os.PathLike` or a str without whitespace: possibly a file name."""
    if not isinstance(item, str):
        return True
    return bool(item) and not any(character.isspace() for character in item)


def _looks_like_path(text):
    """Whether a str is meant as a file name: one word with a path separator or a file
    suffix such as `.txt` (see `PATH_SUFFIXES`). A text has spaces; "a/b testing" is text."""
    if not _is_one_word(text):
        return False
    suffix = os.path.splitext(text)[1].lower()
    return "/" in text or "\\" in text or suffix in PATH_SUFFIXES


def _check_has_text(path):
    """Checks that a file exists and holds a non-blank line, reading only up to that line."""
    for _, line in lines(path):
        if line.strip():
            return os.fspath(path)
    raise ValueError(f"File '{path}' holds no text: every line is blank.")


def _file_lines(path, block=1024):
    """Streams the non-blank lines of one file; a non-UTF-8 line fails with file and line.

    Lines are checked and filtered a block at a time: per-line `filter`/`map` functions cost
    tf.data tens of microseconds each, a block-wide op almost nothing.
    """

    def check(index, lines):
        valid = tf.strings.regex_full_match(lines, "(?s).*")  # RE2 fails on invalid UTF-8.
        line = index * block + tf.argmin(tf.cast(valid, tf.int32), output_type=tf.int64) + 1
        # (No quotes around the path: the assertion message would escape them.)
        message = tf.strings.join(
            [path, ", line ", tf.strings.as_string(line), ": not valid UTF-8."]
        )
        with tf.control_dependencies([tf.debugging.Assert(tf.reduce_all(valid), [message])]):
            return tf.boolean_mask(lines, tf.strings.length(tf.strings.strip(lines)) > 0)

    blocks = tf.data.TextLineDataset(path).batch(block).enumerate()
    return blocks.map(check).unbatch()


def _estimated_lines(path, probe_bytes=1 << 20):
    """Line count of a file estimated from its size and the first `probe_bytes`."""
    with open(path, "rb") as f:
        head = f.read(probe_bytes)
    return max(1, os.path.getsize(path) * max(1, head.count(b"\n")) // len(head))


def text_dataset(texts_or_files, shuffle=False, seed=None, max_lines=None):
    """A `tf.data.Dataset` of scalar strings, one document a line, streamed from files.

    Files are read with `TextLineDataset` and interleaved (constant memory, whatever their
    size); blank lines are dropped; a line that is not UTF-8 stops iteration with an error
    naming the file and line. In-memory texts lose their blank items only.

    Args:
        texts_or_files: a file path or glob, a list of paths, a list of texts, or a
            `tf.data.Dataset` of scalar strings (used as is, but for `shuffle`).
        shuffle: whether to shuffle, anew each epoch: in-memory texts fully; files (their
            order, and lines) and datasets within a `SHUFFLE_BUFFER_LINES`-line buffer.
        seed: int seed for shuffling and sampling, for reproducible order.
        max_lines: when a list or files hold more lines, keep a uniform random sample of
            about this many instead (files are still read once, but only the sample goes on).

    Returns:
        A `tf.data.Dataset` of scalar `tf.string`.

    Example:
    ```python
    import kerasnlm as knlm

    lines = knlm.data.text_dataset(knlm.data.samples.english_text(), shuffle=True, seed=1)
    next(iter(lines))  # a tf.string scalar
    ```
    """
    kind, source = resolve_texts(texts_or_files)
    if kind == "dataset":
        return source.shuffle(SHUFFLE_BUFFER_LINES, seed=seed) if shuffle else source
    if kind == "texts":
        texts = [text for text in source if text.strip()]
        if max_lines is not None and len(texts) > max_lines:
            texts = random.Random(seed).sample(texts, max_lines)
        ds = tf.data.Dataset.from_tensor_slices(texts)
        return ds.shuffle(len(texts), seed=seed) if shuffle else ds
    ds = tf.data.Dataset.from_tensor_slices(source)
    if shuffle:
        ds = ds.shuffle(len(source), seed=seed)
    ds = ds.interleave(
        _file_lines,
        cycle_length=min(len(source), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if max_lines is not None:
        keep = max_lines / sum(_estimated_lines(p) for p in source)
        if keep < 1:
            # Keep each line with probability `keep`; blocks of lines, each drawing with its
            # own seed from a seeded stream, so the sample is reproducible and cheap.
            def sample(lines, block_seed):
                draws = tf.random.stateless_uniform(tf.shape(lines), tf.stack([block_seed, 0]))
                return tf.boolean_mask(lines, draws < keep)

            seeds = tf.data.Dataset.random(seed=seed)
            ds = tf.data.Dataset.zip(ds.batch(1024), seeds).map(sample).unbatch()
    if shuffle:
        ds = ds.shuffle(SHUFFLE_BUFFER_LINES, seed=seed)
    return ds
