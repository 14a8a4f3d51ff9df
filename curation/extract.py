"""extract stage: raw pages to structured sections.

BeautifulSoup (lxml) walks each page's article body in document order and cuts it at
headings. A section keeps its heading path, paragraphs, ordered and unordered lists,
notices as notes, and a flag for code. Ordered lists split around a screenshot and
continued with `<ol start="N">` are merged into one procedure; a document's own changelog
is left out. Every kind of page ends in the same walk:

- `html`: a docs page; its article body is found by the site's `body_selector` (from the
  sources config, in `Page.meta`) or the WordPress themes' selectors.
- `rest_item`: a WordPress REST API item; the body is its `content.rendered` fragment and
  the title comes from `Page.meta`.
- `plugin_api`: a plugin-directory API reply; its installation, FAQ (one section per
  entry, malformed `<dt>` markup repaired by lxml) and description HTML.
- `readme`: a plugin readme.txt, parsed by `curation.readme` with the directory's rules;
  its Markdown sections are rendered to HTML first, FAQ entries become their own sections.
- `markdown`: a handbook Markdown file (from a handbook's manifest), rendered to HTML.

Every page ends as sections or as a rejected row with a reason.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from soupsieve import SelectorSyntaxError
from tqdm import tqdm

from curation.markdown_html import markdown_to_html
from curation.readme import parse_readme, section_html
from wpqa.io import read_jsonl, write_json, write_jsonl
from wpqa.pattern import reads_as_code
from wpqa.params import ExtractParams, load_params_or_exit
from wpqa.records import Page, RejectedRow, Section, content_hash, from_row, reason_counts, to_row

BODY_SELECTORS = ("main article .wp-block-post-content", "article .entry-content",
                  ".wp-block-post-content", ".entry-content", "main article", "article")
# Page chrome that can sit inside an article body on real sites.
# (Checked by tag name and class in one walk: a CSS selector pass cost a third of the time.)
DROP_CLASSES = frozenset(("wp-block-wporg-table-of-contents", "table-of-contents",
                          "wp-block-wporg-site-breadcrumbs", "breadcrumbs", "screen-reader-text",
                          "wp-block-post-navigation-link", "post-navigation", "changelog"))
DROP_TAGS = frozenset(("script", "style", "noscript", "nav"))
NOTE_CLASSES = ("wp-block-wporg-notice", "callout", "notice", "alert")
TROUBLESHOOTING_WORDS = re.compile(r"troubleshoot|faq|frequently asked|common (\w+ )?(errors|problems|issues)",
                                   re.IGNORECASE)
# A heading that makes its whole subtree about problems (the page title is checked above).
TROUBLESHOOTING_HEADING = re.compile(
    r"^(troubleshooting|faqs?|frequently asked questions|(common|known)(\s+\w+)?\s+(problems|errors|issues)"
    r"|possible (solutions|resolutions|fixes))\s*:?$", re.IGNORECASE)
# A document's edit history ("Changelog" box at the end of handbook pages): not instructions.
CHANGELOG_HEADING = re.compile(r"^(changelog|change log|revision history)\s*:?$", re.IGNORECASE)
NOTE_PREFIX = re.compile(r"^(note|tip|warning|important|caution)\s*:", re.IGNORECASE)
# A bold paragraph opening with a notice word is a notice even without its colon.
BOLD_NOTE_PREFIX = re.compile(r"^(note|tip|warning|important|caution|attention)\b", re.IGNORECASE)
# A bold line that warns rather than titles ("Always back up your database first."): a note.
CAUTION_PREFIX = re.compile(r"^(always|never|make sure|be sure|do not|don't|remember|back ?up)\b",
                            re.IGNORECASE)
# A <code> on a line of its own that reads as code, not as a file or option name.
CODE_LIKE = re.compile(r"[;{}$=<>]|\w\s?\(|^\s*(sudo|cd|wp|mysql|php|npm|composer|git|curl)\s")
PLUGIN_API_SECTIONS = ("installation", "faq", "description")
README_SKIPPED = ("changelog", "upgrade_notice", "screenshots")
SECTION_LABELS = {"faq": "FAQ", "installation": "Installation", "description": "Description"}
_HEADING_TAG = re.compile(r"^h[1-6]$")
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
    # One entry per ordered list (see `Section.list_meta`).
    list_meta: list[dict] = field(default_factory=list)
    # The last block was an ordered list, only figures and notes since: a list that follows
    # continues it.
    open_ordered: bool = False
    open_unordered: bool = False  # the same for a bulleted list
    last_paragraph: str = ""  # the paragraph just before the next list: its intro
    # Numbered step paragraphs ("1. Find the URL", "Step 2: …") and step headings being
    # collected: the index of their list in ordered_lists, and the last number seen.
    step_list: int | None = None
    step_number: int = 0


def clean_text(node: Tag | str) -> str:
    text = node.get_text(" ", strip=True) if isinstance(node, Tag) else str(node)
    text = _SPACE.sub(" ", text).strip()
    # get_text(" ") puts a space before punctuation that followed an inline tag (not before
    # a name that starts with a dot, such as `.htaccess`).
    # Code spans (`git rm -r .`) are kept as written.
    parts = re.split(r"(`[^`\n]+`)", text)
    for index in range(0, len(parts), 2):
        part = re.sub(r" ([.,;:!?)]+)(?=\s|$)", r"\1", parts[index]).replace("( ", "(")
        # …and inside curly quotes around an inline tag: “ Search ” → “Search”.
        parts[index] = re.sub(r"([“‘]) (?=\S)", r"\1", re.sub(r"(?<=\S) ([”’])", r"\1", part))
    return "".join(parts)


def list_items(node: Tag) -> tuple[list[str], bool, int]:
    """The text of each direct <li>, whether any held code, and how many are only a link.

    A nested list is folded into its parent item ("Configure options: add choices; set
    the layout."), so a sub-step is never lost and never counted as a step of its own.
    """
    items, has_code, link_items = [], False, 0
    for li in node.find_all("li", recursive=False):
        parts: list[str] = []
        has_code |= _item_text(li, parts)
        text = clean_text(" ".join(parts))
        nested = []
        for sub in li.find_all(("ol", "ul"), recursive=False):
            sub_items, sub_code, _ = list_items(sub)
            has_code |= sub_code
            nested.extend(sub_items)
        if nested:
            folded = "; ".join(i.rstrip(" .;") for i in nested)
            text = f"{text.rstrip(' :;,.')}: {folded}." if text else f"{folded}."
        if text:
            items.append(text)
            link_items += _mostly_link(li)
    return items, has_code, link_items


def _mostly_link(li: Tag) -> bool:
    """An item whose own words are nearly all link text (a table of contents, a link list)."""
    total = linked = 0
    for text in li.find_all(string=True):
        size = len(text.strip())
        if isinstance(text, Comment) or not size:
            continue
        in_link = nested = False
        for parent in text.parents:
            if parent is li:
                break
            nested |= parent.name in ("ol", "ul")
            in_link |= parent.name == "a"
        if not nested:
            total += size
            linked += size if in_link else 0
    return total > 0 and linked / total >= 0.7


# Link text that says nothing without its target: the target is kept beside it.
VAGUE_LINK = re.compile(r"^(click )?(here|this( link| page| article)?|link|read more|more)$", re.IGNORECASE)


def _item_text(node: Tag, parts: list[str]) -> bool:
    """Collect an item's own text into `parts` in one walk (no copy, no re-parse).

    Nested lists are left out (`list_items` folds them in), inline <code> keeps its
    backticks (a file or option name stays marked), a code block is dropped and reported,
    and a link whose text is only "here" keeps its target in brackets.
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
            if _is_code_line(child):
                has_code = True  # a command or a line of PHP set between <br>s: a code block
            else:
                parts.append(f"`{clean_text(child)}`")
        elif child.name == "a" and VAGUE_LINK.match(clean_text(child)) \
                and str(child.get("href") or "").startswith(("http://", "https://")):
            parts.append(f"{clean_text(child)} ({child['href']})")
        else:
            has_code |= _item_text(child, parts)
    return has_code


def _is_code_line(code: Tag) -> bool:
    """An inline <code> standing on its own line (between <br>s) whose text reads as code."""
    def neighbour(step: str) -> Tag | str | None:
        sibling = getattr(code, step)
        while isinstance(sibling, NavigableString) and not str(sibling).strip():
            sibling = getattr(sibling, step)
        return sibling

    before, after = neighbour("previous_sibling"), neighbour("next_sibling")
    alone = all(n is None or isinstance(n, Tag) and n.name == "br" for n in (before, after))
    has_break = any(isinstance(n, Tag) and n.name == "br" for n in (before, after))
    return alone and (has_break or code.find("br") is not None) and bool(CODE_LIKE.search(code.get_text()))


def _paragraph_marks(node: Tag) -> tuple[bool, bool]:
    """In one walk over a paragraph: are all its words bold, and does it hold a code line?"""
    all_bold, seen_text, codes, has_break = True, False, [], False
    for child in node.descendants:
        if isinstance(child, Tag):
            if child.name == "code":
                codes.append(child)
            elif child.name == "br":
                has_break = True
        elif all_bold and not isinstance(child, Comment) and child.strip():
            seen_text = True
            parent = child.parent
            while parent is not node and parent.name not in ("strong", "b"):
                parent = parent.parent
            all_bold = parent is not node
    code_line = has_break and any(_is_code_line(c) for c in codes)
    return all_bold and seen_text, code_line


def _is_note(node: Tag) -> bool:
    classes = node.get("class") or []
    return any(c in NOTE_CLASSES or c.startswith("is-") and c.endswith("-notice") for c in classes) \
        or node.name == "aside"


# "Step 3: Paste the URL", "Step 3 – …", "3. Paste the URL", "3) …": a numbered step
# written as a paragraph or a heading. Group 1 is the number, group 2 the step's words.
NUMBERED_STEP = re.compile(r"^(?:step\s*(\d{1,2})\b\s*[:.)\-–—]?|(\d{1,2})\s*[.)]|(\d{1,2})\s*[:\-–—])\s*(.*)$",
                           re.IGNORECASE | re.DOTALL)
STEP_WORD = re.compile(r"^step\s*\d", re.IGNORECASE)


def numbered_step(text: str, heading: bool = False) -> tuple[int, str] | None:
    """(number, words) of a numbered step paragraph or heading, or None.

    A heading needs the word "Step" ("Step 2: Configure"), a paragraph may also be "2. …"
    (lists typed as paragraphs); a bare number with nothing after it is no step.
    """
    match = NUMBERED_STEP.match(text.strip())
    if not match:
        return None
    number = next(int(g) for g in match.groups()[:3] if g)
    words = match.group(4).strip()
    if heading and not STEP_WORD.match(text.strip()) and not match.group(2):
        return None  # a heading is a step when it says "Step 2" or "2. …"
    if not STEP_WORD.match(text.strip()) and (not words or not words[0].isalpha()):
        return None  # "2019. …" or "3) 4)" are not steps
    return number, words or text.strip()


_PROSE_STEP = re.compile(r"^\s*(\d{1,2})[.)]\s+(\S.*)$")


def prose_steps(text: str) -> tuple[str, list[str]] | None:
    """(intro, steps) of a code block that holds prose with numbered lines ("… follow these
    steps: 1. Test your plugin. 2. Fix any bugs …"), or None for code.

    Every line must read as prose, the numbered lines must run 1, 2, 3 … to the end, and
    the text before them (the intro) must be sentences, not code.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if _PROSE_STEP.match(line)), None)
    if first is None or len(lines) - first < 2:
        return None
    steps = []
    for expected, line in enumerate(lines[first:], start=1):
        match = _PROSE_STEP.match(line)
        if not match or int(match.group(1)) != expected or reads_as_code(match.group(2)) \
                or not match.group(2)[0].isalpha():
            return None
        steps.append(match.group(2))
    intro = " ".join(lines[:first])
    if intro and (reads_as_code(intro) or not re.search(r"[A-Za-z]{3,}\s+[a-z]{2,}\s+[a-z]{2,}", intro)):
        return None
    return intro, steps


def _add_numbered_step(draft: _Draft, number: int, words: str, intro: str = "",
                       marker: str = "") -> bool:
    """Add a numbered step to the draft's step list; False when the number does not fit."""
    if draft.step_list is not None and number == draft.step_number + 1:
        draft.ordered_lists[draft.step_list].append(words)
    elif number in (0, 1):
        draft.ordered_lists.append([words])
        draft.list_meta.append({"intro": intro, "links": 0, "code": False, "numbered_text": True,
                                "step_marked": bool(STEP_WORD.match(marker))})
        draft.step_list = len(draft.ordered_lists) - 1
    else:
        return False
    draft.step_number = number
    return True


def _list_resumes_after(node: Tag, draft: _Draft) -> bool:
    """Does the draft's last ordered list carry on (`<ol start="N+1">`) right after this
    node, with only figures between?"""
    if not draft.ordered_lists:
        return False
    for sibling in node.next_siblings:
        if not isinstance(sibling, Tag):
            continue
        if sibling.name in ("figure", "img", "br", "hr"):
            continue
        return sibling.name == "ol" and _int(sibling.get("start")) == len(draft.ordered_lists[-1]) + 1
    return False


def walk_body(body: Tag, root_path: list[str], troubleshooting: bool) -> list[_Draft]:
    """Cut an article body into drafts at its headings, in document order.

    A paragraph that is one short bold run ("**I see a blank page.**") heads a section one
    level below the last heading, as handbooks use it for questions; one that starts with
    "Note:" is a note. A "Changelog" heading and what follows it up to the next heading of
    its level or above are left out.

    Procedures keep their shape: an ordered list continued after screenshots, notes or
    prose (`<ol start="N">`, or a list that follows with only figures between) extends
    the one before; numbered step paragraphs ("1. Find the URL") become an ordered list;
    step headings ("Step 2: Enable the network") become the steps of the section above
    them (and still open their own section, which may hold sub-procedures). Each ordered
    list records the paragraph before it as its intro.
    """
    walker = _BodyWalker(root_path, troubleshooting)
    for child in body.children:
        if isinstance(child, Tag):
            walker.visit(child)
    return walker.finish()


class _BodyWalker:
    """The state of one walk through a body: the drafts so far and the open headings."""

    def __init__(self, root_path: list[str], troubleshooting: bool):
        self.root_path = root_path
        self.troubleshooting = troubleshooting
        self.drafts = [_Draft(heading_path=list(root_path), troubleshooting=troubleshooting)]
        # Open headings below the page title: (level, text, troubleshooting part, its draft).
        self.levels: list[tuple[int, str, bool, _Draft]] = []
        self.skip_below: list[int] = []  # the level of an open changelog heading
        # (draft, index of its step list, the section a step heading opened): a step whose
        # section holds code marks its list as followed by code, so a step that points at it
        # ("Add the following lines") needs the code; "1. Download the file" does not.
        self.step_sections: list[tuple[_Draft, int, _Draft]] = []

    def current(self) -> _Draft:
        return self.drafts[-1]

    def open_draft(self, *extra_heading: str) -> _Draft:
        draft = _Draft(heading_path=self.root_path + [h for _, h, _, _ in self.levels]
                       + list(extra_heading),
                       troubleshooting=self.troubleshooting or any(t for _, _, t, _ in self.levels))
        self.drafts.append(draft)
        return draft

    def finish(self) -> list[_Draft]:
        for parent, index, step_draft in self.step_sections:
            if step_draft.has_code and index is not None and index < len(parent.list_meta):
                parent.list_meta[index]["code_after"] = True
        return self.drafts

    def open_heading(self, level: int, heading: str) -> None:
        levels = self.levels
        if self.skip_below and level > self.skip_below[0]:
            return  # a sub-heading of the changelog
        while levels and levels[-1][0] >= level:
            levels.pop()
        if CHANGELOG_HEADING.match(heading):
            self.skip_below[:] = [level]
            return
        self.skip_below.clear()
        step = numbered_step(heading, heading=True)
        parent = levels[-1][3] if levels else self.drafts[0]
        in_steps = bool(step) and _add_numbered_step(parent, *step, intro=parent.last_paragraph,
                                                     marker=heading)
        if step and not in_steps:
            parent.step_list = None
        levels.append((level, heading, bool(TROUBLESHOOTING_HEADING.match(heading)), None))
        draft = self.open_draft()
        levels[-1] = levels[-1][:3] + (draft,)
        if in_steps:
            self.step_sections.append((parent, parent.step_list, draft))

    def add_ordered(self, node: Tag) -> None:
        items, code, links = list_items(node)
        draft = self.current()
        draft.has_code |= code
        if not items:
            return
        start = _int(node.get("start"))
        last = len(draft.ordered_lists[-1]) if draft.ordered_lists else 0
        previous = draft.ordered_lists[-1] if draft.ordered_lists else []
        caption_between = bool(draft.last_paragraph) and len(draft.last_paragraph.split()) <= 8 \
            and not draft.last_paragraph.endswith((".", ":", "?", "!"))
        continues = draft.ordered_lists and draft.step_list != len(draft.ordered_lists) - 1 and (
            start is not None and start > 1 and start == last + 1
            or start is None and (draft.open_ordered or previous[-1].endswith(":") or caption_between))
        if continues:
            draft.ordered_lists[-1].extend(items)
            meta = draft.list_meta[-1]
            meta["links"] += links
            meta["code"] |= code
        else:
            draft.ordered_lists.append(items)
            draft.list_meta.append({"intro": draft.last_paragraph, "links": links, "code": code,
                                    "numbered_text": False})
        draft.open_ordered = True
        draft.open_unordered = False
        draft.last_paragraph = ""

    def add_unordered(self, node: Tag) -> None:
        items, code, _ = list_items(node)
        draft = self.current()
        draft.has_code |= code
        if items and draft.open_unordered and draft.unordered_lists:
            draft.unordered_lists[-1].extend(items)  # one list, split by a screenshot
        elif items:
            draft.unordered_lists.append(items)
        draft.open_ordered = False
        draft.open_unordered = bool(items)
        draft.last_paragraph = ""

    def add_paragraph(self, node: Tag) -> None:
        text = clean_text(node)
        if not text:
            return
        draft = self.current()
        bold, code_line = _paragraph_marks(node)
        step = numbered_step(text)
        if step and _add_numbered_step(draft, *step, intro=draft.last_paragraph, marker=text):
            draft.open_ordered = draft.open_unordered = False
        elif bold and (BOLD_NOTE_PREFIX.match(text) or CAUTION_PREFIX.match(text)):
            draft.notes.append(text)
        elif bold and len(re.findall(r"\w+", text)) <= 20 and not text.endswith("!") \
                and not _list_resumes_after(node, draft):
            # Below any real heading, replaced by the next bold line. Between the parts
            # of a procedure (`<ol start="N">` follows) a bold line is a caption instead.
            self.open_heading(7, text)
        else:
            draft.paragraphs.append(text)
            draft.has_code |= code_line
            draft.open_ordered = draft.open_unordered = False
            # Several paragraphs since the last list: only the last one introduces the next.
            draft.last_paragraph = text

    def add_code(self, node: Tag) -> None:
        draft = self.current()
        prose = prose_steps(node.get_text())
        if prose:  # a notice quoted in a code block: "please follow these steps: 1. Test …"
            intro, steps = prose
            if intro:
                draft.paragraphs.append(intro)
            draft.ordered_lists.append(steps)
            draft.list_meta.append({"intro": intro, "links": 0, "code": False,
                                    "numbered_text": True})
            draft.open_ordered = draft.open_unordered = False
            draft.last_paragraph = ""
            return
        draft.has_code = True
        draft.open_ordered = draft.open_unordered = False
        if draft.list_meta and draft.ordered_lists:
            # A code block right after a list: its last steps may need it.
            draft.list_meta[-1]["code_after"] = True

    def visit_children(self, node: Tag) -> None:
        """A wrapper (div, section, dl, dd, details, blockquote…): walk inside it."""
        for child in node.children:
            if isinstance(child, Tag):
                self.visit(child)
            elif isinstance(child, NavigableString) and not isinstance(child, Comment):
                text = clean_text(child)
                if text and node.name in ("dd", "blockquote", "div", "details"):
                    self.current().paragraphs.append(text)

    def visit(self, node: Tag) -> None:
        name = node.name
        if _HEADING_TAG.match(name):
            heading = clean_text(node)
            if heading:
                self.open_heading(int(name[1]), heading)
        elif self.skip_below:  # inside a changelog: only a later heading matters
            if node.find(_HEADING_TAG) is not None:
                for child in node.children:
                    if isinstance(child, Tag):
                        self.visit(child)
        elif name == "p":
            self.add_paragraph(node)
        elif name == "ol":
            self.add_ordered(node)
        elif name == "ul":
            self.add_unordered(node)
        elif name in ("pre", "code") or "wp-block-code" in (node.get("class") or []):
            self.add_code(node)
        elif name in ("figure", "img", "br", "hr"):
            pass  # screenshots between the parts of one procedure keep it open
        elif name == "table":
            text = clean_text(node)
            if text:
                self.current().paragraphs.append(text)
                self.current().open_ordered = self.current().open_unordered = False
        elif _is_note(node) or name == "blockquote" and NOTE_PREFIX.match(clean_text(node)):
            text = clean_text(node)
            if text:
                self.current().notes.append(text)
        elif name in ("dt", "summary"):  # an FAQ entry's question (<dl>, <details>)
            heading = clean_text(node)
            if heading:
                self.open_draft(heading)
        else:
            self.visit_children(node)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# Text a reader never sees is not documentation (and is where injected text hides).
HIDDEN_CLASSES = frozenset(("sr-only", "visually-hidden", "screen-reader-only", "hidden", "hide",
                            "d-none", "u-hidden"))
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d])",
                           re.IGNORECASE)


