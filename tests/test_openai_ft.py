"""The OpenAI fine-tuning path against the loopback OpenAI-compatible server."""
from __future__ import annotations

import io
import json

import pytest

from tests.openai_server import ScriptedOpenAI
from tests.tiny_models import qa_rows, write_params
from commands import openai_ft
from wpqa.io import write_jsonl
from wpqa.params import load_params
from wpqa.records import QAPair, from_row


def _pairs(n, offset=0):
    return [from_row(QAPair, row) for row in qa_rows(n, offset)]


def test_format_errors_follow_openais_checks():
    good = openai_ft.chat_example("How do I x?", "To x, follow these steps:\n1. A b.\n2. C d.", "sys")
    assert openai_ft.format_errors([good]) == {}
    bad = [
        "not a dict",
        {"messages": []},
        {"messages": [{"role": "user"}]},
        {"messages": [{"role": "user", "content": "q", "extra": 1},
                      {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "robot", "content": "q"}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": "q"}]},
    ]
    assert openai_ft.format_errors(bad) == {
        "data_type": 1, "missing_messages_list": 1, "message_missing_key": 1,
        "message_unrecognized_key": 1, "unrecognized_role": 1, "missing_content": 1,
        "example_missing_assistant_message": 2}


def test_token_counts_limits_epochs_and_cost(tmp_path):
    params = load_params(write_params(tmp_path / "p.yaml")).openai_ft
    count = lambda text: len(text.split())  # noqa: E731  a counter whose numbers we can check
    example = {"messages": [{"role": "user", "content": "a b c"},
                            {"role": "assistant", "content": "d e"}]}
    assert openai_ft.example_tokens(example, count) == 3 + (3 + 1 + 3) + (3 + 1 + 2)
    assert openai_ft.default_epochs(10) == 10 and openai_ft.default_epochs(389) == 3
    assert openai_ft.default_epochs(20_000) == 1
    from dataclasses import replace
    small = replace(params, max_tokens_per_example=16, epochs=2, price_per_million_tokens=1e6)
    long = {"messages": [{"role": "user", "content": "w " * 20},
                         {"role": "assistant", "content": "x"}]}
    stats = openai_ft.analyze([example, long], small, count)
    assert stats["over_token_limit"] == 1
    assert stats["tokens_max"] == 32
    assert stats["billed_tokens"] == (16 + 16) * 2  # the long one is billed up to the limit
    assert stats["estimated_cost_usd"] == 64.0


def test_export_writes_chat_jsonl_and_a_report(tmp_path):
    params = load_params(write_params(tmp_path / "p.yaml")).openai_ft
    report = openai_ft.export(_pairs(12), _pairs(3, 20), params, tmp_path / "ft")
    rows = [json.loads(line) for line in (tmp_path / "ft" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
    assert rows[0]["messages"][2]["content"] == qa_rows(1)[0]["answer"]
    assert report["train"]["format_errors"] == {} and report["valid"]["examples"] == 3
    assert report["train"]["epochs"] == 8  # 12 examples: OpenAI raises the epochs to see ~100
    assert report["train"]["billed_tokens"] > 0


def test_validate_command_flags_a_broken_file(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"messages": [{"role": "user", "content": "q"}]}\nnot json\n')
    out = io.StringIO()
    code = openai_ft.openai_ft_command(["validate", str(tmp_path / "bad.jsonl"), "--params",
                                        str(write_params(tmp_path / "p.yaml"))], out=out)
    assert code == 1
    assert json.loads(out.getvalue())["format_errors"] == {
        "data_type": 1, "example_missing_assistant_message": 1}


@pytest.mark.integration
def test_submit_uploads_creates_polls_and_records(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "train.jsonl", qa_rows(10))
    write_jsonl(tmp_path / "test.jsonl", qa_rows(3, 20))
    with ScriptedOpenAI() as server:
        params = write_params(tmp_path / "p.yaml")
        params.write_text(params.read_text().replace("https://api.openai.com/v1", server.base_url))
        raw = load_params(params)
        monkeypatch.setenv(raw.openai_ft.api_key_env, "sk-test")
        out = io.StringIO()
        code = openai_ft.openai_ft_command(
            ["all", "--params", str(params), "--train", str(tmp_path / "train.jsonl"),
             "--valid", str(tmp_path / "test.jsonl"), "--data", str(tmp_path / "ft"),
             "--out", str(tmp_path / "rec")], out=out)
        assert code == 0, out.getvalue()
        uploads = [r for r in server.requests if r.path == "/v1/files"]
        assert len(uploads) == 2 and uploads[0].headers["authorization"] == "Bearer sk-test"
        created = next(r for r in server.requests if r.path == "/v1/fine_tuning/jobs")
        assert created.body["model"] == raw.openai_ft.model
        assert created.body["suffix"] == "wpqa" and created.body["seed"] == raw.seed
        assert created.body["method"]["supervised"]["hyperparameters"]["n_epochs"] == "auto"
        assert server.files["file-1"]["content"] == (tmp_path / "ft" / "train.jsonl").read_text()
    record = json.loads((tmp_path / "rec" / "job.json").read_text())
    assert record["status"] == "succeeded" and record["job_id"] == "ftjob-1"
    assert record["fine_tuned_model"] == "ft:gpt-4o-mini-2024-07-18:wpqa-tests:wpqa:ftjob-1"
    steps = record["steps"]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1)) and len(steps) == 30
    assert steps[-1]["train_loss"] < steps[0]["train_loss"] and "valid_loss" in steps[0]
    tsv = (tmp_path / "rec" / "loss.tsv").read_text().splitlines()
    assert tsv[0] == "step\ttrain_loss\tvalid_loss" and len(tsv) == 31
    assert "Fine-tuning job started" in out.getvalue()


@pytest.mark.integration
def test_a_failed_job_exits_non_zero_with_its_error(tmp_path, monkeypatch, capsys):
    write_jsonl(tmp_path / "train.jsonl", qa_rows(4))
    with ScriptedOpenAI() as server:
        server.fail_jobs = True
        params = write_params(tmp_path / "p.yaml")
        params.write_text(params.read_text().replace("https://api.openai.com/v1", server.base_url))
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        code = openai_ft.openai_ft_command(
            ["all", "--params", str(params), "--train", str(tmp_path / "train.jsonl"),
             "--valid", "", "--data", str(tmp_path / "ft"), "--out", str(tmp_path / "rec")],
            out=io.StringIO())
    assert code == 1
    assert "the job ended failed: training file invalid" in capsys.readouterr().err
    assert json.loads((tmp_path / "rec" / "job.json").read_text())["status"] == "failed"


def test_submit_without_a_key_says_which_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    openai_ft.export(_pairs(3), [], load_params(write_params(tmp_path / "p.yaml")).openai_ft,
                     tmp_path / "ft")
    code = openai_ft.openai_ft_command(["submit", "--params", str(tmp_path / "p.yaml"),
                                        "--data", str(tmp_path / "ft"), "--out", str(tmp_path / "r")])
    assert code == 2 and "set the environment variable OPENAI_API_KEY" in capsys.readouterr().err
