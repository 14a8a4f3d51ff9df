"""wpqa.llm against a real OpenAI-compatible server on loopback, through the real openai SDK."""
from __future__ import annotations

import json
import time

import pytest

from tests.openai_server import ScriptedOpenAI, ServerReply
from wpqa.llm import (BUDGET_EXHAUSTED, LLM_ERROR, ChatRequest, LLMClient, LLMConfig,
                      LLMConfigError, Price, RequestCache, chat, parse_retry_after, request_key,
                      run_requests)


def config(server, **kw):
    values = dict(base_url=server.base_url, model="test-model", backoff_s=0.01,
                  max_backoff_s=0.05, timeout_s=10)
    values.update(kw)
    return LLMConfig(**values)


def client(server, tmp_path, **kw):
    return LLMClient(config(server, **kw), RequestCache(tmp_path / "cache.sqlite"))


def ask(text, **kw):
    return ChatRequest(messages=chat("You answer briefly.", text), **kw)


def echo(body):
    return "echo: " + body["messages"][-1]["content"]


@pytest.fixture
def server():
    with ScriptedOpenAI(responder=echo) as srv:
        yield srv


def test_plain_chat_completion_with_sampling_and_usage(server, tmp_path):
    c = client(server, tmp_path, price=Price(1.0, 2.0))
    [reply] = run_requests(c, [ask("hi there", temperature=0.7, top_p=0.9, seed=3, max_tokens=20)])
    assert reply.ok and reply.text == "echo: hi there" and not reply.cached
    body = server.chat_requests()[0].body
    assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.7, 0.9, 3, 20)
    assert "response_format" not in body
    # usage as the server counted it: words of the prompt (5) and of the content (3)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 3)
    assert reply.cost_usd == pytest.approx((5 * 1.0 + 3 * 2.0) / 1e6)
    assert c.stats.spent_usd == pytest.approx(reply.cost_usd)


def test_second_run_sends_nothing_and_a_changed_request_only_itself(server, tmp_path):
    requests = [ask(f"question {i}") for i in range(6)]
    first = run_requests(client(server, tmp_path), requests)
    assert len(server.chat_requests()) == 6
    again_client = client(server, tmp_path)
    again = run_requests(again_client, requests)
    assert len(server.chat_requests()) == 6  # zero new requests
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)
    assert again_client.stats.spent_usd == 0 and again_client.stats.cached == 6
    changed = requests[:5] + [ask("question 5, edited")]
    run_requests(client(server, tmp_path), changed)
    assert len(server.chat_requests()) == 7
    assert server.chat_requests()[-1].body["messages"][-1]["content"] == "question 5, edited"


def test_cache_key_covers_model_endpoint_sampling_schema_and_prompt_version(server):
    base = config(server)
    req = ask("x")
    keys = {request_key(base, req),
            request_key(config(server, model="other"), req),
            request_key(LLMConfig(base_url="http://127.0.0.1:1/v1", model="test-model"), req),
            request_key(base, ask("x", temperature=0.5)),
            request_key(base, ask("x", seed=1)),
            request_key(base, ask("x", max_tokens=5)),
            request_key(base, ask("x", schema={"type": "object"})),
            request_key(base, ask("x", prompt_version="generate-v2"))}
    assert len(keys) == 8
    # Limits and budget do not change what the server answers: same key.
    assert request_key(config(server, concurrency=1, max_usd=3), req) == request_key(base, req)


def test_429_retry_after_is_honoured(server, tmp_path):
    server.script(ServerReply.rate_limited(retry_after=0.4))
    start = time.perf_counter()
    [reply] = run_requests(client(server, tmp_path), [ask("a")])
    assert reply.ok and reply.text == "echo: a"
    assert time.perf_counter() - start >= 0.4  # waited as told, not the 0.01 s backoff
    assert len(server.chat_requests()) == 2