def _hidden(node: Tag) -> bool:
    attrs = node.attrs
    return ("hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true"
            or bool(_HIDDEN_STYLE.search(str(attrs.get("style") or "")))
            or not HIDDEN_CLASSES.isdisjoint(attrs.get("class") or ()))


def _strip_chrome(soup: Tag) -> None:
    comments, chrome = [], []
    for node in soup.descendants:
        if isinstance(node, Comment):
            comments.append(node)  # block-markup comments such as <!-- wp:list -->
        elif isinstance(node, Tag) and (node.name in DROP_TAGS
                                        or not DROP_CLASSES.isdisjoint(node.get("class") or ())
                                        or _hidden(node)):
            chrome.append(node)
    for comment in comments:
        comment.extract()
    for node in chrome:
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


def _reject(page: Page, reason: str, detail: str = "") -> RejectedRow:
    return RejectedRow("extract", page.url, reason, detail)


def _troubleshooting(*texts: str) -> bool:
    return any(TROUBLESHOOTING_WORDS.search(t) for t in texts if t)


def _fragment_drafts(fragment: str, root_path: list[str], troubleshooting: bool) -> list[_Draft]:
    """Drafts from an HTML fragment (REST content, API section, rendered Markdown)."""
    body = BeautifulSoup(f"<div>{fragment}</div>", "lxml").div
    if body is None:
        return []
    title = root_path[-1] if root_path else ""
    for h1 in body.find_all("h1"):
        if clean_text(h1) == title:
            h1.decompose()  # the title is already the root of the path
    _strip_chrome(body)
    return walk_body(body, root_path, troubleshooting)


