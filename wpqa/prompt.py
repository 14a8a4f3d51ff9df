"""The one place prompts are formatted: training, evaluation and `wpqa ask` all call it.

When the tokenizer has a chat template (instruct models from the hub: Qwen2, Mistral
Instruct, Llama 3 …), the question is one user turn rendered by that template with the
generation prompt for the assistant turn, so the model is asked the way it was
instruction-tuned. Otherwise (base models, the tiny offline model) the plain template:

    Question: How do I install a plugin?
    Answer:
    To install a plugin, follow these steps:
    1. ...

The plain prompt ends with a newline so the answer's intro starts on its own line, just
as the first line of a curated answer does. Either way the prompt and the answer are
tokenized separately (a byte-level BPE merge never spans the boundary), and the answer
is followed by the tokenizer's EOS, which ends the assistant turn in the chat templates
of the supported architectures. With the plain template the tokenizer's BOS token, when
it has one, is prepended explicitly rather than left to each tokenizer's post-processor;
a chat template writes its own BOS into the text, so nothing is added.
"""
from __future__ import annotations

PROMPT_TEMPLATE = "Question: {question}\nAnswer:\n"


def clean_question(question: str) -> str:
    """The question on one line, surrounding whitespace removed."""
    return " ".join(question.split())


def format_prompt(question: str) -> str:
    """The plain-template prompt text for one question."""
    return PROMPT_TEMPLATE.format(question=clean_question(question))


def plain_chat_template() -> str:
    """The plain template as a Jinja chat template, for trainers that render prompts through
    one (TRL, axolotl): BOS, the user turn as `PROMPT_TEMPLATE`, the assistant turn + EOS."""
    user = PROMPT_TEMPLATE.replace("{question}", "{{ message['content'] }}")
    return ("{{ bos_token or '' }}{% for message in messages %}"
            "{% if message['role'] == 'user' %}" + user + "{% elif "
            "message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}{% endif %}"
            "{% endfor %}")


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_messages(question: str, system_prompt: str = "") -> list[dict[str, str]]:
    """The question as chat messages (an optional system turn, then the user turn)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": clean_question(question)}]


def prompt_text(tokenizer, question: str) -> str:
    """The prompt as text, as the model sees it (for display and logs)."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(chat_messages(question), tokenize=False,
                                             add_generation_prompt=True)
    return format_prompt(question)


def encode_prompt(tokenizer, question: str) -> list[int]:
    """Prompt token ids: the chat template's rendering, or BOS + the plain prompt."""
    if has_chat_template(tokenizer):
        text = prompt_text(tokenizer, question)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    ids = tokenizer(format_prompt(question), add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    return ([bos] if bos is not None else []) + list(ids)


def encode_answer(tokenizer, answer: str) -> list[int]:
    """Answer token ids without any special token; the caller appends EOS."""
    return list(tokenizer(answer.strip(), add_special_tokens=False)["input_ids"])
