"""extract stage: raw pages to structured sections.

BeautifulSoup (lxml) walks each page's article body in document order and cuts it at
headings. A section keeps its heading path, paragraphs, ordered and unordered lists,
notices as notes, and a flag for code. Ordered lists split around a screenshot and
continued with `<ol start="N">` are merged into one procedure. Plugin-directory API
replies are read the same way: their installation and FAQ HTML become sections, one per
FAQ entry. Every page ends as sections or as a rejected row with a reason.
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from tqdm import tqdm

from wpqa.io import read_jsonl, write_json, write_jsonl
from wpqa.params import ExtractParams, load_params
from wpqa.records import Page, RejectedRow, Section, content_hash, from_row, to_row

BODY_SELECTORS = ("main article .wp-block-post-content", "article .entry-content",
                  ".wp-block-post-content", ".entry-content", "main article", "article")
# Page chrome that can sit inside an article body on real sites.
DROP_SELECTORS = (".wp-block-wporg-table-of-contents", ".table-of-contents",
                  ".wp-block-wporg-site-breadcrumbs", ".breadcrumbs", ".screen-reader-text",
                  ".wp-block-post-navigation-link", ".post-navigation", ".changelog",
                  "script", "style", "noscript", "nav")
_DROP_ANY = ", ".join(DROP_SELECTORS)
NOTE_CLASSES = ("wp-block-wporg-notice", "callout", "notice", "alert")
TROUBLESHOOTING_WORDS = re.compile(r"troubleshoot|faq|frequently asked|common (errors|problems|issues)",
                                   re.IGNORECASE)
PLUGIN_API_SECTIONS = ("installation", "faq", "description")
_SPACE = re.compile(r"\s+")


@dataclass
class _Draft:
    """A section being filled while the walker moves through the body."""

    heading_path: list[str]
    paragraphs: list[str] = field(default_factory=list)
    ordered_lists: list[list[str]] = field(default_factory=list)
    unordered_lists: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    has_code: bool = False
    troubleshooting: bool = False
    # The last block was an ordered list, only figures since: `<ol start>` may continue it.
    open_ordered: bool = False


def clean_text(node: Tag | str) -> str:
    text = node.get_text(" ", strip=True) if isinstance(node, Tag) else str(node)
    text = _SPACE.sub(" ", text).strip()
    # get_text(" ") puts a space before punctuation that followed an inline tag.
    return re.sub(r" ([.,;:!?)])", r"\1", text).replace("( ", "(")


def list_items(node: Tag) -> tuple[list[str], bool]:
    """The text of each direct <li> (nested lists left out) and whether any held code."""
    items, has_code = [], False
    for li in node.find_all("li", recursive=False):
        parts: list[str] = []
        has_code |= _item_text(li, parts)
        text = clean_text(" ".join(parts))
        if text:
            items.append(text)
    return items, has_code


def _item_text(node: Tag, parts: list[str]) -> bool:
    """Collect an item's own text into `parts` in one walk (no copy, no re-parse).

    Nested lists are left out, inline <code> keeps its backticks (a file or option name
    stays marked), and a code block is dropped and reported.
    """
    has_code = False
    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            parts.append(str(child))
        elif child.name in ("ol", "ul"):
            continue
        elif child.name == "pre":
            has_code = True
        elif child.name == "code":
            parts.append(f"`{clean_text(child)}`")
        else:
            has_code |= _item_text(child, parts)
    return has_code


def _is_note(node: Tag) -> bool:
    classes = node.get("class") or []
    return any(c in NOTE_CLASSES or c.startswith("is-") and c.endswith("-notice") for c in classes) \
        or node.name == "aside"


def walk_body(body: Tag, root_path: list[str], troubleshooting: bool) -> list[_Draft]:
    """Cut an article body into drafts at its headings, in document order."""
    drafts = [_Draft(heading_path=list(root_path), troubleshooting=troubleshooting)]
    levels: list[tuple[int, str]] = []  # open headings below the page title

    def current() -> _Draft:
        return drafts[-1]

    def visit(node: Tag) -> None:
        name = node.name
        if re.fullmatch(r"h[1-6]", name):
            heading = clean_text(node)
            if not heading:
                return
            level = int(name[1])
            while levels and levels[-1][0] >= level:
                levels.pop()
            levels.append((level, heading))
            drafts.append(_Draft(heading_path=root_path + [h for _, h in levels],
                                 troubleshooting=troubleshooting))
        elif name == "p":
            text = clean_text(node)
            if text:
                current().paragraphs.append(text)
                current().open_ordered = False
        elif name == "ol":
            items, code = list_items(node)
            draft = current()
            draft.has_code |= code
            start = _int(node.get("start"))
            if (draft.open_ordered and draft.ordered_lists and start
                    and start == len(draft.ordered_lists[-1]) + 1):
                draft.ordered_lists[-1].extend(items)
            elif items:
                draft.ordered_lists.append(items)
            draft.open_ordered = bool(items)
        elif name == "ul":
            items, code = list_items(node)
            current().has_code |= code
            if items:
                current().unordered_lists.append(items)
            current().open_ordered = False
        elif name in ("pre", "code") or "wp-block-code" in (node.get("class") or []):
            current().has_code = True
            current().open_ordered = False
        elif name in ("figure", "img", "br", "hr"):
            pass  # screenshots between the parts of one procedure keep it open
        elif name == "table":
            text = clean_text(node)
            if text:
                current().paragraphs.append(text)
        elif _is_note(node):
            text = clean_text(node)
            if text:
                current().notes.append(text)
        elif name in ("dl",):
            for child in node.children:
                if isinstance(child, Tag):
                    visit(child)
        elif name == "dt":
            heading = clean_text(node)
            if heading:
                drafts.append(_Draft(heading_path=root_path + [h for _, h in levels] + [heading],
                                     troubleshooting=troubleshooting))
        else:  # a wrapper (div, section, dd, blockquote…): walk inside it
            for child in node.children:
                if isinstance(child, Tag):
                    visit(child)
                elif isinstance(child, NavigableString) and not isinstance(child, Comment):
                    text = clean_text(child)
                    if text and name in ("dd", "blockquote", "div"):
                        current().paragraphs.append(text)

    for child in body.children:
        if isinstance(child, Tag):
            visit(child)
    return drafts


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _strip_chrome(soup: Tag) -> None:
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()  # block-markup comments such as <!-- wp:list -->
    for node in soup.select(_DROP_ANY):  # one pass for all selectors
        if not node.decomposed:
            node.decompose()


def page_title(soup: BeautifulSoup) -> str:
    for selector in ("h1.wp-block-post-title", "article h1", "h1"):
        node = soup.select_one(selector)
        if node and clean_text(node):
            return clean_text(node)
    if soup.title and soup.title.string:
        return clean_text(soup.title.string).split(" – ")[0].split(" | ")[0]
    return ""


def extract_html_sections(page: Page) -> tuple[list[_Draft], str, str | None]:
    """Drafts, page title, and a rejection reason when the page has no article body."""
    soup = BeautifulSoup(page.body, "lxml")
    title = page_title(soup)
    article = soup.select_one("article")
    classes = " ".join(article.get("class") or []) if article else ""
    troubleshooting = bool(TROUBLESHOOTING_WORDS.search(classes) or TROUBLESHOOTING_WORDS.search(title))
    body = None
    if not re.search(r"<(html|body)\b", page.body[:4000], re.IGNORECASE):
        body = soup.body  # a fragment (REST content.rendered, raw block markup) is all body
    for selector in BODY_SELECTORS if body is None else ():
        body = soup.select_one(selector)
        if body is not None:
            break
    if body is None:
        return [], title, "no_article_body"
    # The title heading lives outside the content div; drop it if a theme put it inside.
    for h1 in body.find_all("h1"):
        if clean_text(h1) == title:
            h1.decompose()
    _strip_chrome(body)
    return walk_body(body, [title] if title else [], troubleshooting), title, None


def extract_plugin_api_sections(page: Page) -> tuple[list[_Draft], str, str | None]:
    """Drafts from a plugin_information reply: installation, FAQ entries, description."""
    try:
        info = json.loads(page.body)
    except json.JSONDecodeError:
        return [], "", "invalid_json"
    if not isinstance(info, dict) or not isinstance(info.get("sections"), dict):
        return [], "", "no_readme_sections"
    name = clean_text(BeautifulSoup(str(info.get("name") or info.get("slug") or ""), "lxml"))
    drafts: list[_Draft] = []
    for key in PLUGIN_API_SECTIONS:
        html = info["sections"].get(key)
        if not html:
            continue
        label = {"faq": "FAQ", "installation": "Installation", "description": "Description"}[key]
        # The directory's FAQ HTML is often malformed (`<dt><h3>…</h4>`): lxml repairs it.
        body = BeautifulSoup(f"<div>{html}</div>", "lxml").div
        _strip_chrome(body)
        part = walk_body(body, [name, label], troubleshooting=(key == "faq"))
        drafts.extend(part)
    return drafts, name, None


def drafts_to_sections(page: Page, title: str, drafts: Iterable[_Draft],
                       params: ExtractParams) -> tuple[list[Section], list[RejectedRow]]:
    sections, rejected = [], []
    for index, draft in enumerate(drafts):
        heading = draft.heading_path[-1] if draft.heading_path else title
        words = sum(len(t.split()) for t in draft.paragraphs + draft.notes
                    + [i for lst in draft.ordered_lists + draft.unordered_lists for i in lst])
        section_id = content_hash(page.url, " > ".join(draft.heading_path), str(index))
        if words == 0 and not draft.has_code:
            continue  # a heading directly followed by a sub-heading: nothing to lose
        if words < params.min_section_words:
            rejected.append(RejectedRow("extract", section_id, "too_short",
                                        f"{page.url} › {heading}: {words} words"))
            continue
        body = json.dumps([draft.paragraphs, draft.ordered_lists, draft.unordered_lists,
                           draft.notes, draft.has_code], ensure_ascii=False)
        sections.append(Section(
            section_id=section_id, url=page.url, source=page.source, page_title=title,
            heading_path=draft.heading_path, heading=heading, paragraphs=draft.paragraphs,
            ordered_lists=draft.ordered_lists, unordered_lists=draft.unordered_lists,
            notes=draft.notes, has_code=draft.has_code, troubleshooting=draft.troubleshooting,
            content_hash=content_hash(heading, body)))
    return sections, rejected


def extract_sections(page: Page, params: ExtractParams) -> tuple[list[Section], list[RejectedRow]]:
    """All sections of one page, or a rejected row saying why there are none."""
    if page.kind == "plugin_api":
        drafts, title, reason = extract_plugin_api_sections(page)
    elif page.kind == "html":
        drafts, title, reason = extract_html_sections(page)
    else:
        return [], [RejectedRow("extract", page.url, "unknown_page_kind", page.kind)]
    if reason:
        return [], [RejectedRow("extract", page.url, reason)]
    sections, rejected = drafts_to_sections(page, title, drafts, params)
    if not sections:
        rejected.append(RejectedRow("extract", page.url, "no_sections",
                                    f"{len(rejected)} sections too short"))
    return sections, rejected


def extract_all(pages: Iterable[Page], params: ExtractParams,
                progress: bool = False) -> tuple[list[Section], list[RejectedRow], dict[str, int]]:
    pages = list(pages)
    sections: list[Section] = []
    rejected: list[RejectedRow] = []
    pages_with_sections = 0
    for page in tqdm(pages, desc="extract", unit="page", disable=not progress):
        found, dropped = extract_sections(page, params)
        pages_with_sections += bool(found)
        sections.extend(found)
        rejected.extend(dropped)
    sections.sort(key=lambda s: (s.url, s.section_id))
    rejected.sort(key=lambda r: (r.ref, r.reason))
    reasons = Counter(r.reason for r in rejected)
    page_rejects = sum(1 for r in rejected if r.reason not in ("too_short",))
    metrics = {
        "pages_in": len(pages),
        "pages_with_sections": pages_with_sections,
        "pages_rejected": page_rejects,
        "sections_out": len(sections),
        "sections_ordered_list": sum(1 for s in sections if s.ordered_lists),
        "sections_with_code": sum(1 for s in sections if s.has_code),
        **{f"rejected_{reason}": count for reason, count in sorted(reasons.items())},
    }
    return sections, rejected, metrics


def iter_pages(path: str) -> Iterator[Page]:
    for row in read_jsonl(path):
        yield from_row(Page, row)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--pages", default="data/raw/pages.jsonl")
    parser.add_argument("--out", default="data/interim/sections.jsonl")
    parser.add_argument("--rejected", default="data/interim/extract_rejected.jsonl")
    parser.add_argument("--metrics", default="reports/extract/metrics.json")
    args = parser.parse_args(argv)
    params = load_params(args.params).extract
    sections, rejected, metrics = extract_all(iter_pages(args.pages), params, progress=True)
    write_jsonl(args.out, (to_row(s) for s in sections))
    write_jsonl(args.rejected, (to_row(r) for r in rejected))
    write_json(args.metrics, metrics)
    print(f"extract: {metrics['pages_in']} pages -> {len(sections)} sections, "
          f"{metrics['pages_rejected']} pages rejected")


if __name__ == "__main__":
    main()
