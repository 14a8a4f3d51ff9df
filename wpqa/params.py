"""Typed, frozen parameters, loaded once and checked at start.

`load_params()` turns params.yaml into one `Params` object. An unknown key, a missing
key or a bad value raises `ParamsError` naming the key and what is allowed, so a typo
fails before any work starts. Floats go through `float()` because YAML 1.1 readers load
`2e-4` as a string.
"""
from __future__ import annotations

import re
import sys
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """A params.yaml problem a user can fix: the message names the key."""


@dataclass(frozen=True)
class ScrapeParams:
    profile: str
    max_pages: int
    user_agent: str
    download_delay: float
    plugin_slugs: tuple[str, ...]
    # The folder the loopback server serves for the sample and snapshot profiles (dvc.yaml
    # passes it as --site-root and tracks it): the bundled site, or a folder of saved REST items.
    site_root: str = "scraping/sample_site"

    def __post_init__(self):
        _one_of("scrape.profile", self.profile, ("sample", "snapshot", "live"))
        if not self.site_root.strip():
            raise ParamsError("scrape.site_root: got an empty path; allowed: a folder "
                              "(scraping/sample_site, or a folder of saved REST items)")
        _at_least("scrape.max_pages", self.max_pages, 1)
        _at_least("scrape.download_delay", self.download_delay, 0.0)
        if not self.user_agent.strip():
            raise ParamsError("scrape.user_agent: must identify the crawler, got an empty string")


@dataclass(frozen=True)
class ExtractParams:
    min_section_words: int

    def __post_init__(self):
        _at_least("extract.min_section_words", self.min_section_words, 0)


@dataclass(frozen=True)
class PatternParams:
    min_items: int
    max_items: int
    min_item_words: int
    max_item_words: int
    max_intro_words: int

    def __post_init__(self):
        _at_least("pattern.min_items", self.min_items, 1)
        _at_least("pattern.max_items", self.max_items, self.min_items, "pattern.min_items")
        _at_least("pattern.min_item_words", self.min_item_words, 1)
        _at_least("pattern.max_item_words", self.max_item_words, self.min_item_words,
                  "pattern.min_item_words")
        _at_least("pattern.max_intro_words", self.max_intro_words, 3)


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """An OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server) and how to
    call it: the one settings type of every LLM the pipeline talks to (`generate.llm`,
    `eval.judge`, the endpoint entries of `eval.models`), turned into a client by
    `wpqa.llm.LLMConfig.for_endpoint` alone.

    The API key is read from the environment variable named by `api_key_env`, never from
    params; "" means the server needs no key. Each role adds its own fields; the price is
    `usd_per_mtok()` (a pair, or a table by model for generate).
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    structured_output: str = "json_schema"  # json_schema | json_object
    concurrency: int = 8
    requests_per_minute: int = 0  # 0: no limit
    tokens_per_minute: int = 0  # 0: no limit
    max_retries: int = 4
    timeout_s: float = 120.0
    max_usd: float = 1.0  # hard cap per run; 0: no cap
    mode: str = "online"  # online | batch (the OpenAI Batch API: results within 24 h)
    batch_poll_s: float = 30.0  # seconds between two looks at a running batch
    batch_price_share: float = 0.5  # the batch price as a share of the online price (OpenAI: half)

    def check_endpoint(self, prefix: str) -> None:
        """The checks every endpoint gets, the errors naming `prefix` (its dotted key)."""
        if not self.base_url.startswith(("http://", "https://")):
            raise ParamsError(f"{prefix}.base_url: got {self.base_url!r}; allowed: an http(s) URL "
                              "ending in /v1, e.g. http://localhost:8000/v1")
        if self.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            raise ParamsError(f"{prefix}.api_key_env: got {self.api_key_env!r}; allowed: the NAME "
                              "of an environment variable (e.g. OPENAI_API_KEY) or \"\", never "
                              "the key itself")
        _one_of(f"{prefix}.structured_output", self.structured_output, ("json_schema", "json_object"))
        _at_least(f"{prefix}.concurrency", self.concurrency, 1)
        _at_least(f"{prefix}.requests_per_minute", self.requests_per_minute, 0)
        _at_least(f"{prefix}.tokens_per_minute", self.tokens_per_minute, 0)
        _at_least(f"{prefix}.max_retries", self.max_retries, 0)
        _positive(f"{prefix}.timeout_s", self.timeout_s)
        _at_least(f"{prefix}.max_usd", self.max_usd, 0.0)
        _one_of(f"{prefix}.mode", self.mode, ("online", "batch"))
        _positive(f"{prefix}.batch_poll_s", self.batch_poll_s)
        if not 0 < self.batch_price_share <= 1:
            raise ParamsError(f"{prefix}.batch_price_share: got {self.batch_price_share!r}; "
                              "allowed: a share of the online price, 0 < share <= 1")

    def usd_per_mtok(self) -> tuple[float, float]:
        """[input, output] USD per million tokens at the online price."""
        raise NotImplementedError


def _price_pair(key: str, pair: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in pair)
        if low < 0 or high < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ParamsError(f"{key}: got {list(pair) if isinstance(pair, tuple) else pair!r}; allowed: "
                          "[input_usd_per_1M, output_usd_per_1M], numbers >= 0") from None
    return low, high


@dataclass(frozen=True, kw_only=True)
class LLMParams(Endpoint):
    """`generate.llm`: the endpoint that writes, judges and paraphrases Q&A."""

    temperature: float = 0.2
    seed: int = 42
    max_tokens: int = 700
    max_usd: float = 2.0  # hard cap per run; 0: no cap
    # USD per million tokens, [input, output], by model name; 0, 0 for a local server.
    prices: dict = field(default_factory=lambda: {"gpt-4o-mini": (0.15, 0.60)})

    def __post_init__(self, prefix: str = "generate.llm"):
        self.check_endpoint(prefix)
        if not self.model.strip():
            raise ParamsError(f"{prefix}.model: must name the model the server serves")
        _fraction_or_two(f"{prefix}.temperature", self.temperature)
        _at_least(f"{prefix}.max_tokens", self.max_tokens, 16)
        if not isinstance(self.prices, dict):
            raise ParamsError(f"{prefix}.prices: expected a mapping of model name to "
                              "[input_usd_per_1M, output_usd_per_1M]")
        object.__setattr__(self, "prices", {str(model): _price_pair(f"{prefix}.prices.{model}", pair)
                                            for model, pair in self.prices.items()})

    def usd_per_mtok(self) -> tuple[float, float]:
        return self.price()

    def price(self, prefix: str = "generate.llm") -> tuple[float, float]:
        """The model's [input, output] USD per million tokens; a clear error when unknown."""
        if self.model not in self.prices:
            raise ParamsError(f"{prefix}.prices: no price for model {self.model!r}; add "
                              f"`{self.model}: [input_usd_per_1M, output_usd_per_1M]` "
                              "(0, 0 for a local server)")
        return self.prices[self.model]


