"""Typed, frozen parameters, loaded once and checked at start.

`load_params()` turns params.yaml into one `Params` object. Each section is a pydantic
dataclass: unknown keys are forbidden, types are checked (a whole number stays whole; a
float may come as text, because YAML 1.1 readers load `2e-4` as a string), bounds and
allowed values are declared on the fields, and what spans several fields is checked in
`__post_init__`. Every failure becomes one `ParamsError` naming the dotted key and what is
allowed, so a typo fails before any work starts.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import (BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter,
                      ValidationError)
from pydantic.dataclasses import dataclass as pydantic_dataclass


class ParamsError(ValueError):
    """A params.yaml problem a user can fix: the message names the key."""


def _text(value: Any) -> Any:
    """YAML gives numbers where text was meant (a revision `1234`) and None for `key:`."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_text)]
Int = StrictInt  # 2.5, "3" and true are not whole numbers
Bool = StrictBool
Float = float  # an int or a numeric string ("2e-4") becomes a float


def at_least(low: float) -> Any:
    return Field(ge=low)


class BadValue(ValueError):
    """A check inside a validator or `__post_init__` that knows the value, not its key.

    `field` (dotted, may be "") is appended to the key of the place being validated.
    """

    def __init__(self, field: str, text: str):
        super().__init__(text)
        self.field, self.text = field, text


def validated(error: type[ValueError]):
    """A decorator factory: frozen pydantic dataclasses whose failures raise `error`.

    `validated(ParamsError)("pattern")` makes the params section at dotted key `pattern`;
    constructing one directly (as tests and defaults do) raises the same error as loading
    it from a file, its keys prefixed with the section's key.
    """
    def section(prefix: str = "", **options: Any):
        def wrap(cls: type) -> type:
            cls = pydantic_dataclass(
                frozen=True, config=ConfigDict(extra="forbid", allow_inf_nan=False), **options)(cls)
            init = cls.__init__

            @functools.wraps(init)
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                try:
                    init(self, *args, **kwargs)
                except ValidationError as err:
                    raise explain(err, type(self), prefix, kwargs, error) from None

            cls.__init__ = __init__
            return cls
        return wrap
    return section


params_section = validated(ParamsError)


@params_section("scrape")
class ScrapeParams:
    profile: Literal["sample", "snapshot", "live"]
    max_pages: Annotated[Int, at_least(1)]
    user_agent: Text
    download_delay: Annotated[Float, at_least(0.0)]
    plugin_slugs: tuple[Text, ...]
    # The folder the loopback server serves for the sample and snapshot profiles (dvc.yaml
    # passes it as --site-root and tracks it): the bundled site, or a folder of saved REST items.
    site_root: Text = "scraping/sample_site"

    def __post_init__(self):
        if not self.site_root.strip():
            raise ParamsError("scrape.site_root: got an empty path; allowed: a folder "
                              "(scraping/sample_site, or a folder of saved REST items)")
        if not self.user_agent.strip():
            raise ParamsError("scrape.user_agent: must identify the crawler, got an empty string")


@params_section("extract")
class ExtractParams:
    min_section_words: Annotated[Int, at_least(0)]


@params_section("pattern")
class PatternParams:
    min_items: Annotated[Int, at_least(1)]
    max_items: Int
    min_item_words: Annotated[Int, at_least(1)]
    max_item_words: Int
    max_intro_words: Annotated[Int, at_least(3)]

    def __post_init__(self):
        _at_least("pattern.max_items", self.max_items, self.min_items, "pattern.min_items")
        _at_least("pattern.max_item_words", self.max_item_words, self.min_item_words,
                  "pattern.min_item_words")


