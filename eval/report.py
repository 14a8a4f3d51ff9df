"""The eval report: HTML and Markdown, written by the eval stage into its out folder.

A reader should know in a minute which model is better and why: a summary table (models
x metrics, each with its 95% interval), the paired tests between models, per-rule pass
rates as bars (inline CSS, no script), and the test questions side by side with every
model's answer and the rules it failed, the worst cases first, each linked to its source
section. Model and scraped text is untrusted: everything is escaped, links are kept only
when they are http(s), and a Content-Security-Policy forbids any script.
"""
from __future__ import annotations

import html
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from wpqa.pattern import RULE_IDS
from wpqa.html_page import html_page
from wpqa.io import write_text
from wpqa.params import Decoding
from wpqa.records import Prediction

METRIC_LABELS = {
    "strict": "strict conformance",
    "loose": "loose conformance",
    "stopped": "stops before limit",
    "rougeL": "ROUGE-L",
    "step_count_error": "step-count error (lower is better)",
    "step_recall": "step recall",
    "grounding": "grounding",
    "step_support": "steps said by the source (per-step evidence)",
    "ui_faithfulness": "UI strings found in the source",
    "judge": "LLM judge (1-5)",
}
FENCE = "`" * 3
STYLE = ("body{font-family:system-ui,sans-serif;max-width:75rem;margin:2rem auto;padding:0 1rem}"
         "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;"
         "padding:.2rem .5rem;text-align:left;vertical-align:top}"
         ".bar{display:inline-block;height:.7rem;background:#3858e9;margin-right:.3rem}"
         ".ci{color:#555;font-size:.85em}.fail{color:#b32d2e}.ok{color:#008a20}"
         "pre{white-space:pre-wrap;background:#f6f7f7;padding:.5rem;margin:.2rem 0;"
         "max-width:36rem}.question{border-top:2px solid #ddd;margin-top:1rem}")


def metric_names(metrics: dict[str, Any], models: Sequence[str]) -> list[str]:
    return [name for name in METRIC_LABELS if models and f"{models[0]}_{name}" in metrics]


def md_text(text: str) -> str:
    """Untrusted text for Markdown prose: no raw HTML, no link or emphasis syntax, one line."""
    text = html.escape(" ".join(text.split()), quote=False)
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", text)


def md_block(text: str) -> str:
    """Untrusted text for a fenced block: it cannot close the fence."""
    return text.replace(FENCE, "'" * 3)


def safe_href(url: str) -> str | None:
    return url if url.startswith(("http://", "https://")) else None


def worst_first(predictions: list[Prediction], models: Sequence[str]) -> list[str]:
    """Question ids, those most models fail first, then by the lowest mean ROUGE-L."""
    failing: dict[str, int] = defaultdict(int)
    rouge: dict[str, list[float]] = defaultdict(list)
    for p in predictions:
        if p.model in models and p.sample == 0:
            failing[p.id] += not p.conforms
            rouge[p.id].append(p.scores.get("rougeL", 0.0))
    return sorted(failing, key=lambda q: (-failing[q], sum(rouge[q]) / len(rouge[q]), q))


def _by_question(predictions: list[Prediction]) -> dict[str, dict[str, Prediction]]:
    table: dict[str, dict[str, Prediction]] = defaultdict(dict)
    for p in predictions:
        if p.sample == 0:
            table[p.id][p.model] = p
    return table


def _cell(metrics: dict[str, Any], key: str) -> tuple[str, str]:
    value = metrics.get(key)
    if value is None:
        return "n/a", ""
    return f"{value:.2f}", f"[{metrics[key + '_ci_low']:.2f}, {metrics[key + '_ci_high']:.2f}]"


