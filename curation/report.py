"""report stage: the dataset review report (HTML and Markdown) and the eval summary.

The funnel is recounted from the data files themselves — pages, sections, candidates,
accepted, review and dedup drops, splits — with every drop reason, and each step is
checked to add up. Then: Great Expectations results per expectation (the validate gate
and the split stage's decontamination check), distributions as plots, dedup clusters and
the leakage check, human review counts, a random sample with source links, and the diff
against the previous version (git tag). Both formats are rendered from one list of
blocks. The HTML is one self-contained file: inline CSS and SVG, no script, and a
Content-Security-Policy that forbids scripts; scraped text is escaped, so a page that
contains `<script>` shows it as text.
"""
from __future__ import annotations

import argparse
import html
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from wpqa.evidence import step_spans
from wpqa.pattern import RULE_IDS, parse_answer, words
from wpqa.records import Section, from_row, grounding_source, reason_counts
from wpqa.ui_strings import invented_ui_labels, ui_strings
from wpqa.html_page import html_page
from wpqa.io import read_jsonl, write_json, write_text
from wpqa.params import load_params_or_exit

@dataclass(frozen=True)
class Heading:
    text: str

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.text.lower()).strip("-")


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Any]]
    bar_column: int | None = None  # draw this numeric column as a bar in HTML


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: an inline SVG in HTML, a table in Markdown."""

    title: str
    label: str  # what the bars are
    bars: list[tuple[str, int]]


@dataclass(frozen=True)
class Item:
    question: str
    answer: str
    source_url: str
    kind: str
    # per step: the passage of the section that says it, or None (no passage does)
    evidence: tuple[str | None, ...] = ()
    invented_ui: tuple[str, ...] = ()  # UI strings the answer names that the section lacks


Block = Heading | Para | Table | Chart | Item


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
    split_dropped = _read(data / "splits/dropped.jsonl")

    page_urls = {p["url"] for p in pages}
    urls_with_sections = {s["url"] for s in sections}
    page_rejects = {r["ref"] for r in extract_rejected if r["ref"] in page_urls}
    section_ids = {s["section_id"] for s in sections}
    sections_with_candidates = {c["section_id"] for c in candidates}
    # LLM backends: a dropped paraphrase is a row about an item (ref: the original's id),
    # not about a section; it is counted apart so the section funnel still adds up.
    paraphrase_drops = [r for r in generate_rejected if r["reason"].startswith("paraphrase_")]
    # A section may yield some candidates and some rejected outputs; it is dropped when it
    # yields no candidate at all. Every rejected row is counted under its reason.
    section_rejects = ({r["ref"] for r in generate_rejected
                        if not r["reason"].startswith("paraphrase_")} & section_ids
                       ) - sections_with_candidates
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
        "split_dropped": len(split_dropped),
        "train": len(train),
        "test": len(test),
    }
    counts["adds_up_pages"] = (urls_with_sections | page_rejects) == page_urls \
        and not urls_with_sections & page_rejects
    counts["adds_up_sections"] = section_ids <= (sections_with_candidates | section_rejects)
    counts["adds_up_candidates"] = len(accepted) + len(quarantine) == len(candidates)
    final_ids = [r["id"] for r in train + test] + [r["ref"] for r in split_dropped]
    counts["adds_up_splits"] = sorted(final_ids) == sorted(r["id"] for r in accepted)
    counts["adds_up"] = all(counts[k] for k in ("adds_up_pages", "adds_up_sections",
                                                "adds_up_candidates", "adds_up_splits"))
    counts["reasons_extract"] = reason_counts(extract_rejected)
    counts["reasons_generate"] = reason_counts(generate_rejected)
    counts["reasons_quarantine"] = reason_counts({"failed_rules": q.get("failed_rules", [])}
                                                 for q in quarantine)
    counts["reasons_split"] = reason_counts(split_dropped)
    return counts


def histogram(values: Iterable[int], width: int) -> list[list[Any]]:
    """Rows of (range, count) over fixed-width bins, empty bins included."""
    values = list(values)
    if not values:
        return []
    bins = Counter(v // width for v in values)
    return [[f"{b * width}–{b * width + width - 1}" if width > 1 else str(b), bins.get(b, 0)]
            for b in range(min(bins), max(bins) + 1)]


def version_diff(data: Path, repo: Path, limit: int) -> list[Block]:
    """The working splits against the previous tag, read through dvc.api."""
    from curation.versions import diff_splits, format_diff, previous_tag, read_splits

    tag = previous_tag(repo)
    if tag is None:
        return [Para("No earlier version: no git tag before this commit. Tag a version with "
                     "`git tag data-vN` and `dvc push` (see README).")]
    try:
        rel = (data.resolve() / "splits").relative_to(repo.resolve()).as_posix()
        old = read_splits(tag, repo, rel)
        new = read_splits(None, repo, rel)
    except Exception as err:  # a tag without these outputs, or data in no cache or remote
        return [Para(f"Previous version {tag}: its splits could not be read ({type(err).__name__}: "
                     f"{str(err)[:200]}); run `dvc pull` or `dvc push` at that tag.")]
    diff = diff_splits(old, new)
    lines = format_diff(diff, tag, "this version", limit).splitlines()
    blocks: list[Block] = [Para(lines[0])]
    rows = [[line[0], line[2:]] for line in lines[1:]]
    if rows:
        blocks.append(Table(["", "item (+ added, - removed, ~ changed, > moved, ! source page "
                                 "changed)"], rows))
    return blocks


def section_sources(path: Path) -> dict[str, str]:
    """section_id -> grounding source text (what every item's evidence offsets point into)."""
    sources = {}
    for row in _read(path):
        try:
            sources[row["section_id"]] = grounding_source(from_row(Section, row))
        except (KeyError, TypeError, ValueError):  # not a section row: its items show no evidence
            continue
    return sources


def step_evidence(row: dict[str, Any], source: str) -> list[str | None]:
    """The passage per step: the stored spans, or (older rows without them) aligned now."""
    spans = row.get("evidence") or [[s.start, s.end] if s else None
                                    for s in step_spans(row["answer"], source)]
    return [source[span[0]:span[1]] if span else None for span in spans]


def evidence_blocks(final: list[dict[str, Any]], sources: dict[str, str]) -> list[Block]:
    """Both per-step checks over the final items: steps said by the page, UI strings found."""
    rows = [(row, sources[row["section_id"]]) for row in final if row["section_id"] in sources]
    if not rows:
        return [Para("No sections found (data/interim/sections.jsonl): evidence not shown.")]
    passages = {row["id"]: step_evidence(row, source) for row, source in rows}
    steps = [passage for found in passages.values() for passage in found]
    unsupported = [item_id for item_id, found in passages.items() if None in found]
    named = sum(len(ui_strings(row["answer"])) for row, _ in rows)
    invented = [(row["id"], label) for row, source in rows
                for label in invented_ui_labels(row["answer"], source)]
    stored = sum(1 for row, _ in rows if row.get("evidence"))
    out: list[Block] = [Para(
        f"Steps said by a passage of their section: {sum(p is not None for p in steps)} of "
        f"{len(steps)}; items with a step no passage says: {len(unsupported)}. UI strings named "
        f"(menu paths, quoted and clicked labels, file names): {named}; not found in their "
        f"section: {len(invented)}. {stored} of {len(rows)} items carry their evidence spans "
        "from the generate stage; the others were aligned for this report.")]
    if invented:
        out.append(Table(["item", "UI string not in the section"], invented[:20]))
    if unsupported:
        out.append(Para("Items with an unsupported step: " + ", ".join(unsupported[:20])
                        + (" …" if len(unsupported) > 20 else "") + "."))
    return out


def funnel_blocks(counts: dict) -> list[Block]:
    """Where the items went, stage by stage, and why the others were dropped."""
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
        ["split (accepted)", counts["accepted"], f"{counts['train']} train + {counts['test']} test",
         counts["split_dropped"], counts["adds_up_splits"]],
    ]))
    blocks.append(Para(f"Sections dropped at extraction as too short: {counts['sections_too_short']}."))
    if counts["paraphrases"] or counts["paraphrases_dropped"]:
        blocks.append(Para(f"Candidates include {counts['paraphrases']} LLM paraphrases of other "
                           f"items; {counts['paraphrases_dropped']} paraphrases were dropped "
                           "(reasons starting paraphrase_)."))
    for title, key in (("Extraction drop reasons", "reasons_extract"),
                       ("Generation drop reasons", "reasons_generate"),
                       ("Quarantine rules", "reasons_quarantine"),
                       ("Split drop reasons (review and dedup)", "reasons_split")):
        blocks.append(Heading(title))
        rows = [[reason, n] for reason, n in counts[key].items()]
        blocks.append(Table(["reason", "count"], rows, bar_column=1) if rows else Para("None."))
    return blocks