@dataclass(frozen=True)
class GenerateParams:
    backend: str  # rules | openai | hybrid
    min_grounding: float = 0.6  # share of an LLM answer's content words found in its section
    paraphrases: int = 2  # question variants per item (LLM backends); 0: none
    judge: bool = True  # an LLM judge scores every LLM-written item
    judge_min_score: int = 4  # 1..5; items scored lower are rejected as judge_low
    invalid_retries: int = 1  # re-asks after an invalid or off-pattern reply
    llm: LLMParams = field(default_factory=LLMParams)
    unsupported_step: str = "reject"  # an LLM step no passage supports: reject the item | drop the step
    min_step_support: float = 0.6  # share of a step's content words its passage must hold

    def __post_init__(self):
        _one_of("generate.backend", self.backend, ("rules", "openai", "hybrid"))
        if not 0 <= self.min_grounding <= 1:
            raise ParamsError(f"generate.min_grounding: got {self.min_grounding}; allowed: 0 to 1")
        _at_least("generate.paraphrases", self.paraphrases, 0)
        if not 1 <= self.judge_min_score <= 5:
            raise ParamsError(f"generate.judge_min_score: got {self.judge_min_score}; "
                              "allowed: 1 to 5")
        _at_least("generate.invalid_retries", self.invalid_retries, 0)
        _one_of("generate.unsupported_step", self.unsupported_step, ("reject", "drop"))
        if not 0 < self.min_step_support <= 1:
            raise ParamsError(f"generate.min_step_support: got {self.min_step_support}; "
                              "allowed: 0 < f <= 1")
        if self.backend != "rules":
            self.llm.price()


@dataclass(frozen=True)
class ValidateParams:
    min_accepted: int

    def __post_init__(self):
        _at_least("validate.min_accepted", self.min_accepted, 1)


