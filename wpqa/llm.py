"""Calls to any OpenAI-compatible chat endpoint: cached, bounded, resumable.

One client layer for every stage that talks to an LLM server (OpenAI, vLLM, Ollama, a
llama.cpp server): the official `openai` SDK (`AsyncOpenAI` with a `base_url`), the key
read from an environment variable whose *name* is configured, never the key itself.

- **Never pay twice**: every finished call is stored at once in a SQLite file
  (`.cache/llm/requests.sqlite` by default, outside DVC outputs) under a hash of the model,
  endpoint, rendered messages, sampling params, response schema and prompt version. The
  raw response body and its token usage are kept; parsing happens afterwards, so a parser
  fix costs nothing, and a crash or Ctrl-C loses no finished call.
- **Never overspend**: a USD cap (`max_usd`, price per model) checked *before* each
  request with the request's worst case (prompt estimate + `max_tokens`); once it would be
  passed, the remaining requests come back as `budget_exhausted` without being sent.
- **Bounded**: a concurrency limit, requests- and tokens-per-minute windows, 429 with
  `Retry-After` honoured, 5xx / connection errors / malformed bodies retried a bounded
  number of times with exponential backoff; anything else ends as `llm_error` with a reason.

- **Batch mode** (`mode="batch"`): requests go through the OpenAI Batch API at about half
  the price. Every request the running chains are waiting on is written to one JSONL
  file, uploaded, run as one batch, polled, and the results are mapped back by
  `custom_id` (the cache key) into the same cache, so a re-run sends nothing. Batches are
  recorded in the cache file: a run stopped while one is in flight polls it again instead
  of paying twice, and requests an expired or partly failed batch did not answer go out
  again in a new batch, only they.

`run_requests(client, requests)` returns one `Reply` per `ChatRequest`, in order. A plain
chat completion (no schema) is the simplest case; a `schema` asks for structured output
(strict `json_schema`, falling back to JSON mode on servers that reject it). Code that
chains requests (generate, then judge the answer) uses `async with client.session():` and
`await client.ask(request)`. A 401, 403 or 404 raises `LLMConfigError`: every other
request would fail the same way.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from wpqa.retry_after import retry_after_seconds

DEFAULT_CACHE = Path(".cache/llm/requests.sqlite")
CACHE_ENV = "WPQA_LLM_CACHE"  # overrides the default cache path (tests, CI)

MODES = ("online", "batch")
BATCH_ENDPOINT = "/v1/chat/completions"
_BATCH_DONE = ("completed", "expired", "failed", "cancelled")

# Reasons a Reply can fail with (snake_case, counted by the stages).
LLM_ERROR = "llm_error"
BUDGET_EXHAUSTED = "budget_exhausted"


class LLMConfigError(ValueError):
    """A setting the user must fix before any request is sent (missing key, unknown price)."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to call. The key is read from the environment variable `api_key_env`."""

    base_url: str
    model: str
    api_key_env: str = ""  # "" for servers that need no key (a local vLLM, Ollama, llama.cpp)
    concurrency: int = 8
    requests_per_minute: int = 0  # 0: no limit
    tokens_per_minute: int = 0  # 0: no limit (prompt estimate + max_tokens per request)
    max_retries: int = 4  # retries after a 429, 5xx, timeout, dropped connection or bad body
    backoff_s: float = 1.0  # first wait; doubles per retry (with a little jitter)
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 300.0  # a longer Retry-After fails the request at once
    timeout_s: float = 120.0
    max_usd: float = 0.0  # hard cap on spend for this client; 0: no cap
    price: Price = Price(0.0, 0.0)
    structured_output: str = "json_schema"  # json_schema | json_object
    default_max_tokens: int = 1024  # the output bound assumed when a request sets none
    mode: str = "online"  # online | batch (the Batch API; `price` is then the batch price)
    batch_poll_s: float = 30.0  # seconds between two looks at a running batch

    def __post_init__(self):
        if self.structured_output not in ("json_schema", "json_object"):
            raise LLMConfigError(f"structured_output: got {self.structured_output!r}; "
                                 "allowed: json_schema, json_object")
        if self.mode not in MODES:
            raise LLMConfigError(f"mode: got {self.mode!r}; allowed: {', '.join(MODES)}")
        if self.concurrency < 1:
            raise LLMConfigError(f"concurrency: got {self.concurrency}; allowed: a number >= 1")

    @classmethod
    def for_endpoint(cls, endpoint: Any) -> "LLMConfig":
        """From a `wpqa.params.Endpoint` (generate.llm, eval.judge, an eval.models entry):
        the one place endpoint settings become a client's config."""
        low, high = endpoint.usd_per_mtok()
        if endpoint.mode == "batch":
            low, high = low * endpoint.batch_price_share, high * endpoint.batch_price_share
        return cls(base_url=endpoint.base_url, model=endpoint.model, api_key_env=endpoint.api_key_env,
                   concurrency=endpoint.concurrency, requests_per_minute=endpoint.requests_per_minute,
                   tokens_per_minute=endpoint.tokens_per_minute, max_retries=endpoint.max_retries,
                   timeout_s=endpoint.timeout_s, max_usd=endpoint.max_usd, price=Price(low, high),
                   structured_output=endpoint.structured_output,
                   default_max_tokens=getattr(endpoint, "max_tokens", 1024), mode=endpoint.mode,
                   batch_poll_s=endpoint.batch_poll_s)

    def __repr__(self) -> str:  # the key is never an attribute, but keep reprs short
        return (f"LLMConfig(base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r})")


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make. `schema` (a JSON schema) asks for a JSON object."""

    messages: tuple[dict[str, str], ...]
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    schema: dict[str, Any] | None = None
    schema_name: str = "reply"
    prompt_version: str = ""

    def __post_init__(self):
        object.__setattr__(self, "messages", tuple(dict(m) for m in self.messages))


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Reply:
    """The outcome of one request. `error` is "" on success, else a snake_case reason."""

    text: str | None
    usage: Usage = Usage()
    cost_usd: float = 0.0
    cached: bool = False
    error: str = ""
    detail: str = ""
    finish_reason: str = ""
    key: str = ""
    raw: str = ""  # the response body as the server sent it

    @property
    def ok(self) -> bool:
        return not self.error


def request_key(config: LLMConfig, request: ChatRequest) -> str:
    """The cache key: what would make a server answer differently."""
    payload = {
        "model": config.model,
        "endpoint": config.base_url.rstrip("/"),
        "messages": list(request.messages),
        "sampling": {"temperature": request.temperature, "top_p": request.top_p,
                     "seed": request.seed, "max_tokens": request.max_tokens},
        "schema": request.schema,
        "prompt_version": request.prompt_version,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate (3 characters a token; real BPE averages ~4)."""
    return math.ceil(len(text) / 3)