def gx_blocks(gx: dict, split_gx: dict) -> list[Block]:
    """Each Great Expectations suite the data passed through, expectation by expectation."""
    blocks: list[Block] = [Heading("Great Expectations")]
    for title, result in (("validate: suite over candidates", gx.get("candidates")),
                          ("validate: suite over accepted items", gx.get("accepted")),
                          ("split: decontamination of test against train", split_gx or None)):
        if not result:
            continue
        blocks.append(Para(f"{title} ({result['rows']} rows): "
                           f"{'passed' if result['success'] else 'FAILED'}."))
        blocks.append(Table(["expectation", "column", "result", "unexpected"], [
            [e["expectation"], e["column"], "pass" if e["success"] else "FAIL", e["unexpected_count"]]
            for e in result["expectations"]]))
    return blocks


def distribution_blocks(final: list[dict]) -> list[Block]:
    """The shape of the items in the splits: length, steps, sources, kinds."""
    blocks: list[Block] = [Heading("Distributions")]
    parsed = [parse_answer(q["answer"]) for q in final]
    blocks.append(Para(f"Over the {len(final)} items in the splits."))
    blocks.append(Chart("Answer length in words", "items",
                        [(label, n) for label, n in histogram((len(words(q["answer"])) for q in final), 20)]))
    blocks.append(Chart("Steps per answer", "items",
                        [(label, n) for label, n in histogram((len(p.items) for p in parsed), 1)]))
    blocks.append(Chart("Items per source", "items", sorted(Counter(q["source"] for q in final).items())))
    blocks.append(Chart("Items per kind", "items", sorted(Counter(q["kind"] for q in final).items())))
    return blocks


