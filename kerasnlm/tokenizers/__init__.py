"""Tokenizers: WordPiece over tensorflow-text."""

from kerasnlm.tokenizers.word_piece_tokenizer import SPECIAL_TOKENS
from kerasnlm.tokenizers.word_piece_tokenizer import WordPieceTokenizer