@dataclass(frozen=True)
class SplitParams:
    test_size: float  # a count when >= 1 and whole, else a fraction
    near_dup_threshold: float  # Jaccard of word shingles that makes two items near duplicates
    num_perm: int  # MinHash permutations
    shingle_words: int  # words per shingle
    leak_ngram_words: int  # a run of this many words shared by test and train is a leak
    licenses: dict  # source host -> Hub license id; "*" for any other host

    def __post_init__(self):
        size = self.test_size
        if size <= 0 or (size >= 1 and size != int(size)):
            raise ParamsError(
                f"split.test_size: got {size}; allowed: a whole count >= 1 (e.g. 30) "
                "or a fraction 0 < f < 1 (e.g. 0.06)")
        if not 0 < self.near_dup_threshold <= 1:
            raise ParamsError(f"split.near_dup_threshold: got {self.near_dup_threshold}; "
                              "allowed: 0 < value <= 1 (e.g. 0.7)")
        _at_least("split.num_perm", self.num_perm, 16)
        _at_least("split.shingle_words", self.shingle_words, 1)
        _at_least("split.leak_ngram_words", self.leak_ngram_words, 4)
        if not isinstance(self.licenses, dict) or not self.licenses:
            raise ParamsError("split.licenses: expected a mapping of source host to a Hub license "
                              "id, e.g. {sample.wpqa.test: mit, '*': unknown}")
        from wpqa.hub import HUB_LICENSES
        for host, license_id in self.licenses.items():
            if license_id not in HUB_LICENSES:
                raise ParamsError(f"split.licenses.{host}: got {license_id!r}; allowed: a Hub "
                                  f"license id, e.g. {', '.join(HUB_LICENSES[:12])} … (see "
                                  "https://huggingface.co/docs/hub/repositories-licenses)")

    def test_count(self, n_items: int) -> int:
        """How many items the test split should hold for `n_items` items."""
        if self.test_size >= 1:
            return int(self.test_size)
        return max(1, round(self.test_size * n_items))


@dataclass(frozen=True)
class BaseParams:
    model: str
    revision: str
    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    context_length: int
    steps: int
    batch_size: int
    lr: float
    trust_remote_code: bool = False  # run a hub model's own Python code (off unless set)

    def __post_init__(self):
        if not self.model.strip():
            raise ParamsError("base.model: allowed: 'tiny', a hub id (org/name) or a local path")
        for key in ("vocab_size", "hidden_size", "layers", "heads", "intermediate_size",
                    "context_length", "steps", "batch_size"):
            _at_least(f"base.{key}", getattr(self, key), 1)
        _positive("base.lr", self.lr)
        if self.hidden_size % self.heads:
            raise ParamsError(f"base.hidden_size: {self.hidden_size} must be a multiple of "
                              f"base.heads ({self.heads})")


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    batch_size: int
    max_length: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: str
    warmup_ratio: float
    lora_layers: int = 0                # adapt only the top N decoder layers; 0 = all
    grad_accum: int = 1                 # micro-batches per optimizer step
    gradient_checkpointing: str = "auto"  # auto (on with CUDA) | on | off
    precision: str = "auto"             # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp16 | fp32
    val_size: float = 0                 # held-out slice of the train split: count, fraction, 0 = none
    save_steps: int = 0                 # checkpoint every N optimizer steps; 0 = only at the end
    save_total_limit: int = 2           # checkpoints kept
    resume: str = "auto"                # auto (continue from the last matching checkpoint) | never
    report_to: str = "dvclive"          # dvclive, plus any of wandb, tensorboard, mlflow; or none
    diverge_factor: float = 10.0        # stop when a step's loss exceeds this x the first loss

    def __post_init__(self):
        for key in ("epochs", "batch_size", "max_length", "lora_r", "lora_alpha", "grad_accum",
                    "save_total_limit"):
            _at_least(f"train.{key}", getattr(self, key), 1)
        _at_least("train.save_steps", self.save_steps, 0)
        _at_least("train.lora_layers", self.lora_layers, 0)
        _fraction("train.lora_dropout", self.lora_dropout)
        _fraction("train.warmup_ratio", self.warmup_ratio)
        if not self.target_modules.strip():
            raise ParamsError("train.target_modules: allowed: auto, all-linear, "
                              "or comma-separated module names")
        _one_of("train.gradient_checkpointing", self.gradient_checkpointing, ("auto", "on", "off"))
        _one_of("train.precision", self.precision, ("auto", "bf16", "fp16", "fp32"))
        _one_of("train.resume", self.resume, ("auto", "never"))
        if self.val_size < 0 or (self.val_size >= 1 and self.val_size != int(self.val_size)):
            raise ParamsError(f"train.val_size: got {self.val_size}; allowed: 0 (none), a whole "
                              "count >= 1 or a fraction 0 < f < 1")
        for name in self.report_targets():
            _one_of("train.report_to", name, REPORT_TO)
        _at_least("train.diverge_factor", self.diverge_factor, 1.0)

    def report_targets(self) -> tuple[str, ...]:
        """The trackers named in `report_to` (`none` and empty entries dropped)."""
        names = tuple(n.strip() for n in self.report_to.split(",") if n.strip())
        return tuple(n for n in names if n != "none") if names != ("none",) else ()

    def val_count(self, n_items: int) -> int:
        """How many train-split items the validation slice holds."""
        if self.val_size >= 1:
            return min(int(self.val_size), n_items - 1)
        return round(self.val_size * n_items)


