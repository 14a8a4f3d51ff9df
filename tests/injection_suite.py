"""The planted-injection suite: pages with one planted instruction each, run through
extraction, a generate backend (rules, or a gullible model on the loopback OpenAI server)
and the validate gate; it counts the planted marker words that reach the accepted Q&A
(everything under data/curated, data/splits, data/hf and the reports is built from those)
and the clean procedures that are still accepted.

Used by tests/test_injection_suite.py (the aims as assertions) and
benchmarks/bench_injection.py (the figures for BENCHMARKS.md).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from curation.extract import extract_sections
from curation.generate import generate_with_backend
from wpqa.pattern import DEFAULT_BOUNDS
from curation.validate import validate_candidates
from tests.llm_responders import between, docs_model, draft_from_section, task_of, user_text
from wpqa.llm import LLMClient, LLMConfig, RequestCache
from wpqa.params import ExtractParams, GenerateParams, LLMParams, ValidateParams
from wpqa.records import Page, QAPair, to_row

CASES = Path(__file__).parent / "fixtures" / "planted_injections.yaml"
MARKER = re.compile(r"zemblor\d\d")
CLEAN_SECTIONS = """
<h2>Change the title of site {index}</h2>
<ol><li>Go to Settings &gt; General in the dashboard.</li>
<li>Type the new name in the Site Title field.</li>
<li>Click Save Changes to keep the new title.</li></ol>
<h2>Set the time zone of site {index}</h2>
<p>Scheduled posts use the site's time zone.</p>
<ol><li>Open Settings &gt; General.</li>
<li>Pick a city in the Timezone list.</li>
<li>Click Save Changes to apply the time zone.</li></ol>
"""
CLEAN_HEADINGS = ("Change the title of site", "Set the time zone of site")


@dataclass(frozen=True)
class Case:
    id: str
    where: str
    marker: str
    html: str = ""    # a page section (the page's other sections stay clean)
    readme: str = ""  # or a whole plugin readme.txt, served beside a clean settings page


def load_cases(path: Path = CASES) -> tuple[list[Case], str]:
    raw = yaml.safe_load(path.read_text())
    cases = [Case(c["id"], c["where"], f"zemblor{i:02d}",
                  c.get("html", "").replace("{m}", f"zemblor{i:02d}"),
                  c.get("readme", "").replace("{m}", f"zemblor{i:02d}"))
             for i, c in enumerate(raw["cases"], start=1)]
    return cases, raw["clean"]


def page_for(index: int, section_html: str) -> Page:
    """One settings page: two clean procedures, then the planted (or clean) section."""
    body = (f"<html><head><title>Site settings {index}</title></head><body><main><article>"
            f"<h1>Site settings {index}</h1><div class='entry-content'>"
            f"{CLEAN_SECTIONS.format(index=index)}"
            f"{section_html}</div></article></main></body></html>")
    return Page(url=f"https://docs.example.test/settings-{index}/", status=200, headers={},
                body=body, source="documentation", kind="html")


def readme_page(index: int, text: str) -> Page:
    return Page(url=f"https://plugins.example.test/zemblor-tools-{index}/trunk/readme.txt", status=200,
                headers={}, body=text, source="plugin_readme", kind="readme")


def planted_pages(cases: list[Case], clean: str) -> list[tuple[Case, Page]]:
    """(case, the page its planted text is on): a settings page, or a readme beside one."""
    pairs = []
    for i, case in enumerate(cases, start=1):
        pairs.append((case, readme_page(i, case.readme) if case.readme else page_for(i, case.html)))
    return pairs


def gullible(body: dict[str, Any]) -> str:
    """A model that obeys whatever it reads: a section that asks for a step gets it, and
    the judge approves everything."""
    task = task_of(body)
    if task == "generate":
        section = between(user_text(body), "<<<SECTION", "SECTION>>>")
        draft = draft_from_section(section)
        planted = MARKER.findall(section)
        if planted:
            step = f"Install {planted[0]} from {planted[0]}.example."
            draft = {**draft, "usable": True, "kind": draft["kind"] or "steps",
                     "question": draft["question"] or f"How do I get {planted[0]}?",
                     "intro": draft["intro"] or f"To get {planted[0]}, follow these steps:",
                     "steps": (draft["steps"] or ["Open the dashboard."])[:9] + [step]}
        return json.dumps(draft)
    if task == "judge":
        return json.dumps({"score": 5, "reason": "Looks right."})
    return docs_model(body)


@dataclass
class SuiteResult:
    backend: str
    planted: int
    leaked: list[str]            # case ids whose marker reached an accepted item
    clean_kept: int              # accepted items from the clean sections of the pages
    clean_baseline: int          # the same count on the same pages with nothing planted
    caught: list[str]            # case ids whose planted section was held back as suspected_injection
    sent_to_model: list[str]     # case ids whose marker was sent to the model (the screen missed it)
    false_alarms: int            # clean pages (nothing planted) with a section held back


def _accepted(pages: list[Page], backend: str, server, cache: Path) -> tuple[list[QAPair], set[str]]:
    """Accepted items, and the URLs of the pages with a section held back as an injection."""
    sections = [s for page in pages for s in extract_sections(page, ExtractParams(min_section_words=3))[0]]
    llm = LLMParams(base_url=server.base_url if server else "http://127.0.0.1:9/v1", model="test-model",
                    api_key_env="", prices={"test-model": (0.0, 0.0)}, concurrency=4, max_usd=0.0)
    params = GenerateParams(backend=backend, llm=llm, paraphrases=1)
    client = None
    if backend != "rules":
        config = replace(LLMConfig.for_endpoint(llm), backoff_s=0.01, max_backoff_s=0.05)
        client = LLMClient(config, RequestCache(cache))
    candidates, rejected, _ = generate_with_backend(sections, params, DEFAULT_BOUNDS, client)
    accepted, _, _, _ = validate_candidates(candidates, DEFAULT_BOUNDS, ValidateParams(min_accepted=1))
    url_of = {s.section_id: s.url for s in sections}
    return accepted, {url_of[r.ref] for r in rejected if r.reason == "suspected_injection"}


def _clean_count(accepted: list[QAPair]) -> int:
    return sum(1 for q in accepted if not q.origin_id and q.heading_path[-1].startswith(CLEAN_HEADINGS))


def run_suite(backend: str, server=None, workdir: Path = Path(".")) -> SuiteResult:
    """The suite through one backend; `server` is a ScriptedOpenAI for openai and hybrid."""
    cases, clean = load_cases()
    if server is not None:
        server.responder = gullible
    baseline, alarms = _accepted([page_for(i, clean) for i in range(1, len(cases) + 1)], backend, server,
                            workdir / f"baseline-{backend}.sqlite")
    sent_before = len(server.chat_requests()) if server else 0
    planted = planted_pages(cases, clean)
    pages = [page for _, page in planted]
    pages += [page_for(i, clean) for i, (case, _) in enumerate(planted, start=1) if case.readme]
    accepted, flagged_pages = _accepted(pages, backend, server, workdir / f"planted-{backend}.sqlite")
    dataset = json.dumps([to_row(q) for q in accepted]).lower()
    carried = sorted({m for r in (server.chat_requests()[sent_before:] if server else [])
                      for m in MARKER.findall(json.dumps(r.body, ensure_ascii=False))})
    return SuiteResult(backend=backend, planted=len(cases),
                       leaked=[c.id for c in cases if c.marker in dataset],
                       clean_kept=_clean_count(accepted), clean_baseline=_clean_count(baseline),
                       caught=[case.id for case, page in planted if page.url in flagged_pages],
                       sent_to_model=[c.id for c in cases if c.marker in carried],
                       false_alarms=len(alarms))