def dedup_blocks(m: dict, dedup: dict) -> list[Block]:
    """What deduplication dropped, what it kept on purpose, and any test/train leak."""
    blocks: list[Block] = [Heading("Dedup and leakage")]
    if m:
        blocks.append(Para(
            f"Exact duplicates dropped: {m.get('dropped_exact_duplicate', 0)}; near duplicates "
            f"dropped: {m.get('dropped_near_duplicate', 0)} in {m.get('dedup_clusters', 0)} clusters; "
            f"similar pairs kept as different items (numbers differ, or paraphrases): "
            f"{m.get('near_misses_kept', 0)}. Split groups: {m.get('groups', 0)} (largest "
            f"{m.get('largest_group', 0)} items). Decontamination of test against train: "
            f"{m.get('leaks', 0)} leaks (MinHash {m.get('leaks_minhash', 0)}, long n-gram "
            f"{m.get('leaks_ngram', 0)}; expected 0)."))
    clusters = dedup.get("clusters", [])
    if clusters:
        blocks.append(Table(["kept", "dropped", "reason", "similarity"], [
            [f"{c['kept']}: {c['question']}", f"{d['id']}: {d['question']}", d["reason"], d["similarity"]]
            for c in clusters[:20] for d in c["dropped"]]))
        if len(clusters) > 20:
            blocks.append(Para(f"… and {len(clusters) - 20} more clusters (reports/split/dedup.json)."))
    else:
        blocks.append(Para("No duplicate clusters."))
    misses = dedup.get("near_misses", [])
    if misses:
        blocks.append(Table(["item", "similar item", "similarity", "kept because"],
                            [[n["a"], n["b"], n["similarity"], n["why"]] for n in misses[:20]]))
    leaks = dedup.get("leaks", [])
    if leaks:
        blocks.append(Table(["test item", "train item", "method", "evidence"],
                            [[x["test_id"], x["train_id"], x["method"], x["evidence"]] for x in leaks]))
    return blocks


