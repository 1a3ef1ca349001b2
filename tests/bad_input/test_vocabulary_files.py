"""Vocabularies holding tokens the tokenizer can never produce are refused, naming the token
and where it is (issue 20, class 3: nothing is invented or coerced)."""

import pytest

from kerasnlm.data import samples
from kerasnlm.tokenizers import WordPieceTokenizer
from kerasnlm.tokenizers.word_piece_tokenizer import SPECIAL_TOKENS

BASE = list(SPECIAL_TOKENS) + ["the", "cat", "##s", "."]


@pytest.mark.parametrize(
    "extra, lowercase, message",
    [
        (["new york"], False, r"line 10: vocabulary token 'new york' contains whitespace"),
        (["tab\there"], False, r"line 10: .*'tab\\there' contains whitespace"),
        (["cat "], False, r"line 10: .*'cat ' contains whitespace"),
        (["cat"], False, r"holds 'cat' twice: '.*vocab.txt', line 7 and '.*vocab.txt', line 10"),
    ],
)
def test_vocabulary_file_with_an_impossible_token_is_refused(tmp_path, extra, lowercase, message):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(BASE + extra) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        WordPieceTokenizer(str(path), lowercase=lowercase)


@pytest.mark.parametrize(
    "extra, lowercase, message",
    [
        (["two words"], False, r"`vocabulary\[9\]`: .*'two words' contains whitespace"),
        (["."], False, r"holds '\.' twice: `vocabulary\[8\]` and `vocabulary\[9\]`"),
    ],
)
def test_vocabulary_list_with_an_impossible_token_is_refused(extra, lowercase, message):
    with pytest.raises(ValueError, match=message):
        WordPieceTokenizer(BASE + extra, lowercase=lowercase)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["Cat"], r"1 of the 10 vocabulary tokens have an uppercase letter, e\.g\. 'Cat' "
                  r"\('.*vocab.txt', line 10\).*lowercase=False"),
        (["##Ing", "Dog"], r"2 of the 11 .* '##Ing' \('.*', line 10\), 'Dog' \('.*', line 11\)"),
    ],
)
def test_uppercase_tokens_under_lowercase_are_named_in_a_warning(tmp_path, extra, message):
    # Lowercased input can never produce them: a cased vocabulary read with lowercase=True
    # would leave those rows unused without a word.
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(BASE + extra) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=message):
        WordPieceTokenizer(str(path), lowercase=True)


def test_cased_and_special_tokens_stay_valid(recwarn):
    # A cased vocabulary is fine without lowercasing, and bracketed special tokens (BERT's
    # [unused0]...) are never lowercased input, so they pass under lowercase=True too.
    cased = WordPieceTokenizer(BASE + ["Cat"], lowercase=False)
    assert cased(["Cat"]).numpy().tolist() == [[9]]
    bert_layout = WordPieceTokenizer(BASE + ["[unused0]", "[MyToken]"], lowercase=True)
    assert bert_layout.vocabulary_size == 11
    bundled = WordPieceTokenizer(samples.vocabulary())
    assert bundled.vocabulary_size == 3886
    assert not [w for w in recwarn if "uppercase" in str(w.message)]