@params_section("generate.llm", kw_only=True)
class Endpoint:
    """An OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server) and how to
    call it: the one settings type of every LLM the pipeline talks to (`generate.llm`,
    `eval.judge`, the endpoint entries of `eval.models`), turned into a client by
    `wpqa.llm.LLMConfig.for_endpoint` alone.

    The API key is read from the environment variable named by `api_key_env`, never from
    params; "" means the server needs no key. Each role adds its own fields; the price is
    `usd_per_mtok()` (a pair, or a table by model for generate).
    """

    base_url: Text = "https://api.openai.com/v1"
    model: Text = "gpt-4o-mini"
    api_key_env: Text = "OPENAI_API_KEY"
    structured_output: Literal["json_schema", "json_object"] = "json_schema"
    concurrency: Annotated[Int, at_least(1)] = 8
    requests_per_minute: Annotated[Int, at_least(0)] = 0  # 0: no limit
    tokens_per_minute: Annotated[Int, at_least(0)] = 0  # 0: no limit
    max_retries: Annotated[Int, at_least(0)] = 4
    timeout_s: Annotated[Float, Field(gt=0)] = 120.0
    max_usd: Annotated[Float, at_least(0.0)] = 1.0  # hard cap per run; 0: no cap
    # online | batch (the OpenAI Batch API: results within 24 h)
    mode: Literal["online", "batch"] = "online"
    batch_poll_s: Annotated[Float, Field(gt=0)] = 30.0  # seconds between two looks at a running batch
    # The batch price as a share of the online price (OpenAI: half).
    batch_price_share: Annotated[Float, Field(gt=0, le=1)] = 0.5

    def check_endpoint(self, prefix: str) -> None:
        """What the field types cannot say, the errors naming `prefix` (its dotted key)."""
        if not self.base_url.startswith(("http://", "https://")):
            raise ParamsError(f"{prefix}.base_url: got {self.base_url!r}; allowed: an http(s) URL "
                              "ending in /v1, e.g. http://localhost:8000/v1")
        if self.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            raise ParamsError(f"{prefix}.api_key_env: got {self.api_key_env!r}; allowed: the NAME "
                              "of an environment variable (e.g. OPENAI_API_KEY) or \"\", never "
                              "the key itself")

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


@params_section("generate.llm", kw_only=True)
class LLMParams(Endpoint):
    """`generate.llm`: the endpoint that writes, judges and paraphrases Q&A."""

    temperature: Annotated[Float, Field(ge=0, le=2)] = 0.2
    seed: Int = 42
    max_tokens: Annotated[Int, at_least(16)] = 700
    max_usd: Annotated[Float, at_least(0.0)] = 2.0  # hard cap per run; 0: no cap
    # USD per million tokens, [input, output], by model name; 0, 0 for a local server.
    prices: dict = field(default_factory=lambda: {"gpt-4o-mini": (0.15, 0.60)})

    def __post_init__(self, prefix: str = "generate.llm"):
        self.check_endpoint(prefix)
        if not self.model.strip():
            raise ParamsError(f"{prefix}.model: must name the model the server serves")
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


@params_section("generate")
class GenerateParams:
    backend: Literal["rules", "openai", "hybrid"]
    # Share of an LLM answer's content words found in its section.
    min_grounding: Annotated[Float, Field(ge=0, le=1)] = 0.6
    paraphrases: Annotated[Int, at_least(0)] = 2  # question variants per item (LLM backends); 0: none
    judge: Bool = True  # an LLM judge scores every LLM-written item
    judge_min_score: Annotated[Int, Field(ge=1, le=5)] = 4  # items scored lower are rejected as judge_low
    invalid_retries: Annotated[Int, at_least(0)] = 1  # re-asks after an invalid or off-pattern reply
    llm: LLMParams = field(default_factory=LLMParams)
    # An LLM step no passage supports: reject the item | drop the step.
    unsupported_step: Literal["reject", "drop"] = "reject"
    # Share of a step's content words its passage must hold.
    min_step_support: Annotated[Float, Field(gt=0, le=1)] = 0.6

    def __post_init__(self):
        if self.backend != "rules":
            self.llm.price()


@params_section("validate")
class ValidateParams:
    min_accepted: Annotated[Int, at_least(1)]