def review_blocks(review: dict) -> list[Block]:
    """What people decided and which decisions were not applied, with why."""
    blocks: list[Block] = [Heading("Human review")]
    if review:
        blocks.append(Para(
            f"Decisions in data/review/decisions.jsonl: {review.get('review_decisions', 0)}. "
            f"Reviewed {review.get('review_reviewed', 0)}: kept {review.get('review_kept', 0)}, "
            f"vetoed {review.get('review_vetoed', 0)}, edited {review.get('review_edited', 0)}, "
            f"edits rejected {review.get('review_edits_rejected', 0)}. Not applied: "
            f"{review.get('review_stale', 0)} stale (the answer changed since review), "
            f"{review.get('review_source_changed', 0)} whose source page changed since review "
            f"(flagged: review them again), "
            f"{review.get('review_unknown', 0)} for items no longer in the data."))
        if review.get("source_changed"):
            blocks.append(Para("Decisions not applied because the item's page changed since "
                               "review: " + ", ".join(review["source_changed"][:30]) + "."))
        rejected = review.get("rejected_edits", [])
        if rejected:
            blocks.append(Table(["item", "rules the edit broke"],
                                [[r["id"], "; ".join(r["reasons"])] for r in rejected]))
    else:
        blocks.append(Para("No review results found."))
    return blocks


def sample_blocks(final: list[dict], sources: dict, sample_items: int, seed: int) -> list[Block]:
    """A seeded sample of items, each with its per-step evidence and invented UI strings."""
    blocks: list[Block] = [Heading("Sample items")]
    rng = random.Random(seed)
    for row in sorted(rng.sample(final, min(sample_items, len(final))), key=lambda q: q["id"]):
        source = sources.get(row["section_id"])
        blocks.append(Item(row["question"], row["answer"], row["source_url"], row["kind"],
                           tuple(step_evidence(row, source)) if source is not None else (),
                           tuple(invented_ui_labels(row["answer"], source))
                           if source is not None else ()))
    return blocks


def evaluation_blocks(evaluation: dict, train_metrics: dict) -> list[Block]:
    """The pattern scores of base and tuned, per rule."""
    blocks: list[Block] = [Heading("Evaluation")]
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
    return blocks


def build_blocks(data: Path, reports: Path, sample_items: int, seed: int, repo: Path | None = None,
                 diff_items: int = 30) -> tuple[list[Block], dict]:
    """The whole review report as blocks, in reading order, and the funnel counts."""
    counts = funnel_counts(data)
    final = _read(data / "splits/train.jsonl") + _read(data / "splits/test.jsonl")
    sources = section_sources(data / "interim/sections.jsonl")
    blocks = [
        *funnel_blocks(counts),
        *gx_blocks(_json(reports / "validate/gx_results.json"),
                   _json(reports / "split/gx_results.json")),
        *distribution_blocks(final),
        *dedup_blocks(_json(reports / "split/metrics.json"), _json(reports / "split/dedup.json")),
        *review_blocks(_json(reports / "split/review.json")),
        Heading("Per-step evidence and UI strings"), *evidence_blocks(final, sources),
        *sample_blocks(final, sources, sample_items, seed),
        Heading("Version diff"), *version_diff(data, repo or Path("."), diff_items),
        *evaluation_blocks(_json(reports / "eval/metrics.json"),
                           _json(reports / "train/metrics.json")),
    ]
    return blocks, counts


URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # reserved URL characters kept as they are


def render_markdown(blocks: list[Block], title: str) -> str:
    """Markdown viewers render inline HTML, so scraped text outside code fences is escaped."""
    md = lambda text: html.escape(str(text), quote=False)  # noqa: E731
    out = [f"# {title}", ""]

    def table(headers, rows):
        out.append("| " + " | ".join(headers) + " |")
        out.append("|" + "---|" * len(headers))
        for row in rows:
            out.append("| " + " | ".join(md(c).replace("|", "\\|").replace("\n", " ")
                                         for c in row) + " |")
        out.append("")

    for block in blocks:
        if isinstance(block, Heading):
            out += [f"## {block.text}", ""]
        elif isinstance(block, Para):
            out += [md(block.text), ""]
        elif isinstance(block, Table):
            table(block.headers, block.rows)
        elif isinstance(block, Chart):
            out += [f"**{block.title}**", ""]
            table(["", block.label], block.bars)
        elif isinstance(block, Item):
            # Percent-encoding leaves no `<`, `>`, quote or space to end the link early.
            link = (f"[source](<{quote(block.source_url, safe=URL_SAFE)}>)"
                    if re.match(r"https?://", block.source_url)
                    else f"source: {md(block.source_url)}")
            # A fence longer than any tilde run in the answer, so the answer cannot close it.
            runs = [len(run) for run in re.findall(r"~+", block.answer)]
            fence = "~" * max(4, max(runs, default=0) + 1)
            out += [f"**Q:** {md(block.question)} _({md(block.kind)}; {link})_", "",
                    f"{fence}text", block.answer, fence, ""]
            if block.evidence:
                table(["step", "said in the source"],
                      [[n, passage if passage is not None else "NO PASSAGE (unsupported)"]
                       for n, passage in enumerate(block.evidence, 1)])
            if block.invented_ui:
                out += ["UI strings not in the source: " + md(", ".join(block.invented_ui)), ""]
    return "\n".join(out)


