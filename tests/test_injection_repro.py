"""The planted injections through a real `dvc repro` workspace: a docs snapshot of planted
pages crawled over loopback by the scrape stage, curated by each backend (the LLM ones
against a model that obeys what it reads), validated and split by the stages as `dvc repro split` runs
them, then the dataset report. No marker may reach any file under data/ or reports/
(the crawled pages and their extracted sections excepted: they are the input), and every
clean procedure on the planted pages must still be accepted.

The in-process suite (tests/test_injection_suite.py) covers the readme.txt cases too; a
snapshot folder holds WordPress REST items, so only the HTML cases travel this way.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.injection_suite import MARKER, gullible, load_cases
from tests.openai_server import ScriptedOpenAI
from tests.test_pipeline import copy_project, ran_stages, run
from tests.test_snapshot import write_item
from wpqa.io import read_jsonl

pytestmark = [pytest.mark.integration]


# A word of its own in every step keeps each page's clean procedures apart from the other
# pages' (the split joins items that share a 13-word run into one group).
WORDS = ("amber birch cobalt dune ember fern garnet hazel indigo juniper kelp lilac maple "
         "nettle olive pebble quartz russet sage thistle umber violet willow yarrow zinnia "
         "aspen").split()
CLEAN_HEADINGS = ("Change the title of the", "Set the time zone of the")


def clean_sections(word: str) -> str:
    return (f"<h2>Change the title of the {word} site</h2>"
            f"<ol><li>Go to Settings &gt; General on the {word} site.</li>"
            f"<li>Type the new {word} name in the Site Title field.</li>"
            f"<li>Click Save Changes to keep the {word} title.</li></ol>"
            f"<h2>Set the time zone of the {word} site</h2>"
            f"<p>Scheduled {word} posts use the time zone of the site.</p>"
            f"<ol><li>Open Settings &gt; General for the {word} site.</li>"
            f"<li>Pick the {word} city in the Timezone list.</li>"
            f"<li>Click Save Changes to apply the {word} time zone.</li></ol>")


def planted_snapshot(root: Path) -> list:
    """One REST item per HTML case: two clean procedures, then the planted section."""
    cases = [c for c in load_cases()[0] if c.html]
    assert len(cases) <= len(WORDS)
    for i, (case, word) in enumerate(zip(cases, WORDS), start=1):
        write_item(root, "helphub_article", i, f"{word}-settings", f"The {word} site settings",
                   clean_sections(word) + case.html)
    return cases


def files_with_markers(folder: Path, skip: set[Path]) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p not in skip):
        if path.suffix == ".parquet":  # compressed pages: read the values, not the bytes
            import pyarrow.parquet as pq
            text = json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False).lower()
        else:
            text = path.read_bytes().decode("utf-8", errors="replace").lower()
        markers = sorted(set(MARKER.findall(text)))
        if markers:
            found[str(path.relative_to(folder.parent))] = markers
    return found


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("backend", ["rules", "openai", "hybrid"])
def test_no_planted_marker_reaches_data_or_reports_of_a_repro(backend, tmp_path):
    repo = tmp_path / "repo"
    copy_project(repo)
    cases = planted_snapshot(repo / "snapshot")
    with ScriptedOpenAI(responder=gullible) as server:
        raw = yaml.safe_load((repo / "params.yaml").read_text())
        raw["scrape"].update(profile="snapshot", site_root="snapshot")
        raw["generate"].update(backend=backend, paraphrases=1)
        raw["generate"]["llm"].update(base_url=server.base_url, model="test-model",
                                      api_key_env="", max_usd=0.0,
                                      prices={"test-model": [0.0, 0.0]})
        raw["split"]["test_size"] = 0.2
        (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               "GX_ANALYTICS_ENABLED": "False", "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1",
               "WPQA_LLM_CACHE": str(tmp_path / "llm.sqlite")}
        for cmd in (["git", "init", "-q", "-b", "main"],
                    ["git", "config", "user.email", "t@example.test"],
                    ["git", "config", "user.name", "test"], ["dvc", "init", "-q"],
                    ["git", "add", "-A"], ["git", "commit", "-qm", "planted"]):
            run(cmd, repo, env)
        output = run(["dvc", "repro", "split"], repo, env)
        assert {"scrape", "extract", "generate", "validate", "split"} <= ran_stages(output)
        run([sys.executable, "-m", "curation.report", "--params", "params.yaml", "--data", "data",
             "--reports", "reports", "--out", "reports/dataset", "--repo", "."], repo, env)
        sent = {m for r in server.chat_requests()
                for m in MARKER.findall(json.dumps(r.body, ensure_ascii=False))}

    pages = read_jsonl(repo / "data/raw/pages.jsonl")
    assert len(pages) == len(cases)
    # The inputs hold the pages as crawled and as extracted; everything made from them may not.
    inputs = {repo / "data/raw/pages.jsonl", repo / "data/interim/sections.jsonl"}
    leaked = {**files_with_markers(repo / "data", inputs),
              **files_with_markers(repo / "reports", set())}
    assert leaked == {}, leaked
    # … while the inputs do hold them (the check can fail): every case's marker was crawled.
    crawled = files_with_markers(repo / "data/raw", set())["raw/pages.jsonl"]
    assert crawled == sorted(c.marker for c in cases)
    assert (repo / "data/hf/data/train.parquet").exists()
    # Every clean procedure on every planted page is accepted (before the split drops the
    # pages' identical copies of it as duplicates).
    accepted = read_jsonl(repo / "data/curated/qa.jsonl")
    clean = {(q["source_url"], q["heading_path"][-1]) for q in accepted
             if not q.get("origin_id") and q["heading_path"][-1].startswith(CLEAN_HEADINGS)}
    assert len(clean) == 2 * len(cases)
    assert (repo / "data/splits/train.jsonl").stat().st_size > 0
    assert "<html" in (repo / "reports/dataset/report.html").read_text()
    # The screen held every visible planted section back: no marker was sent to the model.
    assert sent == set(), sorted(sent)
