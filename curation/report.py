"""report stage: the dataset review report (HTML and Markdown) and the eval summary.

The funnel is recounted from the data files themselves — pages, sections, candidates,
accepted, splits — with every drop reason, and each step is checked to add up. Both
formats are rendered from one list of blocks; scraped text is escaped in the HTML, so a
page that contains `<script>` shows it as text.
"""
from __future__ import annotations

import argparse
import html
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from curation.pattern import RULE_IDS, parse_answer, words
from wpqa.io import read_jsonl, write_json, write_text
from wpqa.params import load_params


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Any]]
    bar_column: int | None = None  # draw this numeric column as a bar in HTML


@dataclass(frozen=True)
class Item:
    question: str
    answer: str
    source_url: str
    kind: str


Block = Heading | Para | Table | Item


def _read(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path) if path.exists() else []


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def funnel_counts(data: Path) -> dict[str, Any]:
    """Counts at every stage, recounted from the files, and whether each step adds up."""
    pages = _read(data / "raw/pages.jsonl")
    sections = _read(data / "interim/sections.jsonl")
    extract_rejected = _read(data / "interim/extract_rejected.jsonl")
    candidates = _read(data / "interim/candidates.jsonl")
    generate_rejected = _read(data / "interim/generate_rejected.jsonl")
    accepted = _read(data / "curated/qa.jsonl")
    quarantine = _read(data / "curated/quarantine.jsonl")
    train = _read(data / "splits/train.jsonl")
    test = _read(data / "splits/test.jsonl")

    page_urls = {p["url"] for p in pages}
    urls_with_sections = {s["url"] for s in sections}
    page_rejects = {r["ref"] for r in extract_rejected if r["ref"] in page_urls}
    section_ids = {s["section_id"] for s in sections}
    sections_with_candidates = {c["section_id"] for c in candidates}
    # LLM backends: a dropped paraphrase is a row about an item (ref: the original's id),
    # not about a section; it is counted apart so the section funnel still adds up.
    paraphrase_drops = [r for r in generate_rejected if r["reason"].startswith("paraphrase_")]
    section_rejects = {r["ref"] for r in generate_rejected if not r["reason"].startswith("paraphrase_")}
    counts = {
        "pages": len(pages),
        "pages_with_sections": len(urls_with_sections),
        "pages_rejected": len(page_rejects),
        "sections": len(sections),
        "sections_too_short": sum(1 for r in extract_rejected if r["reason"] == "too_short"),
        "sections_with_candidates": len(sections_with_candidates),
        "sections_rejected": len(section_rejects),
        "candidates": len(candidates),
        "paraphrases": sum(1 for c in candidates if c.get("origin_id")),
        "paraphrases_dropped": len(paraphrase_drops),
        "accepted": len(accepted),
        "quarantined": len(quarantine),
        "train": len(train),
        "test": len(test),
    }
    counts["adds_up_pages"] = (urls_with_sections | page_rejects) == page_urls \
        and not urls_with_sections & page_rejects
    counts["adds_up_sections"] = (sections_with_candidates | section_rejects) == section_ids \
        and not sections_with_candidates & section_rejects
    counts["adds_up_candidates"] = len(accepted) + len(quarantine) == len(candidates)
    counts["adds_up_splits"] = len(train) + len(test) == len(accepted)
    counts["adds_up"] = all(counts[k] for k in ("adds_up_pages", "adds_up_sections",
                                                "adds_up_candidates", "adds_up_splits"))
    counts["reasons_extract"] = dict(sorted(Counter(r["reason"] for r in extract_rejected).items()))
    counts["reasons_generate"] = dict(sorted(Counter(r["reason"] for r in generate_rejected).items()))
    counts["reasons_quarantine"] = dict(sorted(Counter(
        rule for q in quarantine for rule in q.get("failed_rules", [])).items()))
    return counts