def svg_bars(chart: Chart) -> str:
    """A horizontal bar chart as inline SVG: no script, no external resource."""
    esc = html.escape
    label_w, bar_w, row_h = 190, 360, 20
    top = max((n for _, n in chart.bars), default=0) or 1
    width, height = label_w + bar_w + 60, row_h * len(chart.bars) + 28
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">',
             f"<title>{esc(chart.title)}</title>",
             f'<text x="0" y="14" font-weight="bold">{esc(chart.title)}</text>']
    for k, (label, n) in enumerate(chart.bars):
        y = 24 + k * row_h
        bar = round(bar_w * n / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{esc(str(label)[:32])}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{bar}" height="{row_h - 6}" fill="#3858e9"/>'
                     f'<text x="{label_w + bar + 4}" y="{y + 13}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(blocks: list[Block], title: str) -> str:
    esc = html.escape
    toc = "".join(f'<li><a href="#{b.anchor}">{esc(b.text)}</a></li>' for b in blocks
                  if isinstance(b, Heading))
    body = [f"<h1>{esc(title)}</h1>", f'<nav><ul class="toc">{toc}</ul></nav>']
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f'<h2 id="{block.anchor}">{esc(block.text)}</h2>')
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
        elif isinstance(block, Chart):
            body.append(f"<figure>{svg_bars(block)}</figure>")
        elif isinstance(block, Item):
            url = esc(block.source_url, quote=True)
            # Only web links become links: a scraped javascript: or data: URL stays text.
            link = (f'<a href="{url}" rel="noopener noreferrer">source</a>'
                    if re.match(r"https?://", block.source_url) else f"source: {url}")
            steps = [text for _, text in parse_answer(block.answer).items]
            evidence = "".join(
                f"<tr><td>{n}. {esc(step)}</td><td>"
                + (esc(passage) if passage is not None else '<b>no passage (unsupported)</b>')
                + "</td></tr>"
                for n, (step, passage) in enumerate(zip(steps, block.evidence), 1))
            invented = (f"<p>UI strings not in the source: {esc(', '.join(block.invented_ui))}</p>"
                        if block.invented_ui else "")
            body.append(f'<div class="item"><p><b>Q:</b> {esc(block.question)} '
                        f"<small>({esc(block.kind)}; {link})</small></p>"
                        f"<pre>{esc(block.answer)}</pre>"
                        + (f"<table><thead><tr><th>step</th><th>said in the source</th></tr>"
                           f"</thead><tbody>{evidence}</tbody></table>" if evidence else "")
                        + f"{invented}</div>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
             "text-align:left;vertical-align:top}.bar{display:inline-block;height:.7rem;background:#3858e9}"
             "pre{white-space:pre-wrap;background:#f6f7f7;padding:.5rem}figure{margin:.5rem 0}"
             ".chart text{font:12px system-ui,sans-serif}.toc{columns:2}")
    return html_page(title, body, style=style, viewport=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data")
    parser.add_argument("--reports", default="reports")
    parser.add_argument("--out", default="reports/dataset")
    parser.add_argument("--repo", default=".", help="git repository for the version diff")
    args = parser.parse_args(argv)
    params = load_params_or_exit(args.params, "report")
    blocks, counts = build_blocks(Path(args.data), Path(args.reports), params.report.sample_items,
                                  params.seed, Path(args.repo), params.report.diff_items)
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
