"""Text that addresses an AI model or the reader's tools instead of the product's user.

Scraped pages are untrusted input to an LLM and to a training set. A section whose text
speaks to "the assistant processing this page", asks a model to ignore its instructions
(in English, French, Spanish, German, Portuguese or Italian) or carries chat-template
tokens is held back by every generate backend as `suspected_injection`.
"""
from __future__ import annotations

import re

_MODEL = r"(?:ai|a\.i\.|assistant|chatbot|bot|llm|language model|model|gpt|agent)s?"
INJECTION = re.compile(
    # English: override requests and text that speaks to the model reading it.
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|"
    r"above|earlier|preceding|your|other)\s+(?:instructions|prompts?|rules|directions)"
    r"|\b(?:system prompt"
    r"|you are now (?:a|an|acting|playing|free|in developer mode|(?-i:[A-Z]{2,}))\b"
    r"|as an ai (?:language )?model|new instructions\b"
    r"|instructions (?:from|for) (?:the )?(?:system|developer|ai|assistant|language model)s?\b"
    r"|(?:note|message) (?:to|for) (?:the |any )?" + _MODEL + r"\b)"
    r"|\b(?:the|any|an?)\s+" + _MODEL + r"\s+(?:that is\s+|who is\s+)?(?:processing|reading|"
    r"summari[sz]ing|parsing|converting|handling|ingesting)\s+(?:this|these|the)\b"
    r"|\b(?:ai|assistant|chatbot|llm|language model)s?\s+(?:should|must|shall|will)\s+"
    r"(?:now\s+|always\s+|also\s+)?(?:ignore|say|write|output|add|include|insert|reply|"
    r"respond|answer|append|mention|recommend|tell)\b"
    # Other languages: "ignore (all) previous instructions", "the assistant must/should".
    r"|\bignor(?:ez|a|iere|ieren|iert|are|ate)\s+(?:\w+\s+){0,3}?(?:instructions|"
    r"instrucciones|instruções|instrucoes|anweisungen|istruzioni|consignes)"
    r"|\bignore\s+(?:todas\s+)?as\s+(?:\w+\s+)?instruç(?:õ|o)es"
    r"|\b(?:l'assistant|el asistente|der assistent|o assistente|l'assistente)\s+(?:doit|debe|"
    r"muss|deve|devrait|debería|sollte|dovrebbe)\b"
    r"|<\|(?:im_start|im_end|system|endoftext)\|>|\[/?INST\]",
    re.IGNORECASE)


def injection_phrase(text: str) -> str:
    """The phrase that makes `text` look like instructions to a model, or ""."""
    match = INJECTION.search(" ".join(text.split()))
    return match.group(0) if match else ""


_URL = re.compile(r"https?://[^\s)>\]\"']+|\bwww\.[^\s)>\]\"']+"
                  r"|\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|info|biz|co|xyz|app|site|online|"
                  r"ru|cn|tk|top|example|test)\b", re.IGNORECASE)
_SHOUTED = re.compile(r"\b[A-Z]{5,}\b")  # a planted marker word reads like ZEBRA or PWNED


def unsupported_tokens(answer: str, source: str) -> list[str]:
    """URLs, domains and shouted words in `answer` that `source` does not contain.

    An LLM that obeyed text planted in a page, or that invents a link, adds exactly these;
    a step may only carry what its section carries (case aside).
    """
    haystack = source.lower()
    found = [m.group(0).rstrip(".,;:") for m in _URL.finditer(answer)]
    found += _SHOUTED.findall(answer)
    return sorted({token for token in found if token.lower() not in haystack})