def estimate_prompt_tokens(request: ChatRequest) -> int:
    tokens = sum(estimate_tokens(m.get("content", "")) + 4 for m in request.messages) + 3
    if request.schema is not None:
        tokens += estimate_tokens(json.dumps(request.schema))
    return tokens


class RequestCache:
    """Finished calls in SQLite, committed one by one (WAL), so a kill loses none."""

    def __init__(self, path: str | Path | None = None):
        path = Path(path or os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("""CREATE TABLE IF NOT EXISTS replies (
            key TEXT PRIMARY KEY, model TEXT NOT NULL, endpoint TEXT NOT NULL,
            prompt_version TEXT NOT NULL, response TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL)""")
        # Batches sent and not yet collected: a run stopped mid-batch polls them again.
        self.db.execute("""CREATE TABLE IF NOT EXISTS batches (
            batch_id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, model TEXT NOT NULL,
            keys TEXT NOT NULL, open INTEGER NOT NULL)""")

    def get(self, key: str) -> tuple[str, Usage] | None:
        row = self.db.execute("SELECT response, prompt_tokens, completion_tokens FROM replies "
                              "WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], Usage(row[1], row[2]))

    def put(self, key: str, config: LLMConfig, request: ChatRequest, response: str,
            usage: Usage) -> None:
        self.db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (key, config.model, config.base_url.rstrip("/"), request.prompt_version,
                         response, usage.prompt_tokens, usage.completion_tokens))

    def add_batch(self, batch_id: str, config: LLMConfig, keys: Sequence[str]) -> None:
        self.db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, 1)",
                        (batch_id, config.base_url.rstrip("/"), config.model, json.dumps(list(keys))))

    def open_batches(self, config: LLMConfig) -> dict[str, list[str]]:
        """Batches sent to this endpoint and model and not collected: {batch id: keys}."""
        rows = self.db.execute("SELECT batch_id, keys FROM batches WHERE open = 1 AND endpoint = ? "
                               "AND model = ? ORDER BY rowid", (config.base_url.rstrip("/"), config.model))
        return {batch_id: json.loads(keys) for batch_id, keys in rows}

    def close_batch(self, batch_id: str) -> None:
        self.db.execute("UPDATE batches SET open = 0 WHERE batch_id = ?", (batch_id,))

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self.db.close()