def _meta_text(page: Page, key: str) -> str:
    """A meta value as plain text (REST titles arrive HTML-escaped, e.g. `&#8217;`)."""
    value = str(page.meta.get(key) or "")
    return clean_text(BeautifulSoup(value, "lxml")) if "<" in value or "&" in value else value.strip()


def extract_html_sections(page: Page) -> tuple[list[_Draft], str, RejectedRow | None]:
    """Drafts, page title, and a rejected row when the page has no article body."""
    soup = BeautifulSoup(page.body, "lxml")
    title = page_title(soup)
    article = soup.select_one("article")
    classes = " ".join(article.get("class") or []) if article else ""
    troubleshooting = _troubleshooting(classes, title)
    selector = page.meta.get("body_selector")
    body = None
    if selector:  # the site's own article body, as configured in the sources
        try:
            body = soup.select_one(selector)
        except SelectorSyntaxError as err:
            return [], title, _reject(page, "no_article_body",
                                      f"body_selector {selector!r} is not a CSS selector: {str(err).splitlines()[0]}")
        if body is None:
            return [], title, _reject(page, "no_article_body", f"body_selector {selector!r} matched nothing")
    elif not re.search(r"<(html|body)\b", page.body[:4000], re.IGNORECASE):
        body = soup.body  # a fragment (REST content.rendered, raw block markup) is all body
    for selector in BODY_SELECTORS if body is None else ():
        body = soup.select_one(selector)
        if body is not None:
            break
    if body is None:
        return [], title, _reject(page, "no_article_body")
    # The title heading lives outside the content div; drop it if a theme put it inside.
    for h1 in body.find_all("h1"):
        if clean_text(h1) == title:
            h1.decompose()
    _strip_chrome(body)
    return walk_body(body, [title] if title else [], troubleshooting), title, None


