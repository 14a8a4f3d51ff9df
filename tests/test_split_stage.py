"""The split stage end to end on a small set: review decisions, the HF folder, publish --dry-run."""
import csv
import json
import subprocess
import sys

import pytest
import yaml

from curation.review import Decision, answer_hash, apply_decisions, load_decisions
from curation.split import main as split_main
from tests.conftest import ROOT
from wpqa.io import read_jsonl, write_json, write_jsonl
from wpqa.records import QAPair, to_row


def steps(task, *items):
    return f"To {task}, follow these steps:\n" + "\n".join(f"{i}. {t}" for i, t in enumerate(items, 1))


def item(i, page=None):
    return QAPair(id=f"q{i:02d}", question=f"How do I finish chore number {i} on the site?",
                  answer=steps(f"finish chore {i}", f"Open the chore {i} screen in the dashboard.",
                               f"Set option {i} and click Save Changes."),
                  kind="steps", source_url=f"https://sample.wpqa.test/page-{page if page is not None else i}/",
                  source="documentation", section_id=f"s{i}", heading_path=["Chores"],
                  content_hash="h", generator="rules-v1")


EDIT_OK = steps("finish chore 3", "Open the chore 3 screen from the Tools menu.",
                "Set option 3 and click Save Changes.", "Reload the page to confirm.")
EDIT_BAD = "Just set option 4 and save."


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "commands.cli", *args], cwd=cwd, capture_output=True,
                          text=True)