class _MinuteWindow:
    """At most `limit` units in any 60 s window; 0 means no limit."""

    def __init__(self, limit: int):
        self.limit = limit
        self.events: deque[tuple[float, int]] = deque()

    async def acquire(self, amount: int) -> None:
        if not self.limit:
            return
        amount = min(amount, self.limit)
        while True:
            now = time.monotonic()
            while self.events and now - self.events[0][0] >= 60:
                self.events.popleft()
            if sum(a for _, a in self.events) + amount <= self.limit:
                self.events.append((now, amount))
                return
            await asyncio.sleep(max(0.01, self.events[0][0] + 60 - now))


@dataclass
class RunStats:
    """What this client did: requests sent and answered from the cache, tokens, spend."""

    requests: int = 0
    sent: int = 0  # HTTP attempts, retries included
    cached: int = 0
    failed: int = 0
    budget_refused: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spent_usd: float = 0.0  # paid by this client's calls (cache hits cost nothing)
    retries: int = 0
    batches: int = 0  # batches submitted (batch mode)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI's) or `Retry-After`."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    return retry_after_seconds(headers.get("retry-after"))


class _Transient(Exception):
    """A failure worth retrying; `wait` is the server's Retry-After, if any."""

    def __init__(self, detail: str, wait: float | None = None):
        super().__init__(detail)
        self.detail = detail
        self.wait = wait