def extract_rest_item_sections(page: Page) -> tuple[list[_Draft], str, RejectedRow | None]:
    """Drafts from a REST API item: its rendered content under its title."""
    title = _meta_text(page, "title")
    if not page.body.strip():
        return [], title, _reject(page, "empty_content")
    drafts = _fragment_drafts(page.body, [title] if title else [],
                              _troubleshooting(title, str(page.meta.get("collection") or "")))
    return drafts, title, None


def extract_plugin_api_sections(page: Page) -> tuple[list[_Draft], str, RejectedRow | None]:
    """Drafts from a plugin_information reply: installation, FAQ entries, description."""
    try:
        info = json.loads(page.body)
    except json.JSONDecodeError:
        return [], "", _reject(page, "invalid_json")
    if not isinstance(info, dict) or not isinstance(info.get("sections"), dict):
        return [], "", _reject(page, "no_readme_sections")
    name = clean_text(BeautifulSoup(str(info.get("name") or info.get("slug") or ""), "lxml"))
    drafts: list[_Draft] = []
    for key in PLUGIN_API_SECTIONS:
        html = info["sections"].get(key)
        if not html:
            continue
        # The directory's FAQ HTML is often malformed (`<dt><h3>…</h4>`): lxml repairs it.
        drafts.extend(_fragment_drafts(str(html), [name, SECTION_LABELS[key]], troubleshooting=(key == "faq")))
    return drafts, name, None


