"""Batch mode (`generate.llm.mode: batch`): the OpenAI Batch API on a loopback server.

The server implements the documented files and batches endpoints (upload a JSONL file,
create a batch, poll it, download the output and error files); the real `openai` SDK
talks to it. Every test checks what went over the wire as well as what came back.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from curation.generate import generate_with_backend
from curation.llm_curate import estimate_run
from tests.openai_server import ScriptedOpenAI, ServerReply
from tests.test_llm_curate import LLM, SECTIONS, docs_model
from wpqa.llm import (LLM_ERROR, ChatRequest, LLMClient, LLMConfig, LLMConfigError, Price,
                      RequestCache, chat, request_key, run_requests)
from wpqa.params import GenerateParams, LLMParams, ParamsError
from wpqa.pattern import DEFAULT_BOUNDS


def echo(body):
    return "echo: " + body["messages"][-1]["content"]


def batch_client(server, tmp_path, **kw) -> LLMClient:
    values = dict(base_url=server.base_url, model="test-model", backoff_s=0.01, max_backoff_s=0.05,
                  timeout_s=10, mode="batch", batch_poll_s=0.01)
    values.update(kw)
    return LLMClient(LLMConfig(**values), RequestCache(tmp_path / "cache.sqlite"))


def ask(text):
    return ChatRequest(messages=chat("You answer briefly.", text), temperature=0.0, max_tokens=20)


def paths(server, method=None):
    return [r.path for r in server.requests if method is None or r.method == method]


def uploaded_lines(server):
    """Every line of every batch input file the client uploaded."""
    return [json.loads(line) for f in server.files.values() if f["purpose"] == "batch"
            for line in f["content"].splitlines()]


@pytest.fixture
def server():
    with ScriptedOpenAI(responder=echo) as srv:
        yield srv


def test_requests_go_as_one_batch_and_come_back_in_order(server, tmp_path):
    client = batch_client(server, tmp_path, price=Price(2.0, 4.0))
    requests = [ask(f"question {i}") for i in range(5)]
    replies = run_requests(client, requests)
    assert [r.text for r in replies] == [f"echo: question {i}" for i in range(5)]
    assert all(r.ok and not r.cached for r in replies)
    # one upload, one batch, polled; never the online endpoint directly
    assert paths(server, "POST") == ["/v1/files", "/v1/batches", "/v1/chat/completions",
                                     "/v1/chat/completions", "/v1/chat/completions",
                                     "/v1/chat/completions", "/v1/chat/completions"]
    assert all(r.headers == {} for r in server.chat_requests())  # run by the server's batch, not sent
    lines = uploaded_lines(server)
    assert [line["custom_id"] for line in lines] == [request_key(client.config, r) for r in requests]
    assert {(line["method"], line["url"]) for line in lines} == {("POST", "/v1/chat/completions")}
    assert lines[0]["body"]["model"] == "test-model" and lines[0]["body"]["max_tokens"] == 20
    assert client.stats.batches == 1 and client.stats.sent == 5
    assert client.stats.spent_usd == pytest.approx(sum(r.cost_usd for r in replies))
    assert client.stats.spent_usd > 0


def test_a_rerun_sends_nothing(server, tmp_path):
    requests = [ask(f"question {i}") for i in range(3)]
    run_requests(batch_client(server, tmp_path), requests)
    before = len(server.requests)
    again = run_requests(batch_client(server, tmp_path), requests)
    assert len(server.requests) == before and all(r.cached for r in again)
    assert [r.text for r in again] == [f"echo: question {i}" for i in range(3)]


def test_an_expired_batch_is_resumed_with_only_the_missing_requests(server, tmp_path):
    server.batch_expire_after = 2  # the first batch answers 2 of 5, then expires
    client = batch_client(server, tmp_path)
    requests = [ask(f"question {i}") for i in range(5)]
    replies = run_requests(client, requests)
    assert all(r.ok for r in replies) and [r.text for r in replies][4] == "echo: question 4"
    # the first batch had all five; the first resumed batch only the three it missed, and
    # so on, until none is left (each batch answers two before it expires)
    batches = [len([x for x in f["content"].splitlines() if x]) for f in server.files.values()
               if f["purpose"] == "batch"]
    assert batches == [5, 3, 1]
    assert client.stats.batches == 3 and client.stats.retries == 3 + 1


def test_failed_lines_are_retried_then_reported(server, tmp_path):
    server.script(ServerReply.error(500), ServerReply(status=400, raw=json.dumps(
        {"error": {"message": "bad request", "code": "invalid_request"}})))
    client = batch_client(server, tmp_path, max_retries=1)
    replies = run_requests(client, [ask("a"), ask("b"), ask("c")])
    # line 1: a 500, sent again in a second batch and answered; line 2: a 400, not retried
    assert replies[0].ok and replies[0].text == "echo: a"
    assert replies[1].error == LLM_ERROR and "invalid_request: bad request" in replies[1].detail
    assert replies[2].ok and client.stats.batches == 2 and client.stats.failed == 1


def test_a_run_stopped_mid_batch_collects_that_batch_instead_of_paying_again(server, tmp_path):
    server.batch_polls_to_finish = 10**6  # the batch never ends while the first run waits
    requests = [ask(f"question {i}") for i in range(3)]

    async def stopped_run():
        client = batch_client(server, tmp_path)
        task = asyncio.ensure_future(client.arun(requests))
        while not any(f["purpose"] == "batch" for f in server.files.values()) or not server.batches:
            await asyncio.sleep(0.01)
        task.cancel()  # Ctrl-C while the batch runs
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stopped_run())
    assert len(server.batches) == 1
    server.batch_polls_to_finish = 1
    replies = run_requests(batch_client(server, tmp_path), requests)
    assert [r.text for r in replies] == [f"echo: question {i}" for i in range(3)]
    assert len(server.batches) == 1  # the same batch, collected; nothing submitted again


def test_a_server_without_the_batch_api_stops_the_run_with_the_reason(tmp_path):
    with ScriptedOpenAI(responder=echo) as srv:
        srv.routes.pop(("POST", "/v1/batches"))
        with pytest.raises(LLMConfigError, match="mode: batch needs the files and batches endpoints"):
            run_requests(batch_client(srv, tmp_path), [ask("a")])


def test_the_budget_knows_the_batch_price_and_stops_before_sending(server, tmp_path):
    online = LLMParams(**{**LLM, "base_url": server.base_url})
    batch = replace(online, mode="batch")
    assert LLMConfig.for_endpoint(batch).price == Price(*(p * 0.5 for p in online.price()))
    sections = SECTIONS
    cost = lambda params: estimate_run(sections, GenerateParams(backend="openai", llm=params),  # noqa: E731
                                       DEFAULT_BOUNDS, RequestCache(tmp_path / "e.sqlite"))["cost_usd_max"]
    assert cost(batch) == pytest.approx(cost(online) / 2, rel=1e-3)
    # a cap below one request's worst case: nothing is uploaded
    client = batch_client(server, tmp_path, price=Price(1000.0, 1000.0), max_usd=0.001)
    [reply] = run_requests(client, [ask("a")])
    assert reply.error == "budget_exhausted" and server.requests == []


def test_batch_params_are_checked():
    with pytest.raises(ParamsError, match=r"generate.llm.mode: got 'later'; allowed: online, batch"):
        LLMParams(mode="later")
    with pytest.raises(ParamsError, match="generate.llm.batch_price_share"):
        LLMParams(batch_price_share=0.0)


def test_the_generate_stage_in_batch_mode_matches_online_with_a_batch_per_round(tmp_path):
    """generate, judge and paraphrase chains: each round of requests is one batch, and the
    items are those of an online run."""
    def run(mode, cache):
        with ScriptedOpenAI(responder=docs_model) as srv:
            params = GenerateParams(backend="openai", llm=LLMParams(**{**LLM, "base_url": srv.base_url,
                                                                       "mode": mode, "batch_poll_s": 0.01}))
            config = replace(LLMConfig.for_endpoint(params.llm), backoff_s=0.01, max_backoff_s=0.05)
            client = LLMClient(config, RequestCache(tmp_path / cache))
            candidates, rejected, metrics = generate_with_backend(SECTIONS, params, DEFAULT_BOUNDS, client)
            return candidates, rejected, metrics, client, srv

    online, online_rejected, online_metrics, _, online_srv = run("online", "online.sqlite")
    batch, batch_rejected, batch_metrics, client, srv = run("batch", "batch.sqlite")
    assert [q.question for q in batch] == [q.question for q in online] and len(batch) >= 4
    assert [r.reason for r in batch_rejected] == [r.reason for r in online_rejected]
    # the same requests, in three batches (generate, judge, paraphrase), at half the price
    assert len(srv.chat_requests()) == len(online_srv.chat_requests())
    assert client.stats.batches == 3 and not any(p == "/v1/chat/completions" and r.headers
                                                 for p, r in ((r.path, r) for r in srv.requests))
    assert batch_metrics["llm_cost_usd"] == pytest.approx(online_metrics["llm_cost_usd"] / 2, rel=1e-3)
