"""Writes a tiny word-level Hugging Face tokenizer (run with GuideLLM's Python).

GuideLLM needs a processor to make synthetic prompts and count tokens, and downloads one
from the Hub by default; this machine has no Hub. The words are the mock server's.
"""

import sys

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

words = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "cheap",
    "models",
    "stream",
    "tokens",
    "to",
    "one",
    "patient",
    "benchmark",
    "that",
    "counts",
    "every",
    "millisecond",
]
vocab = {"[UNK]": 0, "</s>": 1, **{w: i + 2 for i, w in enumerate(words)}}
tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="</s>").save_pretrained(
    sys.argv[1]
)
