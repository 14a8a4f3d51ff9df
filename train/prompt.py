"""The one prompt template shared by training and evaluation.

A question goes in, the answer comes after:

    Question: How do I install a plugin?
    Answer:
    To install a plugin, follow these steps:
    1. ...

The prompt ends with a newline so the answer's intro starts on its own line, just as
the first line of a curated answer does. Training and evaluation both build prompt
tokens with `encode_prompt`, so the model is asked at eval time with exactly the token
sequence it was trained on: the prompt and the answer are tokenized separately (a
byte-level BPE merge never spans the boundary) and the tokenizer's BOS token, when it
has one, is prepended explicitly rather than left to each tokenizer's post-processor.
"""
from __future__ import annotations

PROMPT_TEMPLATE = "Question: {question}\nAnswer:\n"


def format_prompt(question: str) -> str:
    """The prompt text for one question (surrounding whitespace removed)."""
    return PROMPT_TEMPLATE.format(question=" ".join(question.split()))


def encode_prompt(tokenizer, question: str) -> list[int]:
    """Prompt token ids: BOS (if the tokenizer has one) + the formatted prompt."""
    ids = tokenizer(format_prompt(question), add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    return ([bos] if bos is not None else []) + list(ids)


def encode_answer(tokenizer, answer: str) -> list[int]:
    """Answer token ids without any special token; the caller appends EOS."""
    return list(tokenizer(answer.strip(), add_special_tokens=False)["input_ids"])
