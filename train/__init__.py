"""Model stages: the base model (`base`) and its QLoRA fine-tune (`qlora`, stage `train`)."""
import logging

# bitsandbytes warns on import, on CPUs with AVX512-BF16, that the optional `kernels`
# package is missing; its own CPU kernels are what this project uses offline, so the
# notice is noise in every stage's log.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
