"""A small Markdown-to-HTML converter for plugin readmes and handbook Markdown files.

Extraction reads structure from HTML, so Markdown is first turned into the HTML a docs
site would show and then walked like any page. Only what carries structure is converted:
ATX and setext headings, paragraphs, ordered lists (their start number kept) and
unordered lists with nesting, fenced and indented code, block quotes (GitHub alerts such
as `> [!NOTE]` become callouts), simple tables, raw HTML blocks passed through, and inline
code, emphasis, links and images. Text is escaped; inline HTML tags pass through as
Markdown allows. The `markdown` package is not a dependency of this project; this
covers the subset that readme.txt files and handbooks use.
"""
from __future__ import annotations

import html
import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_ITEM = re.compile(r"^([ \t]*)([*+-]|\d{1,9}[.)])(?:[ \t]+(.*)|[ \t]*$)")
_QUOTE = re.compile(r"^ {0,3}> ?(.*)$")
_TABLE_RULE = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_REF_DEF = re.compile(r"^ {0,3}\[([^\]]+)\]:[ \t]*<?(\S+?)>?(?:[ \t]+[\"'(].*[\"')])?[ \t]*$")
_BLOCK_TAGS = frozenset("""address article aside blockquote center details dialog div dl dt dd
fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hr iframe li main nav ol p pre
section summary table tbody td tfoot th thead tr ul video audio""".split())
_HTML_BLOCK = re.compile(r"^ {0,3}(<!--|</?([A-Za-z][A-Za-z0-9-]*)(?=[\s/>]|$))")
_ALERT = re.compile(r"^\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\s*$", re.IGNORECASE)

# Inline tokens, tried left to right at each position; text between them is escaped.
_INLINE = re.compile(
    r"(?P<code>(?P<ticks>`+)(?P<code_text>.+?)(?P=ticks))"
    r"|(?P<comment><!--.*?-->)"
    r"|(?P<autolink><(?P<auto_url>(?:https?|ftp)://[^\s<>]+|[^\s<>@]+@[^\s<>@]+\.[A-Za-z]+)>)"
    r"|(?P<tag></?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>)"
    r"|(?P<image>!\[(?P<img_alt>[^\]]*)\]\((?P<img_src>[^)\s]*)(?:\s+[\"'][^\"']*[\"'])?\))"
    r"|(?P<link>\[(?P<link_text>(?:[^\[\]]|\[[^\]]*\])*)\]"
    r"(?:\((?P<href><[^>]*>|[^)\s]*)(?:\s+[\"'](?P<title>[^\"']*)[\"'])?\s*\)|\[(?P<ref>[^\]]*)\]))"
    r"|(?P<entity>&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);)"
    r"|(?P<escape>\\[\\`*_{}\[\]()#+\-.!<>|=~])",
    re.DOTALL)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_EM_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])", re.DOTALL)
_EM_UNDER = re.compile(r"(?<![_\w])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![_\w])", re.DOTALL)