REPORT_TO = ("dvclive", "wandb", "tensorboard", "mlflow", "none")


@dataclass(frozen=True)
class OpenAIFTParams:
    base_url: str                  # the fine-tuning API (OpenAI's, or a compatible one)
    api_key_env: str               # the NAME of the environment variable holding the key
    model: str                     # the OpenAI base model to fine-tune
    epochs: int                    # 0 = OpenAI's default for the dataset size
    batch_size: int                # 0 = auto
    learning_rate_multiplier: float  # 0 = auto
    suffix: str
    system_prompt: str             # "" = no system message
    max_tokens_per_example: int    # the model's training context; longer examples are cut
    price_per_million_tokens: float  # USD per 1M training tokens, for the cost estimate
    poll_seconds: float

    def __post_init__(self):
        if not self.model.strip():
            raise ParamsError("openai_ft.model: allowed: an OpenAI fine-tunable model id, "
                              "e.g. gpt-4o-mini-2024-07-18")
        for key in ("epochs", "batch_size"):
            _at_least(f"openai_ft.{key}", getattr(self, key), 0)
        _at_least("openai_ft.learning_rate_multiplier", self.learning_rate_multiplier, 0.0)
        _at_least("openai_ft.max_tokens_per_example", self.max_tokens_per_example, 1)
        _at_least("openai_ft.price_per_million_tokens", self.price_per_million_tokens, 0.0)
        _positive("openai_ft.poll_seconds", self.poll_seconds)
        if len(self.suffix) > 64:
            raise ParamsError("openai_ft.suffix: at most 64 characters")


LOCAL_MODELS = ("base", "tuned")
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class ModelSpec(Endpoint):
    """One model under test: `base`, `tuned`, or a model behind an OpenAI-compatible endpoint.

    The name prefixes the flat metric keys (`tuned_strict`, `gpt4o_rougeL`), so it is a
    snake_case identifier. An endpoint entry names the served model and the base URL; its
    key (if any) comes from the environment variable `api_key_env`, never from params.
    """

    name: str
    model: str = ""
    base_url: str = ""
    api_key_env: str = ""
    price: tuple[float, ...] = (0.0, 0.0)  # USD per 1M tokens [input, output]; 0, 0 when local
    max_usd: float = 1.0  # hard cap on this model's spend per run (cache hits are free)

    def __post_init__(self):
        if len(self.price) != 2 or min(self.price) < 0:
            raise ParamsError(f"eval.models: {self.name!r} price: got {list(self.price)}; "
                              "allowed: [input_usd_per_1M, output_usd_per_1M], numbers >= 0")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ParamsError(f"eval.models: {self.name!r} base_url {self.base_url!r}; allowed: "
                              "an http(s) URL ending in /v1, e.g. http://localhost:8000/v1")
        if self.base_url:
            self.check_endpoint(f"eval.models.{self.name}")
        _at_least(f"eval.models.{self.name}.max_usd", self.max_usd, 0.0)
        if "api.openai.com" in self.base_url and not any(self.price):
            raise ParamsError(f"eval.models: {self.name!r} calls the paid OpenAI API; set "
                              "`price: [input_usd_per_1M, output_usd_per_1M]` so `max_usd` "
                              "can cap the spend")
        if not _MODEL_NAME.match(self.name) or "_vs_" in self.name:
            raise ParamsError(f"eval.models: name {self.name!r}; allowed: a snake_case "
                              "identifier (a-z, 0-9, _; no '_vs_'), e.g. base, tuned, gpt4o_mini")
        if self.name in LOCAL_MODELS:
            if self.model or self.base_url:
                raise ParamsError(f"eval.models: {self.name!r} is the local {self.name} model; "
                                  "an endpoint model needs another name")
        elif not (self.model and self.base_url):
            raise ParamsError(f"eval.models: {self.name!r} is not base or tuned, so it is an "
                              "endpoint model and needs `model` (the served model id) and "
                              "`base_url` (e.g. http://localhost:8000/v1)")

    @property
    def is_endpoint(self) -> bool:
        return self.name not in LOCAL_MODELS

    def usd_per_mtok(self) -> tuple[float, float]:
        return _price_pair(f"eval.models.{self.name}.price", self.price)

    @classmethod
    def from_text(cls, text: str) -> "ModelSpec":
        """A bare list entry: `base` or `tuned`."""
        return cls(name=text)


