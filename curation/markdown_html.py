"""Markdown to HTML for plugin readmes and handbook Markdown files, with markdown-it-py.

Extraction reads structure from HTML, so Markdown is first turned into the HTML a docs
site would show and then walked like any page. CommonMark (headings, paragraphs, lists
with their start number, fenced and indented code, block quotes, raw HTML, inline code,
emphasis, links, images) plus GitHub's tables; a GitHub alert (`> [!NOTE]` …) becomes a
callout `<div class="callout callout-note">`, as the handbooks render it, so the walker
reads it as a note.
"""
from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

_ALERT = re.compile(r"^\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\][ \t]*(?:\n|$)", re.IGNORECASE)


def _github_alerts(state: StateCore) -> None:
    """Turn a block quote that opens with an alert marker into a callout div."""
    tokens = state.tokens
    for i, token in enumerate(tokens[:-2]):
        inline = tokens[i + 2]
        if token.type != "blockquote_open" or tokens[i + 1].type != "paragraph_open" \
                or inline.type != "inline":
            continue
        alert = _ALERT.match(inline.content)
        if not alert:
            continue
        close = next(t for t in tokens[i + 1:] if t.type == "blockquote_close"
                     and t.level == token.level)
        token.tag = close.tag = "div"
        token.attrSet("class", f"callout callout-{alert.group(1).lower()}")
        inline.content = inline.content[alert.end():]
        if not inline.content.strip():  # the marker stood alone: no empty paragraph
            tokens[i + 1].hidden = tokens[i + 3].hidden = True


_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")
_MARKDOWN.core.ruler.after("block", "github_alerts", _github_alerts)


def markdown_to_html(text: str) -> str:
    """HTML for a Markdown document (readme section, FAQ answer or handbook file)."""
    return _MARKDOWN.render(text)
