"""Small real models and data for the train and eval tests, built in a temp folder.

Everything here is made locally in well under a second or two: a few hundred lines of
docs-like text, a byte-level BPE tokenizer trained on them, a Llama-style model a few
thousand parameters wide, list-format Q&A rows, and a params.yaml sized for them.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import yaml

from wpqa.pattern import format_answer

REPO = Path(__file__).resolve().parents[1]

OBJECTS = ["plugin", "theme", "widget", "menu", "page", "post", "user", "comment"]
VERBS = ["install", "update", "delete", "create", "rename", "export"]


def docs_lines() -> list[str]:
    """A few hundred lines of plain documentation prose (no Q&A, no numbered lists)."""
    lines = []
    for verb, obj in itertools.product(VERBS, OBJECTS):
        lines += [
            f"You can {verb} a {obj} from the dashboard at any time.",
            f"Go to the {obj} screen and click the {verb.title()} button.",
            f"When you {verb} a {obj}, WordPress keeps a record of the change.",
            f"Administrators can {verb} every {obj}; editors see only some of them.",
            f"Back up your site before you {verb} a {obj}.",
        ]
    return lines


def section_rows() -> list[dict]:
    """Rows shaped like data/interim/sections.jsonl."""
    lines = docs_lines()
    rows = []
    for i in range(0, len(lines), 5):
        rows.append({
            "section_id": f"s{i}", "url": "https://docs.example.test/doc/",
            "source": "documentation", "page_title": "Doc", "heading": f"Section {i}",
            "heading_path": ["Doc", f"Section {i}"],
            "paragraphs": [" ".join(lines[i:i + 3])], "ordered_lists": [lines[i + 3:i + 5]],
            "unordered_lists": [], "notes": ["Keep a backup."], "has_code": False,
            "troubleshooting": False, "content_hash": f"h{i}",
        })
    return rows


def qa_rows(n: int, offset: int = 0) -> list[dict]:
    """QAPair rows in the list pattern, alternating steps and solutions."""
    rows = []
    for i, (verb, obj) in enumerate(itertools.islice(
            itertools.cycle(itertools.product(VERBS, OBJECTS)), offset, offset + n)):
        if i % 3 == 2:
            question = f"The {obj} does not work after I {verb} it"
            answer = format_answer("solutions", [
                "Clear your browser cache and reload the page.",
                f"Deactivate the {obj} and activate it again.",
                "Restore your site from a recent backup."])
            kind = "solutions"
        else:
            question = f"How do I {verb} a {obj}?"
            answer = format_answer("steps", [
                f"Go to the {obj} screen in the dashboard.",
                f"Click the {verb.title()} button.",
                "Confirm the change when asked."], task=f"{verb} a {obj}")
            kind = "steps"
        rows.append({"id": f"qa{offset + i:04d}", "question": question, "answer": answer,
                     "kind": kind, "source_url": "http://127.0.0.1/doc/", "source": "test",
                     "section_id": f"s{i}", "heading_path": ["Doc"], "content_hash": "0" * 16,
                     "generator": "test"})
    return rows


TINY_BASE = {"model": "tiny", "revision": "", "vocab_size": 400, "hidden_size": 64,
             "layers": 2, "heads": 2, "intermediate_size": 128, "context_length": 256,
             "steps": 8, "batch_size": 4, "lr": 3.0e-3}


def write_params(path: Path, *, lr: float = 1e-2, base: dict | None = None,
                 train: dict | None = None, eval: dict | None = None) -> Path:
    """The repo's params.yaml with the model sections sized for tests."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["lr"] = lr
    raw["base"] = {**raw["base"], **TINY_BASE, **(base or {})}
    raw["train"] = {**raw["train"], "epochs": 2, "batch_size": 4, "max_length": 256,
                    **(train or {})}
    raw["eval"] = {**raw["eval"], "max_new_tokens": 24, **(eval or {})}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def make_tiny_base(out: Path, steps: int = 1, seed: int = 0):
    """A tiny tokenizer + Llama model saved like the base stage saves one; returns BaseRef.

    A model that LoRA should visibly improve needs ~40 pretraining steps: with tied,
    untrained embeddings the logits cannot move far from uniform.
    """
    from train.base import build_tiny_base, save_base
    from wpqa.models import resolve_base
    from wpqa.params import BaseParams

    params = BaseParams(**{**TINY_BASE, "steps": steps, "lr": 1e-2})
    model, tokenizer, record = build_tiny_base(section_rows(), params, seed, progress=False)
    save_base(out, model, tokenizer, record)
    return resolve_base(out)


# ------------------------------------------------------- hub-like architectures

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
MISTRAL_INST = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
                "[INST] {{ m['content'] }} [/INST]{% else %}{{ m['content'] }}{{ eos_token }}"
                "{% endif %}{% endfor %}")

# Special tokens as the real tokenizers of these families have them: Llama and Mistral
# have BOS and EOS but no pad token; Falcon has only <|endoftext|>; Qwen2 instruct has a
# ChatML template, ends the assistant turn with <|im_end|> (its EOS) and pads with
# <|endoftext|>. Mistral here carries its [INST] template, with the BOS inside it.
ARCH_TOKENS = {
    "llama": dict(specials=["<s>", "</s>"], bos="<s>", eos="</s>", pad=None, template=None),
    "mistral": dict(specials=["<s>", "</s>"], bos="<s>", eos="</s>", pad=None,
                    template=MISTRAL_INST),
    "falcon": dict(specials=["<|endoftext|>"], bos=None, eos="<|endoftext|>", pad=None,
                   template=None),
    "qwen2": dict(specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], bos=None,
                  eos="<|im_end|>", pad="<|endoftext|>", template=CHATML),
}


def arch_tokenizer(arch: str):
    """A byte-level BPE tokenizer with the special tokens of `arch`'s real tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    spec = ARCH_TOKENS[arch]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(docs_lines(), trainer=trainers.BpeTrainer(
        vocab_size=400, special_tokens=spec["specials"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=spec["bos"],
                                        eos_token=spec["eos"], pad_token=spec["pad"])
    if spec["template"]:
        tokenizer.chat_template = spec["template"]
    return tokenizer


def arch_config(arch: str, tokenizer):
    """A tiny config of the architecture; widths are multiples of 64 (bitsandbytes' CPU
    4-bit kernel quantizes each linear layer's input in 64-wide blocks)."""
    from transformers import FalconConfig, LlamaConfig, MistralConfig, Qwen2Config

    common = dict(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2,
                  num_attention_heads=2, bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if arch == "falcon":  # the MLP is 4 x hidden = 256 wide; multi-query attention
        return FalconConfig(**common)
    cls = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}[arch]
    return cls(**common, intermediate_size=128, num_key_value_heads=1,
               max_position_embeddings=512)


def make_arch_model(arch: str, out: Path, seed: int = 0) -> Path:
    """A random-weight model of `arch` with its tokenizer, saved like a hub download."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = arch_tokenizer(arch)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(arch_config(arch, tokenizer))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