def plugin_slug(url: str) -> str:
    """The plugin a readme URL belongs to: `…/contact-form-7/trunk/readme.txt` → contact-form-7."""
    parts = [p for p in re.split(r"[/?#]", url.split("://", 1)[-1])[1:] if p]
    for marker in ("trunk", "tags", "branches"):
        if marker in parts and parts.index(marker) > 0:
            return parts[parts.index(marker) - 1]
    if parts and parts[-1].lower() in ("readme.txt", "readme.md"):
        parts = parts[:-1]
    return parts[-1] if parts else ""


def extract_readme_sections(page: Page) -> tuple[list[_Draft], str, RejectedRow | None]:
    """Drafts from a plugin readme.txt: its sections and one per FAQ entry.

    Changelog, upgrade notices and screenshot captions are not instructions and are left out.
    """
    readme = parse_readme(page.body)
    if not readme.sections:
        return [], readme.name, _reject(page, "no_readme_sections")
    name = (readme.name or _meta_text(page, "name") or _meta_text(page, "title") or _meta_text(page, "slug")
            or plugin_slug(page.url))
    drafts: list[_Draft] = []
    for section in readme.sections:
        if section.key in README_SKIPPED:
            continue
        label = SECTION_LABELS.get(section.key, section.title)
        if section.key == "faq":
            for question, answer in readme.faq:
                path = [name, "FAQ", question] if question else [name, "FAQ"]
                drafts.extend(_fragment_drafts(section_html(answer), path, troubleshooting=True))
            if readme.faq:
                continue
        drafts.extend(_fragment_drafts(section_html(section.text), [name, label],
                                       _troubleshooting(section.title)))
    return drafts, name, None


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(\n|\Z)", re.DOTALL)
_TEMPLATE_TAG = re.compile(r"^[ \t]*\{%.*%\}[ \t]*$", re.MULTILINE)
_OPENING_H1 = re.compile(r"\A\s*<h1>(.*?)</h1>\n?", re.DOTALL)


