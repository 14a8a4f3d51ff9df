"""The generate stage's command line with an LLM backend: resume after a kill, the key never
written anywhere, the funnel adding up, and `wpqa curate --dry-run`."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from curation.report import funnel_counts
from tests.conftest import ROOT
from tests.llm_responders import docs_model, task_of
from tests.openai_server import ScriptedOpenAI, ServerReply
from tests.test_llm_curate import INJECTION, SECTIONS, section
from wpqa.io import write_jsonl
from wpqa.records import to_row

pytestmark = pytest.mark.integration


def write_params(path: Path, server, **generate) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    llm = {**raw["generate"]["llm"], "base_url": server.base_url, "model": "test-model",
           "api_key_env": "WPQA_TEST_API_KEY", "prices": {"test-model": [1.0, 2.0]},
           "max_retries": 1, **generate.pop("llm", {})}
    raw["generate"] = {**raw["generate"], "backend": "openai", "llm": llm, **generate}
    path.write_text(yaml.safe_dump(raw))
    return path


def stage(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "curation.generate", "--params", str(tmp / "params.yaml"),
            "--sections", str(tmp / "data/interim/sections.jsonl"),
            "--out", str(tmp / "data/interim/candidates.jsonl"),
            "--rejected", str(tmp / "data/interim/generate_rejected.jsonl"),
            "--metrics", str(tmp / "reports/generate/metrics.json"),
            "--cache", str(tmp / ".cache/llm/requests.sqlite"), *extra]


def env(key: str = "") -> dict[str, str]:
    values = {**os.environ, "PYTHONPATH": str(ROOT)}
    if key:
        values["WPQA_TEST_API_KEY"] = key
    return values


def write_sections(tmp: Path, sections) -> None:
    write_jsonl(tmp / "data/interim/sections.jsonl", (to_row(s) for s in sections))


def cached_rows(tmp: Path) -> int:
    with sqlite3.connect(tmp / ".cache/llm/requests.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl_c"])
def test_killed_run_resumes_without_resending_finished_calls(tmp_path, sig):
    sections = [section(f"s{i:02d}", f"Task number {i}", ordered=[f"Open screen {i} now.",
                                                                   f"Click button {i} there."])
                for i in range(12)]
    write_sections(tmp_path, sections)
    # 1 s a reply, 2 at a time: the run needs ~6 s, so the signal sent after the 5th
    # request lands mid-run even when a loaded machine starves this test's polling loop.
    with ScriptedOpenAI(responder=docs_model, latency=1.0) as server:
        write_params(tmp_path / "params.yaml", server, judge=False, paraphrases=0,
                     llm={"concurrency": 2})
        # A child inherits an ignored SIGINT; a library used in-process by an earlier test
        # may have left it ignored in this pytest process, so give the stage the default.
        proc = subprocess.Popen(stage(tmp_path), cwd=ROOT, env=env("k-1234"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 120
        while len(server.chat_requests()) < 5 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)  # SIGKILL: a crash, no clean-up code runs; SIGINT: Ctrl-C
        _, stderr = proc.communicate(timeout=60)
        if sig == signal.SIGINT:
            assert proc.returncode != 0 and b"interrupted;" in stderr and b"run again" in stderr
        first = len(server.chat_requests())
        kept = cached_rows(tmp_path)
        assert 1 <= kept <= first < 12
        assert not (tmp_path / "data/interim/candidates.jsonl").exists()

        done = subprocess.run(stage(tmp_path), cwd=ROOT, env=env("k-1234"), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        resent = len(server.chat_requests()) - first
        assert resent == 12 - kept  # every finished call came from the cache
        sent_texts = [r.user_text for r in server.chat_requests()]
        assert len(set(sent_texts)) == 12
        metrics = json.loads((tmp_path / "reports/generate/metrics.json").read_text())
        assert metrics["candidates_out"] == 12 and metrics["llm_calls"] == 12
        assert f"{kept} from the cache" in done.stderr


def test_api_key_reaches_no_output_and_the_funnel_adds_up(tmp_path):
    key = f"sk-wpqa-test-{uuid.uuid4().hex}"

    def leaky(body):  # answers normally, but one section gets a proxy error echoing the key
        if task_of(body) == "generate" and "Schedule a post" in body["messages"][1]["content"]:
            return ServerReply.error(502, f"upstream refused the key {key}")
        return docs_model(body)

    sections = SECTIONS + [INJECTION]
    write_sections(tmp_path, sections)
    pages = [{"url": u} for u in sorted({s.url for s in sections})]
    write_jsonl(tmp_path / "data/raw/pages.jsonl", pages)
    with ScriptedOpenAI(responder=leaky) as server:
        write_params(tmp_path / "params.yaml", server)
        done = subprocess.run(stage(tmp_path), cwd=ROOT, env=env(key), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert server.chat_requests()[0].headers["authorization"] == f"Bearer {key}"
        validate = subprocess.run(
            [sys.executable, "-m", "curation.validate", "--params", str(tmp_path / "params.yaml"),
             "--candidates", str(tmp_path / "data/interim/candidates.jsonl"),
             "--out", str(tmp_path / "data/curated/qa.jsonl"),
             "--quarantine", str(tmp_path / "data/curated/quarantine.jsonl"),
             "--reports", str(tmp_path / "reports/validate")],
            cwd=ROOT, env=env(key), capture_output=True, text=True, timeout=300)
        assert validate.returncode == 0, validate.stderr
        dry = subprocess.run([sys.executable, "-m", "commands.cli", "curate", "--dry-run",
                              "--params", str(tmp_path / "params.yaml"),
                              "--sections", str(tmp_path / "data/interim/sections.jsonl"),
                              "--cache", str(tmp_path / ".cache/llm/requests.sqlite")],
                             cwd=ROOT, env=env(key), capture_output=True, text=True, timeout=300)
        assert dry.returncode == 0, dry.stderr
    rejected = [json.loads(line) for line in
                (tmp_path / "data/interim/generate_rejected.jsonl").read_text().splitlines()]
    assert {r["reason"] for r in rejected} == {"llm_error", "not_useful", "suspected_injection"}
    assert any("***" in r["detail"] for r in rejected)  # the echoed key was redacted

    outputs = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(outputs) >= 8
    for path in outputs:
        assert key.encode() not in path.read_bytes(), f"the API key leaked into {path}"
    for log in (done.stdout, done.stderr, validate.stdout, validate.stderr, dry.stdout, dry.stderr):
        assert key not in log

    counts = funnel_counts(tmp_path / "data")
    assert counts["adds_up_sections"] and counts["adds_up_candidates"]
    assert counts["paraphrases"] == 2 and counts["sections_rejected"] == 3


def test_dry_run_estimates_before_spending(tmp_path):
    write_sections(tmp_path, SECTIONS + [INJECTION])
    with ScriptedOpenAI(responder=docs_model) as server:
        write_params(tmp_path / "params.yaml", server)
        args = [sys.executable, "-m", "commands.cli", "curate", "--dry-run",
                "--params", str(tmp_path / "params.yaml"),
                "--sections", str(tmp_path / "data/interim/sections.jsonl"),
                "--cache", str(tmp_path / ".cache/llm/requests.sqlite")]
        dry = subprocess.run(args, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
        assert dry.returncode == 0, dry.stderr
        assert not server.requests  # nothing sent, no key needed
        assert "3 generate (0 already cached), up to 3 judge, up to 3 paraphrase" in dry.stdout
        assert "1 skipped as suspected_injection" in dry.stdout
        low, high = [float(x) for x in
                     __import__("re").findall(r"\$(\d+\.\d+) \(", dry.stdout)]
        assert 0 < low < high
        # After a real run the generate calls are cached: the estimate drops to zero.
        done = subprocess.run(stage(tmp_path), cwd=ROOT, env=env("k"), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        again = subprocess.run(args, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
        assert "3 generate (3 already cached)" in again.stdout and "between $0.0000" in again.stdout


def test_a_rejected_key_stops_the_stage_with_a_clear_message(tmp_path):
    key = f"sk-wpqa-test-{uuid.uuid4().hex}"
    write_sections(tmp_path, SECTIONS)
    with ScriptedOpenAI(responder=lambda body: ServerReply.error(401, f"bad key {key}")) as server:
        write_params(tmp_path / "params.yaml", server)
        done = subprocess.run(stage(tmp_path), cwd=ROOT, env=env(key), capture_output=True,
                              text=True, timeout=300)
    assert done.returncode != 0
    assert "generate: the endpoint answered http_401" in done.stderr and key not in done.stderr
    assert "Traceback" not in done.stderr


def test_default_rules_params_make_no_llm_client(tmp_path):
    """The offline default: generate with params.yaml as shipped touches no cache or network."""
    write_sections(tmp_path, SECTIONS)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    done = subprocess.run(stage(tmp_path), cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".cache").exists()
    assert "LLM" not in done.stderr


def test_budget_stop_is_clean_and_says_so(tmp_path):
    sections = [section(f"s{i:02d}", f"Task number {i}", ordered=[f"Open screen {i} now.",
                                                                   f"Click button {i} there."])
                for i in range(8)]
    write_sections(tmp_path, sections)
    with ScriptedOpenAI(responder=docs_model) as server:
        # $1,000 per million tokens, a 100-token reply bound: ~$0.4 a call at worst
        write_params(tmp_path / "params.yaml", server, judge=False, paraphrases=0,
                     llm={"prices": {"test-model": [1000, 1000]}, "max_usd": 1.5,
                          "max_tokens": 100, "concurrency": 1})
        done = subprocess.run(stage(tmp_path), cwd=ROOT, env=env("k"), capture_output=True,
                              text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "STOPPED AT THE BUDGET" in done.stderr and "raise max_usd" in done.stderr
    metrics = json.loads((tmp_path / "reports/generate/metrics.json").read_text())
    assert metrics["candidates_out"] >= 1 and metrics["rejected_budget_exhausted"] >= 1
    assert metrics["candidates_out"] + metrics["rejected_budget_exhausted"] == 8
    assert metrics["llm_cost_usd"] <= 1.5


def test_the_stage_in_batch_mode_sends_batches_and_a_rerun_sends_nothing(tmp_path):
    write_sections(tmp_path, SECTIONS)
    with ScriptedOpenAI(responder=docs_model) as server:
        write_params(tmp_path / "params.yaml", server, llm={"mode": "batch", "batch_poll_s": 0.01})
        dry = subprocess.run([sys.executable, "-m", "commands.cli", "curate", "--dry-run",
                              "--params", str(tmp_path / "params.yaml"),
                              "--sections", str(tmp_path / "data/interim/sections.jsonl")],
                             cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
        assert "mode batch (the Batch API at 0.5 of the online price)" in dry.stdout, dry.stderr
        done = subprocess.run(stage(tmp_path), cwd=ROOT, env=env("k"), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert len(server.batches) == 3  # generate, judge, paraphrase: one batch per round
        assert all(r.headers == {} for r in server.chat_requests())  # every call ran inside a batch
        candidates = (tmp_path / "data/interim/candidates.jsonl").read_text()
        assert "How do I schedule a post?" in candidates
        before = len(server.requests)
        again = subprocess.run(stage(tmp_path), cwd=ROOT, env=env("k"), capture_output=True,
                               text=True, timeout=300)
        assert again.returncode == 0 and len(server.requests) == before
        assert (tmp_path / "data/interim/candidates.jsonl").read_text() == candidates