def test_5xx_and_malformed_bodies_are_retried_then_given_up(server, tmp_path):
    server.script(ServerReply.error(500), ServerReply.malformed(), ServerReply.error(503))
    c = client(server, tmp_path, max_retries=3)
    [reply] = run_requests(c, [ask("b")])
    assert reply.ok and len(server.chat_requests()) == 4 and c.stats.retries == 3

    server.script(*[ServerReply.error(502)] * 3)
    c = client(server, tmp_path, max_retries=2)
    [reply] = run_requests(c, [ask("c")])
    assert reply.error == LLM_ERROR and "http_502" in reply.detail and "3 attempts" in reply.detail
    # A failure is not cached: the next run asks again.
    [reply] = run_requests(client(server, tmp_path), [ask("c")])
    assert reply.ok


def test_too_long_retry_after_and_client_errors_fail_at_once(server, tmp_path):
    server.script(ServerReply.rate_limited(retry_after=3600))
    [reply] = run_requests(client(server, tmp_path, max_retry_after_s=5), [ask("d")])
    assert reply.error == LLM_ERROR and "Retry-After 3600s" in reply.detail
    server.script(ServerReply.error(400, "context length exceeded"))
    before = len(server.chat_requests())
    [reply] = run_requests(client(server, tmp_path), [ask("e")])
    assert reply.error == LLM_ERROR and "http_400: context length exceeded" in reply.detail
    assert len(server.chat_requests()) == before + 1  # no retry of a client error


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_wrong_key_model_or_url_stops_the_run(server, tmp_path, status):
    server.responder = lambda body: ServerReply.error(status, "no such model or bad key")
    with pytest.raises(LLMConfigError, match=f"endpoint answered http_{status}.*check base_url"):
        run_requests(client(server, tmp_path, concurrency=1), [ask(f"{i}") for i in range(20)])
    assert len(server.chat_requests()) == 1  # not 20 rejected rows


def test_slow_server_times_out_then_succeeds(tmp_path):
    with ScriptedOpenAI(responder=echo) as srv:
        srv.script(ServerReply(content="late", latency=1.5))
        c = client(srv, tmp_path, timeout_s=0.5)
        [reply] = run_requests(c, [ask("f")])
        assert reply.ok and reply.text == "echo: f" and "timeout" not in reply.detail
        assert c.stats.retries == 1


def test_structured_output_sends_strict_schema_and_falls_back_to_json_mode(server, tmp_path):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
              "additionalProperties": False}
    req = ask("g", schema=schema, schema_name="thing")
    run_requests(client(server, tmp_path), [req])
    fmt = server.chat_requests()[-1].body["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "thing", "schema": schema,
                                                          "strict": True}}
    # A server without json_schema support answers 400: the client switches to JSON mode.
    server.script(ServerReply.error(400, "response_format type json_schema is not supported"))
    c = client(server, tmp_path, concurrency=1)
    replies = run_requests(c, [ask("h", schema=schema), ask("i", schema=schema)])
    assert all(r.ok for r in replies)
    formats = [r.body["response_format"]["type"] for r in server.chat_requests()[-3:]]
    assert formats[0] == "json_schema" and formats[1:] == ["json_object", "json_object"]


def test_max_tokens_becomes_max_completion_tokens_when_the_server_asks(server, tmp_path):
    server.script(ServerReply.error(400, "Unsupported parameter: 'max_tokens' is not supported "
                                         "with this model. Use 'max_completion_tokens' instead."))
    c = client(server, tmp_path, concurrency=1)
    replies = run_requests(c, [ask("k", max_tokens=50), ask("l", max_tokens=50)])
    assert all(r.ok for r in replies)
    bodies = [r.body for r in server.chat_requests()]
    assert bodies[0]["max_tokens"] == 50
    assert [b.get("max_completion_tokens") for b in bodies[1:]] == [50, 50]
    assert all("max_tokens" not in b for b in bodies[1:])


