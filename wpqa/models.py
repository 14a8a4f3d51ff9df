"""Loading models, shared by the train and eval stages and the commands on top: where the
base model lives (`resolve_base`, from the base stage's `base.json`), its tokenizer, the
base in 4-bit NF4 (the QLoRA recipe, on CPU and CUDA alike) and the trained adapter on it.
"""
from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

BASE_RECORD = "base.json"
TINY = "tiny"
PACKAGED = "packaged"  # base.json kind of a model converted from a packaged file


class BaseModelError(RuntimeError):
    """The base model cannot be built or found; the message says what to do."""


@dataclass(frozen=True)
class BaseRef:
    """Where train and eval load the base model from."""

    model: str  # a local directory or a hub id
    revision: str | None  # pinned hub revision; None for a local directory
    trust_remote_code: bool = False  # run the model repo's own code (base.trust_remote_code)


def resolve_base(base_dir: str | Path) -> BaseRef:
    """Where to load the base model from, as recorded by this stage in `base_dir`."""
    base_dir = Path(base_dir)
    record_path = base_dir / BASE_RECORD
    if not record_path.is_file():
        raise BaseModelError(f"{record_path}: not found; run the base stage first "
                             "(python -m train.base ...)")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("kind") in (TINY, PACKAGED):
        if not (base_dir / "config.json").is_file():
            raise BaseModelError(f"{base_dir}: base.json says a {record['kind']} model was "
                                 "built here, but there is no config.json; re-run the base stage")
        return BaseRef(model=str(base_dir), revision=None)
    return BaseRef(model=record["model"], revision=record.get("revision") or None,
                   trust_remote_code=bool(record.get("trust_remote_code", False)))


def build_bnb_config(compute_dtype: torch.dtype, quant_storage: torch.dtype | None = None):
    """4-bit NF4 with double quantization: the QLoRA recipe.

    Under FSDP the packed 4-bit weights are stored in the compute dtype, so FSDP can
    shard them together with the bf16 LoRA weights.
    """
    from transformers import BitsAndBytesConfig

    extra = {"bnb_4bit_quant_storage": quant_storage} if quant_storage is not None else {}
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype, **extra)


DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def resolve_precision(setting: str = "auto") -> str:
    """`train.precision` made concrete: auto is bf16 on CUDA (fp16 on GPUs without bf16),
    fp32 on CPU.

    On CPU bitsandbytes dequantizes the 4-bit weights and runs the matmul in the compute
    dtype. bf16 is fast only on CPUs with AVX512-BF16 or AMX (about 15% per training step
    on the 2-core dev machine) and slow everywhere else; fp32 is fast enough on any CPU
    and keeps a tiny model's high-learning-rate training numerically safe.
    """
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def using_fsdp() -> bool:
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")


def compute_setup(precision: str = "auto") -> tuple[torch.dtype, dict[str, str | int] | str | None]:
    """(compute dtype, device_map) for this process.

    One GPU: `auto`. Several processes (accelerate launch, DDP): each loads the whole
    model on its own GPU. FSDP: no device map, FSDP places the shards. CPU: the CPU.
    """
    dtype = DTYPES[resolve_precision(precision)]
    if not torch.cuda.is_available():
        return dtype, {"": "cpu"}
    if using_fsdp():
        return dtype, None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return dtype, {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return dtype, "auto"


# transformers 5 swaps some layers for kernels it downloads from the Hub (e.g.
# kernels-community/rotary on CUDA) unless told not to: unpinned code from the network,
# other numerics than the weights were checked with, and on an offline GPU machine the load
# fails outright. Every model load here passes this.
NO_HUB_KERNELS = {"use_kernels": False}


def load_tokenizer(ref: BaseRef):
    """The base model's tokenizer, with a pad token (its EOS when it has none)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.model, revision=ref.revision,
                                                  trust_remote_code=ref.trust_remote_code)
    except (OSError, ValueError) as err:
        raise BaseModelError(f"cannot load the tokenizer of {ref.model!r}: {err}") from None
    if tokenizer.eos_token_id is None:
        raise BaseModelError(f"{ref.model}: the tokenizer has no EOS token, so answers "
                             "cannot be taught to stop")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_4bit(ref: BaseRef, precision: str = "auto"):
    """The base model with its linear layers in 4-bit NF4 (bitsandbytes Linear4bit)."""
    from transformers import AutoModelForCausalLM

    dtype, device_map = compute_setup(precision)
    storage = dtype if using_fsdp() else None
    try:
        with plain_linear_layers():
            model = AutoModelForCausalLM.from_pretrained(
                ref.model, revision=ref.revision, trust_remote_code=ref.trust_remote_code,
                quantization_config=build_bnb_config(dtype, storage), dtype=dtype,
                device_map=device_map, **NO_HUB_KERNELS)
    except (OSError, ValueError) as err:
        raise BaseModelError(f"cannot load base model {ref.model!r}: {err}") from None
    left = unquantized_linear_layers(model)
    if left:
        raise BaseModelError(
            f"{ref.model}: {len(left)} linear layers were not converted to 4-bit "
            f"(e.g. {left[0]}); this architecture's layers are not plain torch Linear, so "
            "QLoRA would train on the full-precision weights")
    return model


@contextmanager
def plain_linear_layers():
    """Build Falcon with plain `nn.Linear` layers, so transformers quantizes them.

    transformers v5 swaps in bitsandbytes layers only where `type(module) is nn.Linear`;
    Falcon's `FalconLinear` subclass (the same matmul, `x @ W.T + b`) would stay in full
    precision without a word. While the model is built, the name points at nn.Linear.
    """
    try:
        from transformers.models.falcon import modeling_falcon
    except ImportError:
        yield
        return
    original = modeling_falcon.FalconLinear
    modeling_falcon.FalconLinear = torch.nn.Linear
    try:
        yield
    finally:
        modeling_falcon.FalconLinear = original


def unquantized_linear_layers(model) -> list[str]:
    """Names of linear layers inside the decoder that are not 4-bit (the head may be)."""
    import bitsandbytes as bnb

    skip = ("lm_head", "embed_out", "output")
    return [name for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not isinstance(module, bnb.nn.Linear4bit)
            and name.rsplit(".", 1)[-1] not in skip]


@contextmanager
def quiet_peft_deprecation():
    """peft 0.21 calls a transformers method deprecated in v5; the notice is not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing",
                                category=FutureWarning)
        yield


def load_tuned(base_model, adapter_dir: str | Path):
    """The 4-bit base with the trained LoRA adapter attached (switchable off)."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise BaseModelError(f"{adapter_dir}: no adapter_config.json; run the train stage first")
    with quiet_peft_deprecation():
        model = PeftModel.from_pretrained(base_model, adapter_dir)
    model.eval()
    return model