def verdicts(comparisons: list[dict]) -> list[str]:
    """One sentence per model pair on strict conformance, with its uncertainty."""
    lines = []
    for c in comparisons:
        if c["metric"] != "strict":
            continue
        if c["p_value"] < 0.05:
            word = "beats" if c["diff"] > 0 else "trails"
            finding = f"{c['a']} {word} {c['b']}"
        else:
            finding = f"no significant difference between {c['a']} and {c['b']}"
        lines.append(f"Strict conformance: {finding} ({c['diff']:+.2f}, 95% CI "
                     f"[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}], {c['test']} p = "
                     f"{c['p_value']:.4f}, {c['n']} questions).")
    return lines


def decoding_text(decoding: Decoding | None, samples_note: str = "") -> str:
    if decoding is None:
        return "decoding not recorded"
    penalty = "".join([
        f", repetition penalty {decoding.repetition_penalty:g}"
        if decoding.repetition_penalty != 1.0 else "",
        f", no repeated run of {decoding.no_repeat_ngram} tokens" if decoding.no_repeat_ngram
        else ""])
    penalty += " (local models)" if penalty else ""
    if decoding.sampling:
        return (f"decoding preset {decoding.preset}{penalty}: temperature {decoding.temperature}, "
                f"top-p {decoding.top_p}, top-k {decoding.top_k}, at most "
                f"{decoding.max_new_tokens} new tokens, {decoding.samples} sample(s) per "
                f"question with recorded seeds{samples_note}")
    return f"greedy decoding{penalty}, at most {decoding.max_new_tokens} new tokens"


def _rule_cell(metrics: dict[str, Any], model: str, rule: str) -> str:
    strict = f"{metrics.get(f'{model}_rule_{rule}', 0):.2f}"
    loose = metrics.get(f"{model}_loose_rule_{rule}")
    return strict if loose is None else f"{strict} / {loose:.2f}"


def _verdict_text(p: Prediction) -> str:
    if p.conforms:
        return "conforms"
    strict = "fails " + ", ".join(p.failed_rules)
    if p.loose:
        return f"passes loose; strict {strict}"
    return strict


def _overapply_markdown(metrics, models, rows: list[dict]) -> list[str]:
    if not rows:
        return []
    out = ["", "## Over-application: non-procedural questions", "",
           f"{len({r['id'] for r in rows})} questions that want a short explanation, not steps; "
           "the share of answers given as a numbered list (lower is better).", "",
           "| model | answered with a numbered list [95% CI] |", "|---|---|"]
    for m in models:
        if f"{m}_forced_list" in metrics:
            out.append(f"| {m} | " + " ".join(_cell(metrics, f"{m}_forced_list")) + " |")
    for row in rows:
        flag = "numbered list" if row["numbered_list"] else "prose"
        out += ["", f"**{md_text(row['model'])}** ({flag}): {md_text(row['question'])}", "",
                "```text", md_block(row["answer"]), "```"]
    return out


def _overapply_html(metrics, models, rows: list[dict]) -> list[str]:
    esc = html.escape
    if not rows:
        return []
    body = ['<h2 id="overapply">Over-application: non-procedural questions</h2>',
            f"<p>{len({r['id'] for r in rows})} questions that want a short explanation, not "
            "steps; the share of answers given as a numbered list (lower is better).</p>",
            "<table><thead><tr><th>model</th><th>answered with a numbered list</th></tr>"
            "</thead><tbody>"]
    for m in models:
        if f"{m}_forced_list" in metrics:
            value, ci = _cell(metrics, f"{m}_forced_list")
            body.append(f'<tr><th>{esc(m)}</th><td>{value} <span class="ci">{esc(ci)}</span>'
                        "</td></tr>")
    body.append("</tbody></table><table><thead><tr><th>question</th>"
                + "".join(f"<th>{esc(m)}</th>" for m in models) + "</tr></thead><tbody>")
    by_id: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_id.setdefault(row["id"], {})[row["model"]] = row
    for answers in by_id.values():
        question = next(iter(answers.values()))["question"]
        cells = "".join(
            f"<td><span class=\"{'fail' if answers[m]['numbered_list'] else 'ok'}\">"
            f"{'numbered list' if answers[m]['numbered_list'] else 'prose'}</span>"
            f"<pre>{esc(answers[m]['answer'])}</pre></td>" if m in answers else "<td></td>"
            for m in models)
        body.append(f"<tr><td>{esc(question)}</td>{cells}</tr>")
    body.append("</tbody></table>")
    return body