class _Fatal(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass
class _Queued:
    """A request waiting for the next batch, and the chain awaiting its reply."""

    key: str
    request: ChatRequest
    worst_usd: float
    future: asyncio.Future


@dataclass(frozen=True)
class _BatchFailure:
    detail: str
    transient: bool  # expired, rate limited, a server error: worth another batch


class LLMClient:
    """Config, cache and budget for a series of `run_requests` calls.

    The budget (`config.max_usd`) is shared by every call made through one client, so a
    stage that generates, judges and paraphrases stops at one cap.
    """

    def __init__(self, config: LLMConfig, cache: RequestCache | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep):
        self.config = config
        self.cache = cache if cache is not None else RequestCache()
        self.stats = RunStats()
        self._reserved_usd = 0.0
        self._json_schema_ok = config.structured_output == "json_schema"
        # Newer OpenAI models take max_completion_tokens and reject max_tokens (a 400 says so).
        self._max_tokens_name = "max_tokens"
        self._sleep = sleep
        self.budget_message = ""
        self.progress = False  # batch mode: a progress bar per batch

    @property
    def budget_exhausted(self) -> bool:
        return bool(self.budget_message)

    def _api_key(self) -> str:
        name = self.config.api_key_env
        if not name:
            return "no-key"  # local servers ignore it; the SDK insists on one
        key = os.environ.get(name, "")
        if not key:
            raise LLMConfigError(f"environment variable {name} is not set; export the API key "
                                 f"there (it is never read from params or files)")
        return key

    def _redact(self, text: str) -> str:
        name = self.config.api_key_env
        key = os.environ.get(name, "") if name else ""
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text[:500]

    def cached_reply(self, request: ChatRequest) -> Reply | None:
        key = request_key(self.config, request)
        hit = self.cache.get(key)
        if hit is None:
            return None
        body, usage = hit
        return self._reply_from_body(key, body, usage, cached=True)

    def _reply_from_body(self, key: str, body: str, usage: Usage, cached: bool) -> Reply:
        data = json.loads(body)
        choice = data["choices"][0]
        return Reply(text=choice["message"].get("content") or "", usage=usage,
                     cost_usd=self.config.price.cost(usage.prompt_tokens, usage.completion_tokens),
                     cached=cached, finish_reason=choice.get("finish_reason") or "", key=key,
                     raw=body)

    def worst_case_usd(self, request: ChatRequest) -> float:
        out = request.max_tokens or self.config.default_max_tokens
        return self.config.price.cost(estimate_prompt_tokens(request), out)

    @contextlib.asynccontextmanager
    async def session(self):
        """Within a running event loop: the limits and the HTTP client that `ask` uses.

        The SDK client is made at the first request the cache cannot answer, so a fully
        cached run needs neither the key nor the server.
        """
        self._gate = asyncio.Semaphore(self.config.concurrency)
        self._rpm = _MinuteWindow(self.config.requests_per_minute)
        self._tpm = _MinuteWindow(self.config.tokens_per_minute)
        self._api = None
        self._abort: LLMConfigError | None = None
        self._queue: list[_Queued] = []
        self._wake = asyncio.Event()
        dispatcher = asyncio.create_task(self._dispatch()) if self.config.mode == "batch" else None
        try:
            yield self
        finally:
            if dispatcher is not None:
                dispatcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await dispatcher
            if self._api is not None:
                await self._api.close()
            self._api = None

    async def ask(self, request: ChatRequest) -> Reply:
        """One request inside `session()`: the cache's reply, or the endpoint's."""
        self.stats.requests += 1
        hit = self.cached_reply(request)
        if hit is not None:
            self.stats.cached += 1
            self._count_usage(hit)
            return hit
        if self.config.mode == "batch":
            return await self._ask_in_batch(request)
        async with self._gate:
            if self._abort is not None:  # an earlier request showed the settings are wrong
                raise self._abort
            if self._api is None:
                self._api = self._make_api()
            try:
                return await self._call(self._api, request, self._rpm, self._tpm)
            except LLMConfigError as err:
                self._abort = err
                raise

    async def arun(self, requests: Sequence[ChatRequest], progress: bool = False,
                   desc: str = "llm") -> list[Reply]:
        from tqdm import tqdm

        replies: list[Reply | None] = []
        for request in requests:  # cache hits first, without a coroutine each
            hit = self.cached_reply(request)
            if hit is not None:
                self.stats.requests += 1
                self.stats.cached += 1
                self._count_usage(hit)
            replies.append(hit)
        todo = [i for i, reply in enumerate(replies) if reply is None]
        if todo:
            async with self.session():
                bar = tqdm(total=len(todo), desc=desc, unit="req", disable=not progress)

                async def one(i: int) -> None:
                    replies[i] = await self.ask(requests[i])
                    bar.update(1)

                try:
                    await asyncio.gather(*(one(i) for i in todo))
                finally:
                    bar.close()
        return [r for r in replies if r is not None]

    def _make_api(self):
        from openai import AsyncOpenAI

        # Retries are ours (bounded, Retry-After honoured, counted): the SDK's are off.
        return AsyncOpenAI(base_url=self.config.base_url, api_key=self._api_key(),
                           max_retries=0, timeout=self.config.timeout_s)

    def _count_usage(self, reply: Reply) -> None:
        self.stats.prompt_tokens += reply.usage.prompt_tokens
        self.stats.completion_tokens += reply.usage.completion_tokens

    def _reserve(self, key: str, worst: float) -> Reply | None:
        """Reserve a request's worst-case cost under the cap; a refusal Reply when it would
        pass it (that request and every later one are not sent)."""
        cap = self.config.max_usd
        if self.budget_message or (cap > 0 and self.stats.spent_usd + self._reserved_usd + worst > cap):
            if not self.budget_message:
                self.budget_message = (
                    f"budget cap of ${cap:.4f} reached: ${self.stats.spent_usd:.4f} spent, "
                    f"the next request could cost up to ${worst:.4f}; raise max_usd and re-run "
                    f"(finished calls come from the cache)")
            self.stats.budget_refused += 1
            return Reply(text=None, error=BUDGET_EXHAUSTED, detail=self.budget_message, key=key)
        self._reserved_usd += worst
        return None

    async def _call(self, api, request: ChatRequest, rpm: _MinuteWindow,
                    tpm: _MinuteWindow) -> Reply:
        key = request_key(self.config, request)
        worst = self.worst_case_usd(request)
        refused = self._reserve(key, worst)
        if refused is not None:
            return refused
        try:
            await rpm.acquire(1)
            await tpm.acquire(estimate_prompt_tokens(request)
                              + (request.max_tokens or self.config.default_max_tokens))
            attempt = 0
            while True:
                try:
                    body, usage = await self._send(api, request)
                    break
                except _Transient as err:
                    if attempt >= self.config.max_retries:
                        self.stats.failed += 1
                        return Reply(text=None, error=LLM_ERROR, key=key, detail=self._redact(
                            f"{err.detail} (gave up after {attempt + 1} attempts)"))
                    if err.wait is not None and err.wait > self.config.max_retry_after_s:
                        self.stats.failed += 1
                        return Reply(text=None, error=LLM_ERROR, key=key, detail=self._redact(
                            f"{err.detail}: Retry-After {err.wait:.0f}s is over "
                            f"max_retry_after_s {self.config.max_retry_after_s:.0f}"))
                    backoff = min(self.config.max_backoff_s, self.config.backoff_s * 2 ** attempt)
                    backoff *= 1 + random.random() * 0.25
                    await self._sleep(max(backoff, err.wait or 0.0))
                    attempt += 1
                    self.stats.retries += 1
                except _Fatal as err:
                    self.stats.failed += 1
                    return Reply(text=None, error=LLM_ERROR, key=key, detail=self._redact(err.detail))
        finally:
            self._reserved_usd -= worst
        # Committed before anything else can go wrong: a kill after this line loses nothing.
        self.cache.put(key, self.config, request, body, usage)
        reply = self._reply_from_body(key, body, usage, cached=False)
        self.stats.spent_usd += reply.cost_usd
        self._count_usage(reply)
        return reply

    def _response_format(self, request: ChatRequest) -> dict[str, Any] | None:
        if request.schema is None:
            return None
        if self._json_schema_ok:
            return {"type": "json_schema", "json_schema": {
                "name": request.schema_name, "schema": request.schema, "strict": True}}
        return {"type": "json_object"}

    def _request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The chat completion body, as sent online and as a batch line's `body`."""
        kwargs: dict[str, Any] = {"model": self.config.model, "messages": list(request.messages)}
        for name in ("temperature", "top_p", "seed"):
            value = getattr(request, name)
            if value is not None:
                kwargs[name] = value
        if request.max_tokens is not None:
            kwargs[self._max_tokens_name] = request.max_tokens
        response_format = self._response_format(request)
        if response_format is not None:
            kwargs["response_format"] = response_format
        return kwargs

    async def _send(self, api, request: ChatRequest) -> tuple[str, Usage]:
        """One HTTP attempt: (raw body, usage), or _Transient / _Fatal."""
        import openai

        kwargs = self._request_body(request)
        response_format = kwargs.get("response_format")
        self.stats.sent += 1
        try:
            # The SDK's documented raw request (`client.post(path, cast_to=httpx.Response)`):
            # auth, base_url, timeouts and error classes as usual, but no typed-params
            # transform or response model, which cost ~1.5 ms of CPU a request.
            raw = await api.post("/chat/completions", cast_to=_http_response_class(), body=kwargs)
        except openai.APIStatusError as err:
            status = err.status_code
            detail = f"http_{status}: {_error_message(err)}"
            if status == 429 or status >= 500 or status == 408:
                raise _Transient(detail, parse_retry_after(err.response.headers)) from None
            if status == 400 and self._max_tokens_name == "max_tokens" \
                    and "max_completion_tokens" in _error_message(err):
                self._max_tokens_name = "max_completion_tokens"
                raise _Transient(f"{detail} (sending max_completion_tokens)", 0.0) from None
            if status == 400 and response_format and response_format["type"] == "json_schema" \
                    and self._json_schema_ok and _mentions_response_format(err):
                # The server lacks strict json_schema: JSON mode plus our own validation.
                self._json_schema_ok = False
                raise _Transient(f"{detail} (falling back to JSON mode)", 0.0) from None
            if status in (401, 403, 404):
                # A wrong key, a forbidden or unknown model, a wrong base_url: every other
                # request would fail the same way, so stop the run instead of rejecting all.
                raise LLMConfigError(self._redact(
                    f"the endpoint answered {detail}; check base_url ({self.config.base_url}), "
                    f"model ({self.config.model}) and the key in "
                    f"${self.config.api_key_env or '(none)'}")) from None
            raise _Fatal(detail) from None
        except openai.APITimeoutError:
            raise _Transient(f"timeout after {self.config.timeout_s:.0f}s") from None
        except openai.APIConnectionError as err:
            raise _Transient(f"connection_error: {err.__cause__ or err}") from None
        return _completion(raw.text, request)

    # ---- batch mode ------------------------------------------------------------------

    async def _ask_in_batch(self, request: ChatRequest) -> Reply:
        if self._abort is not None:
            raise self._abort
        key = request_key(self.config, request)
        worst = self.worst_case_usd(request)
        refused = self._reserve(key, worst)
        if refused is not None:
            return refused
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(key, request, worst, future))
        self._wake.set()
        return await future

    async def _dispatch(self) -> None:
        """Send what the chains wait on as one batch, again and again, for the session."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Let every chain run up to its next request, so that one batch carries them all
            # (between two requests a chain only parses and reads the cache).
            size = -1
            while size != len(self._queue):
                size = len(self._queue)
                for _ in range(5):
                    await asyncio.sleep(0)
            queued, self._queue = self._queue, []
            if not queued:
                continue
            try:
                await self._run_batches(queued)
            except Exception as err:  # settings (LLMConfigError) or a bug: the chains see it
                if isinstance(err, LLMConfigError):
                    self._abort = err
                for item in queued:
                    if not item.future.done():
                        self._reserved_usd -= item.worst_usd
                        item.future.set_exception(err)

    async def _run_batches(self, queued: list[_Queued]) -> None:
        """Answer every queued request: collect batches already in flight for them, submit
        the rest, and send again (up to `max_retries` times) what a batch left unanswered."""
        if self._api is None:
            self._api = self._make_api()
        waiting: dict[str, list[_Queued]] = {}
        for item in queued:
            waiting.setdefault(item.key, []).append(item)
        for attempt in range(self.config.max_retries + 1):
            in_flight = {batch_id: keys for batch_id, keys in self.cache.open_batches(self.config).items()
                         if waiting.keys() & set(keys)}
            covered = {key for keys in in_flight.values() for key in keys}
            new = [key for key in waiting if key not in covered]
            if new:
                in_flight[await self._submit_batch([waiting[key][0].request for key in new], new)] = new
            requests = {key: items[0].request for key, items in waiting.items()}
            outcomes: dict[str, tuple[str, Usage] | _BatchFailure] = {}
            for batch_id in in_flight:
                outcomes.update(await self._collect_batch(batch_id, requests))
            for key in list(waiting):
                outcome = outcomes.get(key, _BatchFailure("not in the batch's output or error file", True))
                if isinstance(outcome, _BatchFailure) and outcome.transient \
                        and attempt < self.config.max_retries:
                    continue
                for n, item in enumerate(waiting.pop(key)):
                    self._reserved_usd -= item.worst_usd
                    item.future.set_result(self._batch_reply(key, outcome, paid=n == 0))
            if not waiting:
                return
            self.stats.retries += len(waiting)

    def _batch_reply(self, key: str, outcome: tuple[str, Usage] | _BatchFailure, paid: bool) -> Reply:
        """The Reply for a batch outcome; the same request asked twice is paid once."""
        if isinstance(outcome, _BatchFailure):
            self.stats.failed += 1
            return Reply(text=None, error=LLM_ERROR, key=key, detail=self._redact(outcome.detail))
        body, usage = outcome
        reply = self._reply_from_body(key, body, usage, cached=not paid)
        if paid:
            self.stats.spent_usd += reply.cost_usd
        self._count_usage(reply)
        return reply

    async def _submit_batch(self, requests: list[ChatRequest], keys: list[str]) -> str:
        lines = "".join(json.dumps({"custom_id": key, "method": "POST", "url": BATCH_ENDPOINT,
                                    "body": self._request_body(request)}, ensure_ascii=False) + "\n"
                        for key, request in zip(keys, requests))
        upload = await self._batch_call(self._api.files.create, purpose="batch",
                                        file=("wpqa-batch.jsonl", lines.encode("utf-8"), "application/jsonl"))
        batch = await self._batch_call(self._api.batches.create, input_file_id=upload.id,
                                       endpoint=BATCH_ENDPOINT, completion_window="24h",
                                       metadata={"client": "wpqa"})
        # Recorded before waiting: a run stopped now collects this batch next time.
        self.cache.add_batch(batch.id, self.config, keys)
        self.stats.batches += 1
        self.stats.sent += len(keys)
        return batch.id

    async def _collect_batch(self, batch_id: str, requests: dict[str, ChatRequest]
                             ) -> dict[str, tuple[str, Usage] | _BatchFailure]:
        """Wait for a batch to end and store every answer in the cache at once (answers to
        requests no longer waited on too: they are paid for); the outcomes by key."""
        from tqdm import tqdm

        bar = tqdm(desc=f"batch {batch_id}", unit="req", disable=not self.progress)
        try:
            while True:
                batch = await self._batch_call(self._api.batches.retrieve, batch_id)
                counts = batch.request_counts
                if counts is not None:
                    bar.total = counts.total
                    bar.n = counts.completed + counts.failed
                    bar.set_postfix_str(batch.status)
                if batch.status in _BATCH_DONE:
                    break
                await self._sleep(self.config.batch_poll_s)
        finally:
            bar.close()
        outcomes: dict[str, tuple[str, Usage] | _BatchFailure] = {}
        if batch.status == "failed":  # the input file itself was refused
            errors = "; ".join(f"{e.code}: {e.message}" for e in (batch.errors.data or [])) \
                if batch.errors else "no reason given"
            for key in self.cache.open_batches(self.config).get(batch_id, []):
                outcomes[key] = _BatchFailure(f"batch {batch_id} failed: {errors}", False)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self._batch_call(self._api.files.content, file_id)
                for line in content.text.splitlines():
                    if line.strip():
                        key, outcome = _batch_line(json.loads(line))
                        if not isinstance(outcome, _BatchFailure):
                            request = requests.get(key) or ChatRequest(messages=())
                            self.cache.put(key, self.config, request, *outcome)
                        outcomes[key] = outcome
        self.cache.close_batch(batch_id)
        return outcomes

    async def _batch_call(self, call: Callable, *args, **kwargs):
        """A files or batches API call, retried on 429, 5xx and dropped connections; a
        refusal (401, 403, 404, 400) stops the run: the Batch API is unavailable there."""
        import openai

        for attempt in range(self.config.max_retries + 1):
            try:
                return await call(*args, **kwargs)
            except openai.APIStatusError as err:
                status = err.status_code
                if status not in (408, 429) and status < 500 or attempt == self.config.max_retries:
                    raise LLMConfigError(self._redact(
                        f"the Batch API call failed with http_{status}: {_error_message(err)}; "
                        f"mode: batch needs the files and batches endpoints of the OpenAI API "
                        f"at base_url ({self.config.base_url})")) from None
                wait = parse_retry_after(err.response.headers)
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                if attempt == self.config.max_retries:
                    raise LLMConfigError(f"the Batch API at {self.config.base_url} could not be "
                                         f"reached: {err}") from None
                wait = None
            self.stats.retries += 1
            await self._sleep(max(wait or 0.0, min(self.config.max_backoff_s,
                                                   self.config.backoff_s * 2 ** attempt)))


def _batch_line(row: dict[str, Any]) -> tuple[str, tuple[str, Usage] | _BatchFailure]:
    """(custom_id, answer or failure) of one line of a batch's output or error file."""
    key = str(row.get("custom_id"))
    response = row.get("response") or {}
    status = int(response.get("status_code") or 0)
    if status == 200:
        body = response.get("body")
        try:
            return key, _completion(body if isinstance(body, str) else json.dumps(body, ensure_ascii=False),
                                    None)
        except _Transient as err:
            return key, _BatchFailure(err.detail, True)
    body = response.get("body")
    error = row.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
    code = error.get("code") or (f"http_{status}" if status else "batch_error")
    detail = f"{code}: {error.get('message') or 'no message'}"
    return key, _BatchFailure(detail, code == "batch_expired" or status in (0, 408, 429) or status >= 500)