def markdown_to_html(text: str) -> str:
    """HTML for a Markdown document (readme section, FAQ answer or handbook file)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")
    refs: dict[str, str] = {}
    kept = []
    in_fence = False
    for line in lines:  # link reference definitions are read first and leave no text
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _REF_DEF.match(line)
        if match:
            refs.setdefault(match.group(1).strip().lower(), match.group(2))
        else:
            kept.append(line)
    return "\n".join(_blocks(kept, refs))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blank(line: str) -> bool:
    return not line.strip()


def _starts_block(line: str) -> bool:
    """Whether a line interrupts a paragraph (so is not a lazy continuation of it)."""
    if _FENCE.match(line) or _ATX.match(line) or _HR.match(line) or _QUOTE.match(line):
        return True
    item = _ITEM.match(line)
    if item and item.group(3) and (not item.group(2)[0].isdigit() or item.group(2)[:-1] == "1"):
        return True
    return _html_block_start(line)


def _html_block_start(line: str) -> bool:
    match = _HTML_BLOCK.match(line)
    return bool(match and (match.group(1) == "<!--" or match.group(2).lower() in _BLOCK_TAGS))


def _blocks(lines: list[str], refs: dict[str, str]) -> list[str]:
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if _blank(line):
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            marker, body = fence.group(1), []
            i += 1
            while i < n and not (lines[i].strip().startswith(marker[0] * len(marker))
                                 and not lines[i].strip().strip(marker[0])):
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end)
            lang = f' class="language-{html.escape(fence.group(2))}"' if fence.group(2) else ""
            out.append(f"<pre><code{lang}>{html.escape(chr(10).join(body), quote=False)}</code></pre>")
            continue
        if _indent(line) >= 4:
            body = []
            while i < n and (_indent(lines[i]) >= 4 or _blank(lines[i])):
                body.append(lines[i][4:])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            out.append(f"<pre><code>{html.escape(chr(10).join(body), quote=False)}</code></pre>")
            continue
        atx = _ATX.match(line)
        if atx:
            level = len(atx.group(1))
            out.append(f"<h{level}>{_inline(atx.group(2) or '', refs)}</h{level}>")
            i += 1
            continue
        if _HR.match(line):
            out.append("<hr>")
            i += 1
            continue
        if _QUOTE.match(line):
            inner = []
            while i < n and not _blank(lines[i]):
                quoted = _QUOTE.match(lines[i])
                inner.append(quoted.group(1) if quoted else lines[i])
                i += 1
            out.append(_blockquote(inner, refs))
            continue
        if _ITEM.match(line):
            html_list, i = _list(lines, i, refs)
            out.append(html_list)
            continue
        if _html_block_start(line):
            # Raw HTML (a callout div, a details box) runs to a blank line; a comment to its end.
            raw = []
            comment = line.lstrip().startswith("<!--")
            while i < n:
                if not comment and _blank(lines[i]):
                    break
                raw.append(lines[i])
                i += 1
                if comment and "-->" in raw[-1]:
                    break
            out.append("\n".join(raw))
            continue
        if "|" in line and i + 1 < n and _TABLE_RULE.match(lines[i + 1]) and "-" in lines[i + 1]:
            rows = [line]
            i += 2
            while i < n and "|" in lines[i] and not _blank(lines[i]):
                rows.append(lines[i])
                i += 1
            out.append(_table(rows, refs))
            continue
        para = [line]
        i += 1
        while i < n and not _blank(lines[i]) and not _starts_block(lines[i]):
            if _SETEXT.match(lines[i]) and len(para) == 1:
                break
            para.append(lines[i])
            i += 1
        if i < n and len(para) == 1 and _SETEXT.match(lines[i]) and not _blank(lines[i]):
            level = 1 if lines[i].strip()[0] == "=" else 2
            out.append(f"<h{level}>{_inline(para[0].strip(), refs)}</h{level}>")
            i += 1
            continue
        out.append(f"<p>{_paragraph(para, refs)}</p>")
    return out


def _paragraph(lines: list[str], refs: dict[str, str]) -> str:
    parts = []
    for index, line in enumerate(lines):
        hard_break = line.endswith("  ") and index < len(lines) - 1
        parts.append(_inline(line.strip(), refs) + ("<br>" if hard_break else ""))
    return "\n".join(parts)


def _blockquote(lines: list[str], refs: dict[str, str]) -> str:
    alert = _ALERT.match(lines[0].strip()) if lines else None
    if alert:  # GitHub alert: a callout, as the handbooks render it
        kind = alert.group(1).lower()
        return f'<div class="callout callout-{kind}">{"".join(_blocks(lines[1:], refs))}</div>'
    return f"<blockquote>{''.join(_blocks(lines, refs))}</blockquote>"


def _list(lines: list[str], i: int, refs: dict[str, str]) -> tuple[str, int]:
    """One list starting at line i: its HTML and the index after it."""
    first = _ITEM.match(lines[i])
    base = len(first.group(1))
    ordered = first.group(2)[0].isdigit()
    start = int(first.group(2)[:-1]) if ordered else 1
    items: list[list[str]] = []
    n = len(lines)
    while i < n:
        item = _ITEM.match(lines[i])
        if not item or len(item.group(1)) > base + 1 or item.group(2)[0].isdigit() != ordered:
            break
        marker_end = len(item.group(1)) + len(item.group(2))
        content_indent = marker_end + 1
        body = [item.group(3) or ""]
        i += 1
        while i < n:
            line = lines[i]
            if _blank(line):
                j = i
                while j < n and _blank(lines[j]):
                    j += 1
                if j < n and _indent(lines[j]) >= min(content_indent, base + 2):
                    body.extend([""] * (j - i))  # a loose item goes on after the gap
                    i = j
                    continue
                break
            sibling = _ITEM.match(line)
            if sibling and len(sibling.group(1)) <= base + 1:
                break
            if _indent(line) > base:
                body.append(line[min(_indent(line), content_indent):])
            elif body[-1].strip() and not _starts_block(line):
                body.append(line.strip())  # lazy continuation of the item's paragraph
            else:
                break
            i += 1
        items.append(body)
        j = i
        while j < n and _blank(lines[j]):
            j += 1
        following = _ITEM.match(lines[j]) if j < n else None
        if j > i and following and len(following.group(1)) <= base + 1 \
                and following.group(2)[0].isdigit() == ordered:
            i = j  # a blank line between items keeps the list going
    tag = "ol" if ordered else "ul"
    start_attr = f' start="{start}"' if ordered and start != 1 else ""
    rendered = []
    for body in items:
        blocks = _blocks(body, refs)
        if len(blocks) >= 1 and blocks[0].startswith("<p>") and "" not in body:
            blocks[0] = blocks[0][3:-4]  # a tight item holds its text, not a paragraph
        rendered.append(f"<li>{''.join(blocks)}</li>")
    return f"<{tag}{start_attr}>{''.join(rendered)}</{tag}>", i


def _table(rows: list[str], refs: dict[str, str]) -> str:
    def cells(row: str) -> list[str]:
        row = row.strip()
        if row.startswith("|"):
            row = row[1:]
        if row.endswith("|"):
            row = row[:-1]
        return [c.strip() for c in re.split(r"(?<!\\)\|", row)]

    head = "".join(f"<th>{_inline(c, refs)}</th>" for c in cells(rows[0]))
    body = "".join("<tr>" + "".join(f"<td>{_inline(c, refs)}</td>" for c in cells(r)) + "</tr>"
                   for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _inline(text: str, refs: dict[str, str]) -> str:
    """Inline Markdown to HTML: tokens become placeholders so emphasis never reaches inside them."""
    held: list[str] = []

    def hold(fragment: str) -> str:
        held.append(fragment)
        return f"\x00{len(held) - 1}\x00"

    def token(match: re.Match) -> str:
        if match.group("code") is not None:
            return hold(f"<code>{html.escape(match.group('code_text').strip(), quote=False)}</code>")
        if match.group("comment") is not None:
            return ""
        if match.group("autolink") is not None:
            url = match.group("auto_url")
            href = url if "://" in url else f"mailto:{url}"
            return hold(f'<a href="{html.escape(href)}">{html.escape(url)}</a>')
        if match.group("tag") is not None:
            return hold(match.group("tag"))
        if match.group("image") is not None:
            return hold(f'<img src="{html.escape(match.group("img_src"))}" '
                        f'alt="{html.escape(match.group("img_alt"))}">')
        if match.group("link") is not None:
            label = match.group("link_text")
            href = match.group("href")
            if href is None:
                href = refs.get((match.group("ref") or label).strip().lower())
                if href is None:
                    return hold(html.escape(match.group("link")))
            href = href.strip("<>")
            return hold(f'<a href="{html.escape(href)}">{_inline(label, refs)}</a>')
        if match.group("entity") is not None:
            return hold(match.group("entity"))
        return hold(html.escape(match.group("escape")[1]))

    if any(c in text for c in "`<[&\\"):  # most lines have no token: skip the long pattern
        text = _INLINE.sub(token, text)
    text = html.escape(text, quote=False)
    if "*" in text or "_" in text:
        text = _STRONG.sub(r"<strong>\2</strong>", text)
        text = _EM_STAR.sub(r"<em>\1</em>", text)
        text = _EM_UNDER.sub(r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: held[int(m.group(1))], text) if held else text