def extract_markdown_sections(page: Page) -> tuple[list[_Draft], str, RejectedRow | None]:
    """Drafts from a handbook Markdown file: its `# Title` (or the manifest's) over its headings."""
    text = page.body.replace("\r\n", "\n").lstrip("\ufeff")
    title = _meta_text(page, "title")
    front = _FRONT_MATTER.match(text)
    if front:  # YAML front matter: only its title matters here
        found = re.search(r"^title:\s*[\"']?(.+?)[\"']?\s*$", front.group(1), re.MULTILINE)
        title = title or (found.group(1) if found else "")
        text = text[front.end():]
    text = _TEMPLATE_TAG.sub("", text)  # the block editor handbook's {% codetabs %} markers
    fragment = markdown_to_html(text)
    opening = _OPENING_H1.match(fragment)
    if opening:  # the file's own title: the root of the path, not a section
        title = title or clean_text(BeautifulSoup(opening.group(1), "lxml"))
        fragment = fragment[opening.end():]
    if not fragment.strip():
        return [], title, _reject(page, "empty_content")
    return _fragment_drafts(fragment, [title] if title else [], _troubleshooting(title)), title, None


EXTRACTORS = {"html": extract_html_sections, "rest_item": extract_rest_item_sections,
              "plugin_api": extract_plugin_api_sections, "readme": extract_readme_sections,
              "markdown": extract_markdown_sections}


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
                           draft.notes, draft.has_code, draft.list_meta], ensure_ascii=False,
                          sort_keys=True)
        sections.append(Section(
            section_id=section_id, url=page.url, source=page.source, page_title=title,
            heading_path=draft.heading_path, heading=heading, paragraphs=draft.paragraphs,
            ordered_lists=draft.ordered_lists, unordered_lists=draft.unordered_lists,
            notes=draft.notes, has_code=draft.has_code, troubleshooting=draft.troubleshooting,
            content_hash=content_hash(heading, body), list_meta=draft.list_meta))
    return sections, rejected