@pytest.fixture
def project(tmp_path):
    """A params file, curated Q&A and the metrics the split stage reads."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["split"]["test_size"] = 4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    items = [item(i) for i in range(20)]
    write_jsonl(tmp_path / "qa.jsonl", (to_row(q) for q in items))
    write_json(tmp_path / "validate.json", {"candidates_in": 22, "accepted": 20, "quarantined": 2})
    return tmp_path


def run_split(project, decisions):
    split_main(["--params", str(project / "params.yaml"), "--qa", str(project / "qa.jsonl"),
                "--decisions", str(decisions), "--validation", str(project / "validate.json"),
                "--generate-metrics", str(project / "missing.json"),
                "--splits", str(project / "splits"), "--hf", str(project / "hf"),
                "--reports", str(project / "reports")])
    rows = {r["id"]: r for s in ("train", "test") for r in read_jsonl(project / f"splits/{s}.jsonl")}
    return rows, json.loads((project / "reports/metrics.json").read_text())


def test_review_sheet_round_trip_changes_the_splits(project):
    sheet = project / "review.csv"
    decisions = project / "review/decisions.jsonl"
    result = cli("review", "export", "--qa", str(project / "qa.jsonl"), "--decisions",
                 str(decisions), "--out", str(sheet))
    assert result.returncode == 0, result.stderr
    # A reviewer fills the sheet in a spreadsheet program.
    with open(sheet, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows][:2] == ["q00", "q01"] and rows[0]["source_url"].startswith("https://")
    verdicts = {"q01": ("veto", ""), "q02": ("keep", ""), "q03": ("edit", EDIT_OK),
                "q04": ("edit", EDIT_BAD)}
    for row in rows:
        row["verdict"], row["edited_answer"] = verdicts.get(row["id"], ("", ""))
    with open(sheet, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = cli("review", "import", str(sheet), "--decisions", str(decisions), "--params",
                 str(project / "params.yaml"), "--qa", str(project / "qa.jsonl"))
    assert result.returncode == 0, result.stderr
    assert "edit of q04 breaks" in result.stderr  # warned at import, rejected at split
    assert sorted(load_decisions(decisions)) == ["q01", "q02", "q03", "q04"]

    # A sheet naming an item that does not exist is refused whole, naming the id.
    stray = project / "stray.csv"
    with open(stray, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([rows[5] | {"verdict": "veto"}, rows[5] | {"id": "no-such-id", "verdict": "veto"}])
    result = cli("review", "import", str(stray), "--decisions", str(decisions), "--params",
                 str(project / "params.yaml"), "--qa", str(project / "qa.jsonl"))
    assert result.returncode == 2 and "no-such-id" in result.stderr and "nothing imported" in result.stderr
    assert sorted(load_decisions(decisions)) == ["q01", "q02", "q03", "q04"]

    before, _ = run_split(project, project / "none.jsonl")
    after, metrics = run_split(project, decisions)
    assert "q01" in before and "q01" not in after
    assert after["q03"]["answer"] == EDIT_OK and before["q03"]["answer"] != EDIT_OK
    assert after["q04"]["answer"] == before["q04"]["answer"]  # the bad edit is not applied
    assert (metrics["review_reviewed"], metrics["review_vetoed"], metrics["review_edited"],
            metrics["review_edits_rejected"], metrics["review_kept"]) == (4, 1, 1, 1, 1)
    review = json.loads((project / "reports/review.json").read_text())
    [rejected] = review["rejected_edits"]
    assert rejected["id"] == "q04" and {"intro", "list"} <= set(rejected["failed_rules"])
    dropped = read_jsonl(project / "splits/dropped.jsonl")
    assert [(r["ref"], r["reason"]) for r in dropped] == [("q01", "review_veto")]
    assert metrics["train"] + metrics["test"] + metrics["dropped"] == metrics["items"] == 20


def test_stale_and_unknown_decisions_are_not_applied(bounds):
    qa = item(1)
    decisions = {"q01": Decision("q01", "veto", answer_hash=answer_hash("an older answer")),
                 "gone": Decision("gone", "veto")}
    result = apply_decisions([qa], decisions, bounds)
    assert result.items == [qa] and result.stale == ["q01"] and result.unknown == ["gone"]
    assert apply_decisions([qa], {"q01": Decision("q01", "veto", answer_hash=answer_hash(qa.answer))},
                           bounds).vetoed == [qa]


def test_a_decision_on_an_item_whose_page_changed_is_flagged_not_applied(bounds, tmp_path):
    from dataclasses import replace

    from curation.review import export_rows, read_csv, write_csv

    qa = item(1)
    # The sheet records the section's hash; the reviewer vetoes; the round trip keeps it.
    [row] = export_rows([qa], {})
    assert row["source_hash"] == qa.content_hash
    write_csv(tmp_path / "sheet.csv", [{**row, "verdict": "veto"}])
    [decision] = read_csv(tmp_path / "sheet.csv")
    assert decision.source_hash == qa.content_hash
    assert apply_decisions([qa], {"q01": decision}, bounds).vetoed == [qa]
    # A re-crawl changed the page: same id and answer, new section hash.
    recrawled = replace(qa, content_hash="a-newer-section")
    result = apply_decisions([recrawled], {"q01": decision}, bounds)
    assert result.items == [recrawled] and result.source_changed == ["q01"]
    assert not result.vetoed and result.summary()["review_source_changed"] == 1
    assert result.to_json()["source_changed"] == ["q01"]


def test_bad_decisions_file_names_the_row(tmp_path):
    from curation.review import ReviewError
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a", "verdict": "keep"}\n{"id": "b", "verdict": "maybe"}\n')
    with pytest.raises(ReviewError, match="row 2: .*verdict 'maybe'; allowed: keep, veto, edit"):
        load_decisions(path)


def test_hf_folder_loads_offline_and_publish_dry_run_lists_it(project):
    run_split(project, project / "none.jsonl")
    hf = project / "hf"
    from datasets import load_dataset
    loaded = load_dataset(str(hf))
    assert loaded["test"].num_rows == 4 and loaded["train"].num_rows == 16
    assert loaded["train"].features["heading_path"].feature.dtype == "string"
    card = (hf / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    from huggingface_hub import DatasetCardData
    from wpqa.hub import card_metadata_problems
    assert card_metadata_problems(meta) == [] and DatasetCardData(**meta).license == "mit"
    for section in ("## Sources", "## Curation", "## Validation", "## Deduplication and leakage",
                    "## Limitations", "## License", "Generation cost: $0.00", "**0 leaks**"):
        assert section in card
    result = cli("publish", "--repo-id", "wpqa/wpqa-test", "--folder", str(hf), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would upload 3 files" in result.stdout
    assert "data/train.parquet" in result.stdout and "README.md" in result.stdout
    assert cli("publish", "--repo-id", "not a repo", "--folder", str(hf)).returncode == 2
    env_cli = subprocess.run([sys.executable, "-m", "commands.cli", "publish", "--repo-id", "wpqa/x",
                              "--folder", str(hf)], capture_output=True, text=True,
                             env={k: v for k, v in __import__("os").environ.items()
                                  if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")})
    assert env_cli.returncode == 2 and "HF_TOKEN" in env_cli.stderr


@pytest.mark.parametrize("key, value, message", [
    ("near_dup_threshold", 1.5, "split.near_dup_threshold: got 1.5; allowed: 0 < value <= 1"),
    ("licenses", {"*": "GPLv2+"}, "split.licenses.*: got 'GPLv2+'; allowed: a Hub license id"),
    ("leak_ngram_words", 2, "split.leak_ngram_words: got 2; allowed: a number >= 4"),
])
def test_bad_split_params_name_the_key(key, value, message):
    from wpqa.params import ParamsError, parse_params
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["split"][key] = value
    with pytest.raises(ParamsError, match=message.replace("*", r"\*").replace("+", r"\+")
                       .replace("(", r"\(")):
        parse_params(raw)


def test_card_cost_comes_from_the_generate_metrics():
    from curation.split import generation_cost
    assert generation_cost({"candidates_out": 3, "cost_usd": 1.25})[0] == 1.25
    assert generation_cost({"candidates_out": 3}) == (0.0, "the generate stage recorded no cost; "
                                                            "the rules backend calls no model")


def test_card_names_the_model_and_cost_and_says_n_a_for_missing_counts(project):
    write_json(project / "validate.json", {"accepted": 20})
    write_json(project / "generate.json", {"model": "gpt-4o-mini", "cost_usd": 0.125})
    split_main(["--params", str(project / "params.yaml"), "--qa", str(project / "qa.jsonl"),
                "--decisions", str(project / "none.jsonl"),
                "--validation", str(project / "validate.json"),
                "--generate-metrics", str(project / "generate.json"),
                "--splits", str(project / "splits"), "--hf", str(project / "hf"),
                "--reports", str(project / "reports")])
    card = (project / "hf/README.md").read_text()
    assert ("Model behind the generator: `gpt-4o-mini`.\nGeneration cost: $0.12 (from `cost_usd` "
            "in reports/generate/metrics.json)." in card)
    assert "Of\nn/a candidates, 20 were\naccepted and n/a quarantined" in card
    assert "16 train and 4 test items; 20 `steps` and\n0 `solutions`." in card
    assert "| documentation | mit | 20 |\n\n## Curation" in card
    assert "| `rules-v1` | `n/a` | 20 |\n\n" in card
    assert card.endswith("per source in the table above.\n")


def test_review_sheet_defuses_formulas():
    from curation.review import export_rows
    row = export_rows([QAPair(**{**item(1).__dict__, "question": "=HYPERLINK(\"http://x\")"})], {})[0]
    assert row["question"] == "'=HYPERLINK(\"http://x\")" and row["answer"].startswith("To finish")


def test_stage_stops_on_a_leak_with_the_pairs(project, monkeypatch):
    """A leaking split (forced here) stops the stage with the pair and writes the GX results."""
    import curation.split as split
    items = [item(i) for i in range(20)]
    # Like q03 but for another version: kept by dedup, so only the grouping keeps it with q03.
    twin = QAPair(**{**item(3).__dict__, "id": "q99", "source_url": "https://sample.wpqa.test/other/",
                     "answer": item(3).answer + "\nNote: This is for version 6.4."})
    write_jsonl(project / "qa.jsonl", (to_row(q) for q in items + [twin]))
    monkeypatch.setattr(split, "split_by_group", lambda kept, groups, params, seed: (
        sorted((q for q in kept if q.id != "q99"), key=lambda q: q.id), [q for q in kept if q.id == "q99"]))
    with pytest.raises(SystemExit) as stopped:
        run_split(project, project / "none.jsonl")
    message = str(stopped.value)
    assert message.startswith("split: stopped: decontamination failed: 1 of 1 test items overlap train")
    assert "test q99 ~ train q03: MinHash Jaccard" in message
    gx = json.loads((project / "reports/gx_results.json").read_text())
    assert not gx["success"] and not (project / "splits").exists()