@params_section("split")
class SplitParams:
    test_size: Float  # a count when >= 1 and whole, else a fraction
    # Jaccard of word shingles that makes two items near duplicates.
    near_dup_threshold: Annotated[Float, Field(gt=0, le=1)]
    num_perm: Annotated[Int, at_least(16)]  # MinHash permutations
    shingle_words: Annotated[Int, at_least(1)]  # words per shingle
    leak_ngram_words: Annotated[Int, at_least(4)]  # a run this long shared by test and train is a leak
    licenses: dict  # source host -> Hub license id; "*" for any other host

    def __post_init__(self):
        size = self.test_size
        if size <= 0 or (size >= 1 and not float(size).is_integer()):
            raise ParamsError(
                f"split.test_size: got {size}; allowed: a whole count >= 1 (e.g. 30) "
                "or a fraction 0 < f < 1 (e.g. 0.06)")
        if not self.licenses:
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


@params_section("base")
class BaseParams:
    model: Text
    revision: Text
    vocab_size: Annotated[Int, at_least(1)]
    hidden_size: Annotated[Int, at_least(1)]
    layers: Annotated[Int, at_least(1)]
    heads: Annotated[Int, at_least(1)]
    intermediate_size: Annotated[Int, at_least(1)]
    context_length: Annotated[Int, at_least(1)]
    steps: Annotated[Int, at_least(1)]
    batch_size: Annotated[Int, at_least(1)]
    lr: Annotated[Float, Field(gt=0)]
    trust_remote_code: Bool = False  # run a hub model's own Python code (off unless set)

    def __post_init__(self):
        if not self.model.strip():
            raise ParamsError("base.model: allowed: 'tiny', a hub id (org/name) or a local path")
        if self.hidden_size % self.heads:
            raise ParamsError(f"base.hidden_size: {self.hidden_size} must be a multiple of "
                              f"base.heads ({self.heads})")


@params_section("train")
class TrainParams:
    epochs: Annotated[Int, at_least(1)]
    batch_size: Annotated[Int, at_least(1)]
    max_length: Annotated[Int, at_least(1)]
    lora_r: Annotated[Int, at_least(1)]
    lora_alpha: Annotated[Int, at_least(1)]
    lora_dropout: Annotated[Float, Field(ge=0, lt=1)]
    target_modules: Text
    warmup_ratio: Annotated[Float, Field(ge=0, lt=1)]
    lora_layers: Annotated[Int, at_least(0)] = 0  # adapt only the top N decoder layers; 0 = all
    grad_accum: Annotated[Int, at_least(1)] = 1  # micro-batches per optimizer step
    # auto (on with CUDA) | on | off
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp16 | fp32
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    val_size: Float = 0  # held-out slice of the train split: count, fraction, 0 = none
    save_steps: Annotated[Int, at_least(0)] = 0  # checkpoint every N optimizer steps; 0 = only at the end
    save_total_limit: Annotated[Int, at_least(1)] = 2  # checkpoints kept
    # auto (continue from the last matching checkpoint) | never
    resume: Literal["auto", "never"] = "auto"
    report_to: Text = "dvclive"  # dvclive, plus any of wandb, tensorboard, mlflow; or none
    # Stop when a step's loss exceeds this x the first loss.
    diverge_factor: Annotated[Float, at_least(1.0)] = 10.0
    # Scratch folder for train.resume: ignored by git and DVC, never a stage output, so an
    # experiment round trip leaves `dvc status` clean.
    checkpoint_dir: Text = "checkpoints/train"

    def __post_init__(self):
        if not self.checkpoint_dir.strip():
            raise ParamsError("train.checkpoint_dir: got an empty path; allowed: a folder "
                              "ignored by git and DVC, e.g. checkpoints/train")
        if not self.target_modules.strip():
            raise ParamsError("train.target_modules: allowed: auto, all-linear, "
                              "or comma-separated module names")
        if self.val_size < 0 or (self.val_size >= 1 and not float(self.val_size).is_integer()):
            raise ParamsError(f"train.val_size: got {self.val_size}; allowed: 0 (none), a whole "
                              "count >= 1 or a fraction 0 < f < 1")
        for name in self.report_targets():
            _one_of("train.report_to", name, REPORT_TO)

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