def test_budget_cap_stops_cleanly_and_keeps_finished_calls(server, tmp_path):
    price = Price(1000.0, 1000.0)  # $0.001 a token
    req = [ask(f"q{i}", max_tokens=10) for i in range(20)]
    c = client(server, tmp_path, price=price, max_usd=0.1, concurrency=1)
    replies = run_requests(c, req)
    done = [r for r in replies if r.ok]
    refused = [r for r in replies if r.error == BUDGET_EXHAUSTED]
    assert done and refused and len(done) + len(refused) == 20
    assert c.stats.spent_usd <= 0.1  # a hard cap: never passed
    assert len(server.chat_requests()) == len(done)  # refused requests were never sent
    assert "raise max_usd" in refused[0].detail and c.budget_exhausted
    # Raising the cap re-sends only what was refused.
    c2 = client(server, tmp_path, price=price, max_usd=10)
    again = run_requests(c2, req)
    assert all(r.ok for r in again)
    assert len(server.chat_requests()) == 20 and c2.stats.cached == len(done)


def test_concurrency_limit_is_kept(tmp_path):
    active = []
    peak = [0]

    def slow(body):
        active.append(1)
        peak[0] = max(peak[0], len(active))
        time.sleep(0.1)
        active.pop()
        return "ok"

    with ScriptedOpenAI(responder=slow) as srv:
        replies = run_requests(client(srv, tmp_path, concurrency=3), [ask(f"{i}") for i in range(12)])
    assert all(r.ok for r in replies) and peak[0] == 3


def test_requests_per_minute_window(tmp_path):
    with ScriptedOpenAI(responder=echo) as srv:
        c = client(srv, tmp_path, requests_per_minute=3)
        sleeps = []
        import wpqa.llm as llm
        window = llm._MinuteWindow(3)
        import asyncio

        async def run():
            for _ in range(3):
                await window.acquire(1)
            task = asyncio.create_task(window.acquire(1))
            await asyncio.sleep(0.05)
            sleeps.append(task.done())
            task.cancel()
        asyncio.run(run())
        assert sleeps == [False]  # the fourth request in the minute waits
        replies = run_requests(c, [ask("1"), ask("2"), ask("3")])
        assert all(r.ok for r in replies)


def test_missing_key_variable_is_a_clear_error(server, tmp_path, monkeypatch):
    monkeypatch.delenv("WPQA_TEST_NO_SUCH_KEY", raising=False)
    c = client(server, tmp_path, api_key_env="WPQA_TEST_NO_SUCH_KEY")
    with pytest.raises(LLMConfigError, match="WPQA_TEST_NO_SUCH_KEY is not set"):
        run_requests(c, [ask("x")])
    assert not server.chat_requests()


def test_key_is_sent_as_bearer_but_redacted_from_errors(server, tmp_path, monkeypatch):
    monkeypatch.setenv("WPQA_TEST_KEY", "sk-test-secret-123456")

    def leaky(body):  # a proxy that echoes the key in its error message
        return ServerReply.error(502, "upstream refused key sk-test-secret-123456")

    server.responder = leaky
    c = client(server, tmp_path, api_key_env="WPQA_TEST_KEY", max_retries=0)
    [reply] = run_requests(c, [ask("x")])
    assert server.chat_requests()[0].headers["authorization"] == "Bearer sk-test-secret-123456"
    assert reply.error == LLM_ERROR and "sk-test-secret" not in reply.detail and "***" in reply.detail
    assert "sk-test" not in repr(c.config)
    server.responder = lambda body: ServerReply.error(401, "Incorrect API key: sk-test-secret-123456")
    with pytest.raises(LLMConfigError) as err:
        run_requests(c, [ask("y")])
    assert "sk-test-secret" not in str(err.value) and "WPQA_TEST_KEY" in str(err.value)


def test_raw_body_is_stored_and_parsed_later(server, tmp_path):
    server.responder = lambda body: '{"question": "How?"}'
    c = client(server, tmp_path)
    [reply] = run_requests(c, [ask("j")])
    stored = json.loads(reply.raw)
    assert stored["choices"][0]["message"]["content"] == '{"question": "How?"}'
    assert stored["usage"]["prompt_tokens"] == reply.usage.prompt_tokens


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None


def test_server_lists_models_and_404s_unknown_routes(server):
    import urllib.error
    import urllib.request
    data = json.loads(urllib.request.urlopen(server.base_url + "/models").read())
    assert data["data"][0]["id"] == "test-model"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.base_url + "/nope")
    assert err.value.code == 404