def histogram(values: Iterable[int], width: int) -> list[list[Any]]:
    """Rows of (range, count) over fixed-width bins, empty bins included."""
    values = list(values)
    if not values:
        return []
    bins = Counter(v // width for v in values)
    return [[f"{b * width}–{b * width + width - 1}" if width > 1 else str(b), bins.get(b, 0)]
            for b in range(min(bins), max(bins) + 1)]


def build_blocks(data: Path, reports: Path, sample_items: int, seed: int) -> tuple[list[Block], dict]:
    counts = funnel_counts(data)
    accepted = _read(data / "curated/qa.jsonl")
    gx = _json(reports / "validate/gx_results.json")
    evaluation = _json(reports / "eval/metrics.json")
    train_metrics = _json(reports / "train/metrics.json")

    blocks: list[Block] = [Heading("Funnel")]
    verdict = "every step adds up" if counts["adds_up"] else "COUNTS DO NOT ADD UP — see below"
    blocks.append(Para(f"From {counts['pages']} pages to {counts['train']} train and "
                       f"{counts['test']} test items: {verdict}."))
    blocks.append(Table(["stage", "in", "kept", "dropped", "adds up"], [
        ["extract (pages)", counts["pages"], counts["pages_with_sections"], counts["pages_rejected"],
         counts["adds_up_pages"]],
        ["generate (sections)", counts["sections"], counts["sections_with_candidates"],
         counts["sections_rejected"], counts["adds_up_sections"]],
        ["validate (candidates)", counts["candidates"], counts["accepted"], counts["quarantined"],
         counts["adds_up_candidates"]],
        ["split (accepted)", counts["accepted"], f"{counts['train']} train", f"{counts['test']} test",
         counts["adds_up_splits"]],
    ]))
    blocks.append(Para(f"Sections dropped at extraction as too short: {counts['sections_too_short']}."))
    if counts["paraphrases"] or counts["paraphrases_dropped"]:
        blocks.append(Para(f"Candidates include {counts['paraphrases']} LLM paraphrases of other "
                           f"items; {counts['paraphrases_dropped']} paraphrases were dropped "
                           "(reasons starting paraphrase_)."))
    for title, key in (("Extraction drop reasons", "reasons_extract"),
                       ("Generation drop reasons", "reasons_generate"),
                       ("Quarantine rules", "reasons_quarantine")):
        blocks.append(Heading(title))
        rows = [[reason, n] for reason, n in counts[key].items()]
        blocks.append(Table(["reason", "count"], rows, bar_column=1) if rows else Para("None."))

    blocks.append(Heading("Great Expectations"))
    for run in ("candidates", "accepted"):
        result = gx.get(run)
        if not result:
            continue
        blocks.append(Para(f"Suite over {run} ({result['rows']} rows): "
                           f"{'passed' if result['success'] else 'failed'}."))
        blocks.append(Table(["expectation", "column", "success", "unexpected"], [
            [e["expectation"], e["column"], e["success"], e["unexpected_count"]]
            for e in result["expectations"]]))

    blocks.append(Heading("Distributions"))
    parsed = [parse_answer(q["answer"]) for q in accepted]
    blocks.append(Para("Answer length in words:"))
    blocks.append(Table(["words", "items"], histogram((len(words(q["answer"])) for q in accepted), 20),
                        bar_column=1))
    blocks.append(Para("Steps per answer:"))
    blocks.append(Table(["steps", "items"], histogram((len(p.items) for p in parsed), 1), bar_column=1))
    blocks.append(Para("Items per source and kind:"))
    per = Counter((q["source"], q["kind"]) for q in accepted)
    blocks.append(Table(["source", "kind", "items"],
                        [[s, k, n] for (s, k), n in sorted(per.items())], bar_column=2))

    blocks.append(Heading("Sample items"))
    rng = random.Random(seed)
    for row in sorted(rng.sample(accepted, min(sample_items, len(accepted))), key=lambda q: q["id"]):
        blocks.append(Item(row["question"], row["answer"], row["source_url"], row["kind"]))

    blocks.append(Heading("Evaluation"))
    if evaluation:
        blocks.append(Para(
            f"{evaluation.get('n_questions', 0)} test questions, lr "
            f"{train_metrics.get('lr', 'n/a')}. Strict conformance (all rules): base "
            f"{evaluation.get('base_strict', 0):.2f}, tuned {evaluation.get('tuned_strict', 0):.2f}. "
            "Every model under test, the 95% intervals, the paired tests and the answers side by "
            "side: reports/eval/report.html."))
        blocks.append(Table(["rule", "base", "tuned"], [
            [rule, f"{evaluation.get(f'base_rule_{rule}', 0):.2f}",
             f"{evaluation.get(f'tuned_rule_{rule}', 0):.2f}"] for rule in RULE_IDS]))
    else:
        blocks.append(Para("No evaluation metrics found."))
    return blocks, counts


def render_markdown(blocks: list[Block], title: str) -> str:
    out = [f"# {title}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            out += [f"## {block.text}", ""]
        elif isinstance(block, Para):
            out += [block.text, ""]
        elif isinstance(block, Table):
            out.append("| " + " | ".join(block.headers) + " |")
            out.append("|" + "---|" * len(block.headers))
            for row in block.rows:
                out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
            out.append("")
        elif isinstance(block, Item):
            out += [f"**Q:** {block.question} _({block.kind}; [source]({block.source_url}))_", "",
                    "```text", block.answer, "```", ""]
    return "\n".join(out)


def render_html(blocks: list[Block], title: str) -> str:
    esc = html.escape
    body = [f"<h1>{esc(title)}</h1>"]
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h2>{esc(block.text)}</h2>")
        elif isinstance(block, Para):
            body.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Table):
            top = max((r[block.bar_column] for r in block.rows), default=0) if block.bar_column is not None else 0
            rows = []
            for row in block.rows:
                cells = []
                for i, cell in enumerate(row):
                    text = esc(str(cell))
                    if i == block.bar_column and top:
                        width = int(200 * cell / top)
                        text = f'<span class="bar" style="width:{width}px"></span> {text}'
                    cells.append(f"<td>{text}</td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
            head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
        elif isinstance(block, Item):
            url = esc(block.source_url, quote=True)
            body.append(f'<div class="item"><p><b>Q:</b> {esc(block.question)} '
                        f'<small>({esc(block.kind)}; <a href="{url}">source</a>)</small></p>'
                        f"<pre>{esc(block.answer)}</pre></div>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
             "text-align:left}.bar{display:inline-block;height:.7rem;background:#3858e9}"
             "pre{white-space:pre-wrap;background:#f6f7f7;padding:.5rem}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data")
    parser.add_argument("--reports", default="reports")
    parser.add_argument("--out", default="reports/dataset")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    blocks, counts = build_blocks(Path(args.data), Path(args.reports),
                                  params.report.sample_items, params.seed)
    title = "wpqa dataset review"
    write_text(f"{args.out}/report.md", render_markdown(blocks, title))
    write_text(f"{args.out}/report.html", render_html(blocks, title))
    write_json(f"{args.out}/metrics.json", {k: v for k, v in counts.items()
                                            if not k.startswith("reasons_")})
    print(f"report: {args.out}/report.html ({'adds up' if counts['adds_up'] else 'DOES NOT ADD UP'})")
    if not counts["adds_up"]:
        raise SystemExit("report: the funnel does not add up; something was lost between stages")


if __name__ == "__main__":
    main()