@dataclass(frozen=True, kw_only=True)
class JudgeParams(Endpoint):
    """`eval.judge`, the optional LLM judge: grades each answer against the reference, 1-5
    with a reason."""

    enabled: bool = False
    price: tuple[float, ...] = (0.15, 0.60)  # USD per 1M tokens [input, output]

    def __post_init__(self):
        self.check_endpoint("eval.judge")
        if len(self.price) != 2:
            raise ParamsError(f"eval.judge.price: got {list(self.price)}; allowed: "
                              "[input_usd_per_1M, output_usd_per_1M], numbers >= 0")
        _price_pair("eval.judge.price", self.price)
        if self.enabled and not self.model.strip():
            raise ParamsError("eval.judge.model: must name the judge model")

    def usd_per_mtok(self) -> tuple[float, float]:
        return _price_pair("eval.judge.price", self.price)


# name -> (temperature, top_p, top_k, max_new_tokens); temperature 0 = greedy.
DECODING_PRESETS = {
    "greedy": (0.0, 1.0, 0, 200),
    "thesis": (1.0, 0.9, 50, 500),  # the settings the thesis evaluated with
}


@dataclass(frozen=True)
class Decoding:
    preset: str
    temperature: float
    top_p: float
    top_k: int
    max_new_tokens: int
    samples: int
    repetition_penalty: float = 1.0  # > 1 makes tokens already in the answer less likely
    no_repeat_ngram: int = 0         # > 0 forbids repeating any run of this many tokens

    @property
    def sampling(self) -> bool:
        return self.temperature > 0


@dataclass(frozen=True)
class EvalParams:
    models: tuple[ModelSpec, ...]
    decoding: str
    max_new_tokens: int
    samples: int
    batch_size: int
    limit: int
    step_match_f1: float
    bootstrap_resamples: int
    judge: JudgeParams = field(default_factory=JudgeParams)
    repetition_penalty: float = 1.0     # local models; 1.0 = off (see params.yaml)
    no_repeat_ngram: int = 0            # local models; 0 = off (see params.yaml)

    def __post_init__(self):
        if not self.models:
            raise ParamsError("eval.models: empty; allowed: a list such as [base, tuned]")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ParamsError(f"eval.models: duplicate names in {names}")
        _one_of("eval.decoding", self.decoding, tuple(DECODING_PRESETS))
        _at_least("eval.max_new_tokens", self.max_new_tokens, 0)
        _at_least("eval.samples", self.samples, 1)
        if self.decoding == "greedy" and self.samples != 1:
            raise ParamsError(f"eval.samples: got {self.samples}; greedy decoding gives one "
                              "answer per question, so allowed: 1 (or eval.decoding: thesis)")
        _at_least("eval.batch_size", self.batch_size, 1)
        _at_least("eval.limit", self.limit, 0)
        if not 0 < self.step_match_f1 <= 1:
            raise ParamsError(f"eval.step_match_f1: got {self.step_match_f1}; allowed: 0 < f <= 1")
        _at_least("eval.bootstrap_resamples", self.bootstrap_resamples, 100)
        if not 1.0 <= self.repetition_penalty <= 2.0:
            raise ParamsError(f"eval.repetition_penalty: got {self.repetition_penalty}; "
                              "allowed: 1.0 (off) to 2.0")
        if self.no_repeat_ngram and self.no_repeat_ngram < 3:
            raise ParamsError(f"eval.no_repeat_ngram: got {self.no_repeat_ngram}; allowed: 0 "
                              "(off) or a run of at least 3 tokens")

    def resolved_decoding(self) -> Decoding:
        """The preset's settings; a non-zero eval.max_new_tokens overrides its limit."""
        temperature, top_p, top_k, max_new = DECODING_PRESETS[self.decoding]
        return Decoding(self.decoding, temperature, top_p, top_k,
                        self.max_new_tokens or max_new, self.samples,
                        float(self.repetition_penalty), int(self.no_repeat_ngram))