@params_section("openai_ft")
class OpenAIFTParams:
    base_url: Text                 # the fine-tuning API (OpenAI's, or a compatible one)
    api_key_env: Text              # the NAME of the environment variable holding the key
    model: Text                    # the OpenAI base model to fine-tune
    epochs: Annotated[Int, at_least(0)]  # 0 = OpenAI's default for the dataset size
    batch_size: Annotated[Int, at_least(0)]  # 0 = auto
    learning_rate_multiplier: Annotated[Float, at_least(0.0)]  # 0 = auto
    suffix: Annotated[Text, Field(max_length=64)]
    system_prompt: Text            # "" = no system message
    # The model's training context; longer examples are cut.
    max_tokens_per_example: Annotated[Int, at_least(1)]
    # USD per 1M training tokens, for the cost estimate.
    price_per_million_tokens: Annotated[Float, at_least(0.0)]
    poll_seconds: Annotated[Float, Field(gt=0)]

    def __post_init__(self):
        if not self.model.strip():
            raise ParamsError("openai_ft.model: allowed: an OpenAI fine-tunable model id, "
                              "e.g. gpt-4o-mini-2024-07-18")


LOCAL_MODELS = ("base", "tuned")
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@params_section("eval.models", kw_only=True)
class ModelSpec(Endpoint):
    """One model under test: `base`, `tuned`, or a model behind an OpenAI-compatible endpoint.

    The name prefixes the flat metric keys (`tuned_strict`, `gpt4o_rougeL`), so it is a
    snake_case identifier. An endpoint entry names the served model and the base URL; its
    key (if any) comes from the environment variable `api_key_env`, never from params.
    """

    name: Text
    model: Text = ""
    base_url: Text = ""
    api_key_env: Text = ""
    price: tuple[Float, ...] = (0.0, 0.0)  # USD per 1M tokens [input, output]; 0, 0 when local
    max_usd: Annotated[Float, at_least(0.0)] = 1.0  # hard cap on this model's spend per run

    def __post_init__(self):
        if len(self.price) != 2 or min(self.price) < 0:
            raise ParamsError(f"eval.models: {self.name!r} price: got {list(self.price)}; "
                              "allowed: [input_usd_per_1M, output_usd_per_1M], numbers >= 0")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ParamsError(f"eval.models: {self.name!r} base_url {self.base_url!r}; allowed: "
                              "an http(s) URL ending in /v1, e.g. http://localhost:8000/v1")
        if self.base_url:
            self.check_endpoint(f"eval.models.{self.name}")
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


def _model_entry(value: Any) -> Any:
    """A bare list entry, `base` or `tuned`, is a model named so."""
    return {"name": value} if isinstance(value, str) else value


@params_section("eval.judge", kw_only=True)
class JudgeParams(Endpoint):
    """`eval.judge`, the optional LLM judge: grades each answer against the reference, 1-5
    with a reason."""

    enabled: Bool = False
    price: tuple[Float, ...] = (0.15, 0.60)  # USD per 1M tokens [input, output]

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


@params_section("eval")
class EvalParams:
    models: tuple[Annotated[ModelSpec, BeforeValidator(_model_entry)], ...]
    decoding: Literal["greedy", "thesis"]
    max_new_tokens: Annotated[Int, at_least(0)]
    samples: Annotated[Int, at_least(1)]
    batch_size: Annotated[Int, at_least(1)]
    limit: Annotated[Int, at_least(0)]
    step_match_f1: Annotated[Float, Field(gt=0, le=1)]
    bootstrap_resamples: Annotated[Int, at_least(100)]
    judge: JudgeParams = field(default_factory=JudgeParams)
    # Local models; 1.0 = off (see params.yaml).
    repetition_penalty: Annotated[Float, Field(ge=1.0, le=2.0)] = 1.0
    no_repeat_ngram: Int = 0            # local models; 0 = off (see params.yaml)

    def __post_init__(self):
        if not self.models:
            raise ParamsError("eval.models: empty; allowed: a list such as [base, tuned]")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ParamsError(f"eval.models: duplicate names in {names}")
        if self.decoding == "greedy" and self.samples != 1:
            raise ParamsError(f"eval.samples: got {self.samples}; greedy decoding gives one "
                              "answer per question, so allowed: 1 (or eval.decoding: thesis)")
        if self.no_repeat_ngram and self.no_repeat_ngram < 3:
            raise ParamsError(f"eval.no_repeat_ngram: got {self.no_repeat_ngram}; allowed: 0 "
                              "(off) or a run of at least 3 tokens")

    def resolved_decoding(self) -> Decoding:
        """The preset's settings; a non-zero eval.max_new_tokens overrides its limit."""
        temperature, top_p, top_k, max_new = DECODING_PRESETS[self.decoding]
        return Decoding(self.decoding, temperature, top_p, top_k,
                        self.max_new_tokens or max_new, self.samples,
                        float(self.repetition_penalty), int(self.no_repeat_ngram))


