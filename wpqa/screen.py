"""Text that addresses an AI model or the reader's tools instead of the product's user.

Scraped pages are untrusted input to an LLM and to a training set. A section whose text
speaks to "the assistant processing this page", asks a model to ignore its instructions
(in English, French, Spanish, German, Portuguese or Italian) or carries chat-template
tokens is held back by every generate backend as `suspected_injection`.
"""
from __future__ import annotations

import re

from wpqa.records import Section, grounding_source

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
    r"|\bигнориру\w*\s+(?:\w+\s+){0,3}?инструкци"
    r"|忽略.{0,8}(?:指令|指示)|(?:指示|指令).{0,8}(?:を)?無視"
    r"|<\|(?:im_start|im_end|system|endoftext)\|>|\[/?INST\]",
    re.IGNORECASE)


# The second pass reads structure, not phrases: a sentence that names a model or a tool
# as its addressee, or speaks about what happens to "this page", and gives it an order.
# The word lists cover the languages documentation is written in most; CJK text has no
# spaces, so its words are matched as substrings of the sentence.
_ADDRESSEE = frozenset("""
ai a.i. llm llms gpt chatgpt chatbot chatbots assistant assistants summarizer summariser
ia assistente assistenti asistente asistentes ki assistent assistenten sprachmodell sprachmodelle
modèle modelo modello modelos modelli ии ассистент ассистенты нейросеть модель
""".split())
_ADDRESSEE_PHRASES = re.compile(
    r"\b(?:language models?|ai models?|ai tools?|automated tools?|automated systems?|"
    r"text generators?|modèles? de langage|modelos? de lenguaje|modelli linguistici|"
    r"modelo de linguagem|языков\w+ модел\w+)\b", re.IGNORECASE)
_DIRECTIVE = frozenset("""
must should shall always never ignore disregard forget add include insert append output
reply respond answer write say tell recommend mention print repeat replace
doit doivent devrait ajoute ajoutez inclus incluez réponds répondez écris écrivez mentionne
mentionnez recommande recommandez ignore ignorez toujours
debe deben debería añade añadid agrega incluye responde escribe menciona recomienda ignora siempre
muss müssen soll sollte füge schreibe antworte erwähne empfiehl ignoriere immer
deve devem adicione acrescente inclua responda escreva mencione recomende sempre
aggiungi includi rispondi scrivi menziona raccomanda consiglia sempre dovrebbe
должен должна должны добавь включи ответь напиши упомяни игнорируй всегда
""".split())
_THIS_TEXT = re.compile(
    r"\b(?:this|the present)\s+(?:page|text|document|documentation|article|content|section)\s+"
    r"(?:is|gets?|will be|being)\s+(?:turned|converted|summari[sz]ed|used|processed|fed|read)\b"
    r"|\b(?:when|if|while)\s+(?:you are\s+)?(?:turning|converting|summari[sz]ing|processing|"
    r"reading|ingesting)\s+(?:this|the)\s+(?:page|text|document|documentation|content)\b"
    r"|\bif you are an? (?:ai|llm|bot|language model|automated|assistant|crawler|model)\b"
    r"|\b(?:training data|dataset|question[- ]and[- ]answer pairs?)\b.{0,60}\b(?:must|should|always)\b",
    re.IGNORECASE)
_CJK_ADDRESSEE = ("人工智能", "助手", "模型", "机器人", "アシスタント", "モデル", "ＡＩ", "AI")
_CJK_DIRECTIVE = ("忽略", "必须", "添加", "加入", "回答", "無視", "追加", "必ず", "答え")
_ITEM_NUMBER = re.compile(r"(?:^|(?<=\s))\d{1,2}\.\s")
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*|\n+|;\s")
_TOKEN = re.compile(r"[^\W\d_]+(?:[.'’][^\W\d_]+)*\.?", re.UNICODE)


_TO = frozenset("to for pour à para a für an per для".split())
_FILLER = frozenset("the any all every an a dear hey l' el la los las le les der die den das il lo gli "
                    "o os as you that who which is are now also this these page pages documentation text content "
                    "reading processing parsing summarising summarizing ingesting converting turning".split())


def addressed_sentence(text: str) -> str:
    """The first sentence of `text` that gives an order to a model or a tool, or "".

    Structure, not phrases: the model is the subject right before the order ("AI
    assistants must …", "l'assistant IA doit …"), is called on ("Assistant, add …",
    "Note pour l'assistant : ajoute …"), or the sentence speaks about what happens to
    this page ("When this page is turned into questions, always …"). A model named as
    a thing ("the bot protection plugin should …") is none of these.
    """
    for sentence in _SENTENCE.split(text):
        if any(a in sentence for a in _CJK_ADDRESSEE) and any(d in sentence for d in _CJK_DIRECTIVE):
            return sentence.strip()
        marked = _ADDRESSEE_PHRASES.sub(" ai ", sentence)
        words = [w.lower() for w in _TOKEN.findall(marked)]
        words = [w if w == "a.i." else w.rstrip(".") for w in words]
        if not any(w in _DIRECTIVE for w in words):
            continue
        if _THIS_TEXT.search(sentence):
            return sentence.strip()
        for i, word in enumerate(words):
            if word not in _ADDRESSEE:
                continue
            after = [w for w in words[i + 1:i + 6] if w not in _FILLER and w not in _ADDRESSEE]
            before = [w for w in words[max(0, i - 4):i] if w not in _FILLER and w not in _ADDRESSEE]
            # "AI assistants must …", "chatbots answering this question should …"
            subject = bool(after) and (after[0] in _DIRECTIVE or after[0].endswith("ing") and any(
                w in _DIRECTIVE for w in after[1:5]))
            called = not before and re.search(rf"(?i)\b{re.escape(word)}\b\s*[:,]", marked) is not None
            spoken_to = bool(before) and before[-1] in _TO
            if subject or called or spoken_to:
                return sentence.strip()
    return ""


def injection_phrase(text: str) -> str:
    """The phrase that makes `text` look like instructions to a model, or ""."""
    # List numbers out: an order split over two items ("… this page:" / "2. always add …")
    # reads as one sentence, as it does to a model.
    text = _ITEM_NUMBER.sub(" ", " ".join(text.split()))
    match = INJECTION.search(text)
    return match.group(0) if match else addressed_sentence(text)


def section_injection(section: Section) -> str:
    """The phrase that makes a section look like instructions to a model, or "": read over
    everything an item could carry from it (page title, every heading above it, its
    text), so an order in a parent heading cannot reach a child's question."""
    return injection_phrase(grounding_source(section))


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