def extract_sections(page: Page, params: ExtractParams) -> tuple[list[Section], list[RejectedRow]]:
    """All sections of one page, or a rejected row saying why there are none."""
    extractor = EXTRACTORS.get(page.kind)
    if extractor is None:
        return [], [RejectedRow("extract", page.url, "unknown_page_kind", page.kind)]
    drafts, title, rejection = extractor(page)
    if rejection:
        return [], [rejection]
    sections, rejected = drafts_to_sections(page, title, drafts, params)
    if not sections:
        rejected.append(RejectedRow("extract", page.url, "no_sections",
                                    f"{len(rejected)} sections too short"))
    return sections, rejected


class PageCache:
    """What each page gave, by page content, params and extraction code (SQLite under
    .cache/, outside every DVC output), so a re-crawl where a few pages changed extracts
    only those. Any change to the code DVC tracks for this stage (the curation and wpqa
    packages) or to `extract` params starts afresh; response headers are left out, since
    extraction never reads them."""

    def __init__(self, path: str | Path | None = None):
        path = Path(path or os.environ.get(EXTRACT_CACHE_ENV) or DEFAULT_EXTRACT_CACHE)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # no fsync per page; a crash loses only cache
        self.db.execute("CREATE TABLE IF NOT EXISTS pages (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
        self.hits = 0

    def key(self, page: Page, params: ExtractParams) -> str:
        payload = [code_version(), to_row(params), page.url, page.status, page.source, page.kind,
                   page.meta, page.body]
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> tuple[list[Section], list[RejectedRow]] | None:
        row = self.db.execute("SELECT result FROM pages WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        found, dropped = json.loads(row[0])
        self.hits += 1
        return [from_row(Section, r) for r in found], [from_row(RejectedRow, r) for r in dropped]

    def put(self, key: str, found: list[Section], dropped: list[RejectedRow]) -> None:
        result = json.dumps([[to_row(x) for x in found], [to_row(x) for x in dropped]], ensure_ascii=False)
        self.db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?)", (key, result))


DEFAULT_EXTRACT_CACHE = Path(".cache/extract/pages.sqlite")
EXTRACT_CACHE_ENV = "WPQA_EXTRACT_CACHE"
_PACKAGES = Path(__file__).resolve().parent.parent


@functools.cache
def code_version() -> str:
    """A hash of every module of the curation and wpqa packages: the code this stage runs."""
    digest = hashlib.sha256()
    for path in sorted((_PACKAGES / "curation").rglob("*.py")) + sorted((_PACKAGES / "wpqa").rglob("*.py")):
        digest.update(path.relative_to(_PACKAGES).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def extract_all(pages: Iterable[Page], params: ExtractParams, progress: bool = False,
                cache: PageCache | None = None
                ) -> tuple[list[Section], list[RejectedRow], dict[str, int]]:
    pages = list(pages)
    sections: list[Section] = []
    rejected: list[RejectedRow] = []
    pages_with_sections = 0
    for page in tqdm(pages, desc="extract", unit="page", disable=not progress):
        key = cache.key(page, params) if cache is not None else ""
        done = cache.get(key) if cache is not None else None
        if done is None:
            done = extract_sections(page, params)
            if cache is not None:
                cache.put(key, *done)
        found, dropped = done
        pages_with_sections += bool(found)
        sections.extend(found)
        rejected.extend(dropped)
    sections.sort(key=lambda s: (s.url, s.section_id))
    rejected.sort(key=lambda r: (r.ref, r.reason))
    page_rejects = sum(1 for r in rejected if r.reason not in ("too_short",))
    metrics = {
        "pages_in": len(pages),
        "pages_with_sections": pages_with_sections,
        "pages_rejected": page_rejects,
        "sections_out": len(sections),
        "sections_ordered_list": sum(1 for s in sections if s.ordered_lists),
        "sections_with_code": sum(1 for s in sections if s.has_code),
        **reason_counts(rejected, "rejected_"),
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
    parser.add_argument("--cache", default=None, help="what each page gave, reused while the page, "
                        "params and code are the same (default .cache/extract/pages.sqlite, or "
                        "$WPQA_EXTRACT_CACHE)")
    parser.add_argument("--no-cache", action="store_true", help="extract every page afresh")
    args = parser.parse_args(argv)
    params = load_params_or_exit(args.params, "extract").extract
    cache = None if args.no_cache else PageCache(args.cache)
    sections, rejected, metrics = extract_all(iter_pages(args.pages), params, progress=True, cache=cache)
    write_jsonl(args.out, (to_row(s) for s in sections))
    write_jsonl(args.rejected, (to_row(r) for r in rejected))
    write_json(args.metrics, metrics)
    reused = f" ({cache.hits} unchanged, from {cache.path})" if cache is not None else ""
    print(f"extract: {metrics['pages_in']} pages{reused} -> {len(sections)} sections, "
          f"{metrics['pages_rejected']} pages rejected")


if __name__ == "__main__":
    main()