@params_section("report")
class ReportParams:
    sample_items: Annotated[Int, at_least(0)]
    diff_items: Annotated[Int, at_least(0)]  # items listed in the version diff (the counts cover all)


@params_section("")
class Params:
    lr: Annotated[Float, Field(gt=0)]
    seed: Int
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


_PARAMS = TypeAdapter(Params)


def parse_params(raw: Any) -> Params:
    try:
        return _PARAMS.validate_python(raw)
    except ValidationError as err:
        raise explain(err, Params, "", raw, ParamsError) from None


# ------------------------------------------------------------------ errors a user reads

def explain(err: ValidationError, cls: type, prefix: str, raw: Any,
            error: type[ValueError] = ParamsError, rename: dict[str, str] | None = None) -> ValueError:
    """The first problem pydantic found, said as `dotted.key: got X; allowed: Y`.

    `raw` is the input, read to name list entries by their `name`; `rename` maps field
    names to the keys the file uses for them.
    """
    problem = err.errors()[0]
    ctx = problem.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, error):  # a __post_init__ check: its message names the key
        return cause
    loc, value, kind = problem["loc"], problem.get("input"), problem["type"]
    names = [(rename or {}).get(n, n) for n in _key_names(loc, raw)]
    key = ".".join(filter(None, [prefix, ".".join(names)]))
    owner, hint = _field_at(cls, loc)
    got = repr(value) if isinstance(value, str) else f"{value}"
    if isinstance(cause, BadValue):
        return error(f"{'.'.join(filter(None, [key, cause.field]))}: {cause.text}")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        shown = loc[-1] if re.fullmatch(r"[\w.-]+", str(loc[-1])) else repr(loc[-1])
        where = ".".join(filter(None, [prefix, *names[:-1]])) or "params.yaml"
        allowed = sorted(f.name for f in dataclasses.fields(owner)) if owner else []
        return error(f"{'.'.join(filter(None, [prefix, *names[:-1], str(shown)]))}: "
                     f"unknown key; allowed in {where}: {', '.join(allowed)}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = ctx.get("discriminator", "").strip("'")
        tags = ctx.get("expected_tags", "").replace("'", "") or ", ".join(_union_tags(hint))
        found = f"got {ctx['tag']!r}" if "tag" in ctx else "missing"
        return error(f"{key}.{field}: {found}; allowed: {tags}")
    messages = {
        "missing": "missing; add it to params.yaml" if error is ParamsError else "missing",
        "int_type": f"expected a whole number, got {value!r}",
        "float_type": f"expected a number, got {value!r}",
        "finite_number": f"expected a finite number, got {value!r}",
        "bool_type": f"expected true or false, got {value!r}",
        "string_type": f"expected text, got {value!r}",
        "tuple_type": f"expected a list, got {value!r}",
        "dataclass_type": f"expected a mapping of keys, got {type(value).__name__}",
        "literal_error": f"got {got}; allowed: {', '.join(map(str, typing.get_args(hint)))}",
        "bounds": f"got {got}; allowed: {_bounds(hint)}",
        "string_too_long": f"got {got}; allowed: at most {ctx.get('max_length')} characters",
    }
    family = {"int_parsing": "int_type", "int_from_float": "int_type", "float_parsing": "float_type",
              "bool_parsing": "bool_type", "list_type": "tuple_type", "dict_type": "dataclass_type",
              "model_type": "dataclass_type", "dataclass_args_type": "dataclass_type",
              "greater_than": "bounds", "greater_than_equal": "bounds", "less_than": "bounds",
              "less_than_equal": "bounds"}.get(kind, kind)
    if family in messages:
        return error(f"{key or 'params.yaml'}: {messages[family]}")
    if isinstance(cause, ValueError):
        return error(f"{key}: {cause}")
    return error(f"{key}: got {got}; {problem['msg']}")


def _key_names(loc: tuple, raw: Any) -> list[str]:
    """The dotted key of a location; a list entry is named by its `name` (eval.models)."""
    names, node = [], raw
    for part in loc:
        if isinstance(part, int):
            entry = node[part] if isinstance(node, (list, tuple)) and part < len(node) else None
            if isinstance(entry, dict) and entry.get("name"):
                names.append(str(entry["name"]))
            node = entry
        elif isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue  # the tag pydantic adds for a union told apart by `kind`
        else:
            names.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return names


def _field_at(cls: type, loc: tuple) -> tuple[type | None, Any]:
    """The class that holds the field at `loc`, and the field's annotated type."""
    owner, hint, members = cls, None, ()
    for part in loc:
        if isinstance(part, int):
            continue
        tagged = [m for m in members if getattr(m, "kind", None) == part]
        if tagged:  # the tag of a union member
            owner, members = tagged[0], ()
            continue
        if owner is None or not dataclasses.is_dataclass(owner):
            return None, None
        hints = typing.get_type_hints(owner, include_extras=True)
        if part not in hints:
            return owner, None
        hint = hints[part]
        inner = _unwrap(hint)
        if typing.get_origin(inner) is tuple:
            inner = _unwrap(typing.get_args(inner)[0])
        if dataclasses.is_dataclass(inner):
            owner = inner
        elif typing.get_origin(inner) in (typing.Union, types.UnionType):
            members = tuple(m for m in typing.get_args(inner) if dataclasses.is_dataclass(m))
    return owner, _unwrap(hint, keep_bounds=True)


def _union_tags(hint: Any) -> list[str]:
    """The `kind` of each member of the union (or list of a union) at a field."""
    inner = _unwrap(hint)
    if typing.get_origin(inner) is tuple:
        inner = _unwrap(typing.get_args(inner)[0])
    return [str(getattr(m, "kind", "")) for m in typing.get_args(inner) if hasattr(m, "kind")]


def _unwrap(hint: Any, keep_bounds: bool = False) -> Any:
    """The type inside Annotated[...]; with keep_bounds, the Annotated itself for bounds."""
    if typing.get_origin(hint) is Annotated:
        base = typing.get_args(hint)[0]
        if keep_bounds and typing.get_origin(base) is not Literal:
            return hint
        return _unwrap(base, keep_bounds)
    return hint


def _bounds(hint: Any) -> str:
    """`0 <= value < 1`, or `a number >= 1`, from the bounds declared on a field."""
    low = high = None
    for meta in typing.get_args(hint)[1:] if typing.get_origin(hint) is Annotated else ():
        for bound in getattr(meta, "metadata", [meta]):
            if isinstance(bound, annotated_types.Ge):
                low = f"{bound.ge} <="
            elif isinstance(bound, annotated_types.Gt):
                low = f"{bound.gt} <"
            elif isinstance(bound, annotated_types.Le):
                high = f"<= {bound.le}"
            elif isinstance(bound, annotated_types.Lt):
                high = f"< {bound.lt}"
    if low and high:
        return f"{low} value {high}"
    if low:
        number, op = low.split(" ")
        return f"a number {'>=' if op == '<=' else '>'} {number}"
    return f"a number {high}" if high else "see params.yaml"


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ParamsError(f"{key}: got {value!r}; allowed: {', '.join(allowed)}")


def _at_least(key: str, value: float, low: float, low_key: str = "") -> None:
    """`low_key` names the param the bound comes from, so the user sees both."""
    if value < low:
        bound = f"{low_key} ({low})" if low_key else f"{low}"
        raise ParamsError(f"{key}: got {value}; allowed: a number >= {bound}")


if __name__ == "__main__":
    raise SystemExit(main())