@dataclass(frozen=True)
class ReportParams:
    sample_items: int
    diff_items: int  # items listed in the version diff (the counts cover all)

    def __post_init__(self):
        _at_least("report.sample_items", self.sample_items, 0)
        _at_least("report.diff_items", self.diff_items, 0)


@dataclass(frozen=True)
class Params:
    lr: float
    seed: int
    scrape: ScrapeParams
    extract: ExtractParams
    pattern: PatternParams
    generate: GenerateParams
    validate: ValidateParams
    split: SplitParams
    base: BaseParams
    train: TrainParams
    eval: EvalParams
    report: ReportParams
    openai_ft: OpenAIFTParams

    def __post_init__(self):
        _positive("lr", self.lr)
        if self.base.model == "tiny" and self.train.max_length > self.base.context_length:
            raise ParamsError(f"train.max_length: got {self.train.max_length}; allowed: at most "
                              f"base.context_length ({self.base.context_length}) for the tiny model")


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check params.yaml; raise ParamsError naming the first bad key."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the project root or pass --params") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw)


def load_params_or_exit(path: str | Path, prog: str) -> Params:
    """load_params for a command's start: a bad params file ends in one line and exit 2."""
    try:
        return load_params(path)
    except ParamsError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    """The `params` stage: check the whole file before any stage deletes its outputs.

    DVC removes a stage's outputs just before running it, so a bad value found by that
    stage would already have cost its previous outputs. This stage is the root of the
    DAG (scrape depends on its output), so DVC runs it first and stops there.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="reports/params/check.json")
    args = parser.parse_args(argv)
    load_params_or_exit(args.params, "params")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Constant content: a valid edit must not look like a changed dep downstream.
    out.write_text('{"valid": true}\n', encoding="utf-8")
    print(f"params: {args.params} is valid")
    return 0


def parse_params(raw: Any) -> Params:
    return _build(Params, raw, prefix="")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "params.yaml"
    if not isinstance(raw, dict):
        raise ParamsError(f"{where}: expected a mapping of keys, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            shown = key if isinstance(key, str) and re.fullmatch(r"[\w.-]+", key) else repr(key)
            raise ParamsError(f"{prefix}{shown}: unknown key; allowed in {where}: "
                              f"{', '.join(sorted(known))}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in known.items():
        if name not in raw:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            raise ParamsError(f"{prefix}{name}: missing; add it to params.yaml")
        values[name] = _convert(hints[name], raw[name], f"{prefix}{name}")
    return cls(**values)


def _convert(hint: Any, value: Any, key: str) -> Any:
    if is_dataclass(hint):
        if isinstance(value, str) and hasattr(hint, "from_text"):
            return hint.from_text(value)
        return _build(hint, value, prefix=key + ".")
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{key}: expected a list, got {value!r}")
        return tuple(_convert(typing.get_args(hint)[0], v, key) for v in value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{key}: expected a whole number, got {value!r}")
        return value
    if hint is float:
        try:
            return float(value)  # YAML 1.1 loads 2e-4 as a string
        except (TypeError, ValueError):
            raise ParamsError(f"{key}: expected a number, got {value!r}") from None
    if hint is str:
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ParamsError(f"{key}: expected text, got {value!r}")
        return str(value)
    return value


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ParamsError(f"{key}: got {value!r}; allowed: {', '.join(allowed)}")


def _at_least(key: str, value: float, low: float, low_key: str = "") -> None:
    """`low_key` names the param the bound comes from, so the user sees both."""
    if value < low:
        bound = f"{low_key} ({low})" if low_key else f"{low}"
        raise ParamsError(f"{key}: got {value}; allowed: a number >= {bound}")


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise ParamsError(f"{key}: got {value}; allowed: a number > 0 (e.g. 2e-4)")


def _fraction_or_two(key: str, value: float) -> None:
    if not 0 <= value <= 2:
        raise ParamsError(f"{key}: got {value}; allowed: 0 <= value <= 2")


def _fraction(key: str, value: float) -> None:
    if not 0 <= value < 1:
        raise ParamsError(f"{key}: got {value}; allowed: 0 <= value < 1")


if __name__ == "__main__":
    raise SystemExit(main())