def render_markdown(predictions, metrics, comparisons, models, decoding=None,
                    sections=None, overapply=None) -> str:
    sections = sections or {}
    names = metric_names(metrics, models)
    out = ["# wpqa evaluation", "",
           f"{metrics.get('n_questions', 0)} test questions, models: {', '.join(models)}; "
           f"{decoding_text(decoding)}. Intervals are 95% bootstrap intervals over questions.", "",
           *[line + "\n" for line in verdicts(comparisons)],
           "## Summary", "", "| model | " + " | ".join(METRIC_LABELS[n] for n in names) + " |",
           "|---|" + "---|" * len(names)]
    for m in models:
        cells = [" ".join(_cell(metrics, f"{m}_{n}")) for n in names]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    out += ["", "## Paired tests", "",
            "| models | metric | difference [95% CI] | p-value | test |", "|---|---|---|---|---|"]
    for c in comparisons:
        out.append(f"| {c['a']} vs {c['b']} | {METRIC_LABELS[c['metric']]} | {c['diff']:+.2f} "
                   f"[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}] | {c['p_value']:.4f} | {c['test']} |")
    out += ["", "## Per-rule pass rates (strict / loose)", "",
            "| rule | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for rule in RULE_IDS:
        out.append(f"| {rule} | " + " | ".join(_rule_cell(metrics, m, rule) for m in models) + " |")
    out += _overapply_markdown(metrics, models, overapply or [])
    out += ["", "## Questions, worst first", ""]
    if decoding is not None and decoding.samples > 1:
        out += [f"Each model's first of {decoding.samples} samples is shown; predictions.jsonl "
                "holds every sample with its seed.", ""]
    table = _by_question(predictions)
    for qid in worst_first(predictions, models):
        row = table[qid]
        first = next(iter(row.values()))
        link = safe_href(first.source_url)
        where = md_text(" > ".join(sections.get(first.section_id, {}).get("heading_path", []))
                        or "source")
        source = f"[{where}](<{link}>)" if link and not re.search(r"[\s<>]", link) else where
        out += [f"### {md_text(qid)}: {md_text(first.question)}", "",
                f"{md_text(first.kind)}; {source}", "",
                "Reference:", "", "```text", md_block(first.reference), "```", ""]
        for m in models:
            if m not in row:
                continue
            p = row[m]
            verdict = _verdict_text(p)
            judged = (f"; judge {p.scores['judge']:.0f}/5: {md_text(p.judge_reason)}"
                      if "judge" in p.scores else "")
            out += [f"**{m}** ({verdict}; ROUGE-L {p.scores.get('rougeL', 0):.2f}{judged}):", "",
                    "```text", md_block(p.answer), "```", ""]
    return "\n".join(out)


def render_html(predictions, metrics, comparisons, models, decoding=None,
                sections=None, overapply=None) -> str:
    esc = html.escape
    sections = sections or {}
    names = metric_names(metrics, models)
    body = ["<h1>wpqa evaluation</h1>",
            f"<p>{metrics.get('n_questions', 0)} test questions, models: "
            f"{esc(', '.join(models))}; {esc(decoding_text(decoding))}. Intervals are 95% "
            "bootstrap intervals over questions.</p>",
            *[f'<p class="verdict">{esc(line)}</p>' for line in verdicts(comparisons)],
            '<h2 id="summary">Summary</h2>',
            "<table><thead><tr><th>model</th>"
            + "".join(f"<th>{esc(METRIC_LABELS[n])}</th>" for n in names) + "</tr></thead><tbody>"]
    for m in models:
        cells = []
        for n in names:
            value, ci = _cell(metrics, f"{m}_{n}")
            cells.append(f'<td>{value} <span class="ci">{esc(ci)}</span></td>')
        body.append(f"<tr><th>{esc(m)}</th>{''.join(cells)}</tr>")
    body.append("</tbody></table>")

    body.append('<h2 id="paired">Paired tests</h2>')
    if comparisons:
        body.append("<table><thead><tr><th>models</th><th>metric</th><th>difference</th>"
                    "<th>95% CI</th><th>p-value</th><th>test</th></tr></thead><tbody>")
        for c in comparisons:
            body.append(f"<tr><td>{esc(c['a'])} vs {esc(c['b'])}</td>"
                        f"<td>{esc(METRIC_LABELS[c['metric']])}</td><td>{c['diff']:+.2f}</td>"
                        f"<td>[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]</td>"
                        f"<td>{c['p_value']:.4f}</td><td>{esc(c['test'])}</td></tr>")
        body.append("</tbody></table>")
    else:
        body.append("<p>Only one model: nothing to compare.</p>")

    body.append('<h2 id="rules">Per-rule pass rates (strict / loose)</h2>')
    body.append("<table><thead><tr><th>rule</th>"
                + "".join(f"<th>{esc(m)}</th>" for m in models) + "</tr></thead><tbody>")
    for rule in RULE_IDS:
        cells = []
        for m in models:
            rate = metrics.get(f"{m}_rule_{rule}", 0.0)
            cells.append(f'<td><span class="bar" style="width:{int(round(rate * 120))}px">'
                         f"</span>{esc(_rule_cell(metrics, m, rule))}</td>")
        body.append(f"<tr><th>{esc(rule)}</th>{''.join(cells)}</tr>")
    body.append("</tbody></table>")

    body += _overapply_html(metrics, models, overapply or [])
    body.append('<h2 id="questions">Questions, worst first</h2>')
    if decoding is not None and decoding.samples > 1:
        body.append(f"<p>Each model's first of {decoding.samples} samples is shown; "
                    "predictions.jsonl holds every sample with its seed.</p>")
    table = _by_question(predictions)
    for qid in worst_first(predictions, models):
        row = table[qid]
        first = next(iter(row.values()))
        link = safe_href(first.source_url)
        where = " > ".join(sections.get(first.section_id, {}).get("heading_path", [])) or "source"
        source = (f'<a href="{esc(link, quote=True)}">{esc(where)}</a>' if link else esc(where))
        body.append(f'<div class="question"><h3>{esc(qid)}: {esc(first.question)}</h3>'
                    f"<p>{esc(first.kind)}; section: {source}</p><table><thead><tr>"
                    "<th>reference</th>" + "".join(f"<th>{esc(m)}</th>" for m in models if m in row)
                    + f"</tr></thead><tbody><tr><td><pre>{esc(first.reference)}</pre></td>")
        for m in models:
            if m not in row:
                continue
            p = row[m]
            verdict = (f'<span class="ok">{esc(_verdict_text(p))}</span>' if p.conforms or p.loose
                       else f'<span class="fail">{esc(_verdict_text(p))}</span>')
            limit = "" if p.stopped else "; hit the token limit"
            if "judge" in p.scores:
                limit += f"; judge {p.scores['judge']:.0f}/5: {p.judge_reason}"
            body.append(f"<td>{verdict} <span class=\"ci\">ROUGE-L "
                        f"{p.scores.get('rougeL', 0):.2f}{esc(limit)}</span><pre>{esc(p.answer)}</pre></td>")
        body.append("</tr></tbody></table></div>")
    return html_page("wpqa evaluation", body, style=STYLE)


def write_report(out: str | Path, predictions: list[Prediction], metrics: dict[str, Any],
                 comparisons: list[dict], models: Sequence[str], *,
                 decoding: Decoding | None = None,
                 sections: dict[str, dict] | None = None,
                 overapply: list[dict] | None = None) -> tuple[Path, Path]:
    """Write report.html and report.md into `out`; return their paths."""
    out = Path(out)
    args = (predictions, metrics, comparisons, list(models), decoding, sections, overapply)
    write_text(out / "report.md", render_markdown(*args))
    write_text(out / "report.html", render_html(*args))
    return out / "report.html", out / "report.md"