def _completion(body: str, request: ChatRequest | None) -> tuple[str, Usage]:
    """(body, usage) of a chat completion body; _Transient when it is not one."""
    try:
        data = json.loads(body)
        message = data["choices"][0]["message"]
        if not isinstance(message, dict):
            raise TypeError("message is not an object")
        usage = data.get("usage") or {}
        counted = Usage(int(usage.get("prompt_tokens") or 0),
                        int(usage.get("completion_tokens") or 0))
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise _Transient(f"malformed_response: {type(err).__name__}: {body[:80]!r}") from None
    if not counted.total_tokens:  # servers that send no usage: count it ourselves, high
        prompt = estimate_prompt_tokens(request) if request is not None else 0
        counted = Usage(prompt, estimate_tokens(message.get("content") or ""))
    return body, counted


def _http_response_class() -> type:
    """The httpx Response class the installed SDK is built on (httpx2 from openai 3)."""
    try:
        import httpx2
        return httpx2.Response
    except ImportError:
        import httpx
        return httpx.Response


def _error_message(err: Exception) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(err, "message", err))


def _mentions_response_format(err: Exception) -> bool:
    text = _error_message(err).lower()
    return any(w in text for w in ("response_format", "json_schema", "structured", "schema"))


def run_requests(client: LLMClient, requests: Sequence[ChatRequest], progress: bool = False,
                 desc: str = "llm") -> list[Reply]:
    """Make the requests (cache first, then the endpoint); one Reply each, in order."""
    return asyncio.run(client.arun(requests, progress=progress, desc=desc))


def chat(system: str, user: str) -> tuple[dict[str, str], ...]:
    """Messages for a system prompt and one user turn."""
    messages = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    return tuple(messages)


def with_repair(request: ChatRequest, previous: str, problem: str) -> ChatRequest:
    """The request again, with the invalid reply and what was wrong with it appended."""
    messages = request.messages + (
        {"role": "assistant", "content": previous},
        {"role": "user", "content": f"That reply was not usable: {problem}. Reply again with "
                                    f"only the JSON object the instructions ask for."})
    return replace(request, messages=messages)


__all__ = ["BUDGET_EXHAUSTED", "ChatRequest", "LLMClient", "LLMConfig", "LLMConfigError",
           "LLM_ERROR", "Price", "Reply", "RequestCache", "RunStats", "Usage", "chat",
           "estimate_prompt_tokens", "estimate_tokens", "request_key", "run_requests",
           "with_repair"]
