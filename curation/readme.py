"""Plugin readme.txt files, parsed the way the plugin directory parses them.

The rules follow the directory's own readme parser (plugin-directory/readme/class-parser.php
in the WordPress/wordpress.org repository): the first line names the plugin (a
`=== Plugin Name ===` placeholder is replaced by the next line unless that line is a header
or too long); `Key: value` headers run until a line that is not one; the short description
runs to the first `==` or `##` heading; sections start at `== Title ==` or `## Title` (not
`###`) and their names are normalised with aliases ("Frequently Asked Questions" is `faq`);
FAQ entries start at `= Question =`, `### Question` or, when a section has neither, at whole
`**bold**` lines. Lines may end in CRLF or CR, and a UTF-8 byte order mark is dropped.

Where the directory would fold unknown sections into "Other notes", this parser keeps each
under its own title, so that extraction can give them their own heading path. Section
text stays Markdown; `section_html` renders it as the directory does (`= Sub =` lines
become `<h4>`, a backtick span that starts a line and ends one is a code block).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from curation.markdown_html import markdown_to_html

EXPECTED_SECTIONS = ("description", "installation", "faq", "screenshots", "changelog",
                     "upgrade_notice", "other_notes")
SECTION_ALIASES = {"frequently_asked_questions": "faq", "change_log": "changelog",
                   "screenshot": "screenshots"}
HEADER_KEYS = {"tested": "tested", "tested up to": "tested", "requires": "requires",
               "requires at least": "requires", "requires php": "requires_php", "tags": "tags",
               "contributors": "contributors", "donate link": "donate_link",
               "stable tag": "stable_tag", "license": "license", "license uri": "license_uri"}
_LINE_BREAK = re.compile(r"\r\n|[\n\x0b\x0c\r\x85\u2028\u2029]")
_HEADER_LINE = re.compile(r"^(" + "|".join(HEADER_KEYS) + r")\s*:", re.IGNORECASE)
_SUB_HEADING = re.compile(r"^[ \t]*=+[ \t]+(.+?)[ \t]+=+[ \t]*$")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class ReadmeSection:
    key: str  # normalised: description, installation, faq, … or other_notes
    title: str  # as written: "Frequently Asked Questions", "Requirements"
    text: str  # Markdown


@dataclass(frozen=True)
class PluginReadme:
    name: str  # "" when the readme only has the `Plugin Name` placeholder
    headers: dict[str, str]  # normalised keys (requires, tested, tags, …), values as written
    short_description: str
    sections: list[ReadmeSection]
    faq: list[tuple[str, str]]  # (question, answer Markdown); "" question = text before the first
    warnings: list[str] = field(default_factory=list)

    def section(self, key: str) -> str:
        return "\n\n".join(s.text for s in self.sections if s.key == key)


def _is_section_heading(trimmed: str) -> bool:
    return trimmed.startswith("==") or (trimmed.startswith("##") and trimmed[2:3] not in ("#", ""))


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text)).strip()


def parse_readme(text: str) -> PluginReadme:
    """A readme.txt (or readme.md) as the plugin directory reads it: the name line, the
    `Key: value` headers, the short description, then `== Section ==` parts."""
    lines = [line.rstrip("\r\n") for line in _LINE_BREAK.split(text)]
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    cursor = _Cursor(lines)
    warnings: list[str] = []
    name = _read_name(cursor, warnings)
    headers = _read_headers(cursor)
    short_description = _read_short_description(cursor)
    sections = _read_sections(lines[cursor.pos:])
    if not any(s.key == "description" for s in sections) and short_description:
        sections.insert(0, ReadmeSection("description", "Description", short_description))
    if not short_description and any(s.key == "description" for s in sections):
        description = next(s.text for s in sections if s.key == "description")
        short_description = next(line for line in description.split("\n") if line.strip())
        warnings.append("no_short_description_present")
    faq_text = "\n\n".join(s.text for s in sections if s.key == "faq")
    faq = parse_faq(faq_text) if faq_text else []
    return PluginReadme(name=name, headers=headers, short_description=short_description,
                        sections=sections, faq=faq, warnings=warnings)


class _Cursor:
    """The readme's lines and how far reading has got."""

    def __init__(self, lines: list[str]):
        self.lines, self.pos = lines, 0

    def take(self) -> str | None:
        """The next line (None past the end), moving past it."""
        line = self.lines[self.pos] if self.pos < len(self.lines) else None
        self.pos += 1
        return line

    def next_nonblank(self) -> str | None:
        while self.pos < len(self.lines):
            line = self.take()
            if line.strip():
                return line
        return None


def _read_name(cursor: _Cursor, warnings: list[str]) -> str:
    """`=== Name ===` (or `# Name`); the placeholder "Plugin Name" takes the next line."""
    name = _plain((cursor.next_nonblank() or "").strip("#= \t\0\x0b"))
    lines = cursor.lines
    if cursor.pos < len(lines) and not lines[cursor.pos].strip("=-"):
        cursor.pos += 1  # a Markdown underline (`=====`) or a blank line under the name
    if name.lower() == "plugin name":
        warnings.append("invalid_plugin_name_header")
        line = cursor.next_nonblank()
        name = _plain(line or "")
        if line is None or len(line) > 50 or _HEADER_LINE.match(line):
            name = ""
            if line is not None:
                cursor.pos -= 1
    return name


def _read_headers(cursor: _Cursor) -> dict[str, str]:
    """`Key: value` lines up to the short description; blank lines may come between them."""
    headers: dict[str, str] = {}
    line = cursor.next_nonblank()
    last_blank = False
    while line is not None:
        if ":" not in line or line.startswith(("#", "=")):
            if not line:
                last_blank = True
                line = cursor.take()
                continue
            break  # the short description starts here
        key, _, value = line.strip().partition(":")
        key = key.strip(" \t*-").lower()
        if key in HEADER_KEYS:
            headers[HEADER_KEYS[key]] = value.strip()
        elif last_blank:
            break  # an unknown "Key:" after a gap is prose, not a header
        last_blank = False
        line = cursor.take()
    if line is not None:
        cursor.pos -= 1  # the line that ended the headers is read again
    return headers


def _read_short_description(cursor: _Cursor) -> str:
    short: list[str] = []
    while cursor.pos < len(cursor.lines):
        line = cursor.lines[cursor.pos]
        if line.strip().startswith(("==", "##")):
            break
        short.append(line)
        cursor.pos += 1
    return "\n".join(short).strip()


def _read_sections(lines: list[str]) -> list[ReadmeSection]:
    """`== Title ==` (or `## Title`) parts; an unknown title is kept as other_notes."""
    sections: list[ReadmeSection] = []
    title, key, body = "", "", []
    for line in lines:
        trimmed = line.strip()
        if trimmed and _is_section_heading(trimmed):
            if key:
                sections.append(ReadmeSection(key, title, "\n".join(body).strip()))
            title = trimmed.strip("#= \t")
            key = title.lower().replace(" ", "_")
            key = SECTION_ALIASES.get(key, key)
            if key not in EXPECTED_SECTIONS:
                key = "other_notes"
            body = []
            continue
        body.append(line)
    if key:
        sections.append(ReadmeSection(key, title, "\n".join(body).strip()))
    return [s for s in sections if s.text]


def parse_faq(text: str) -> list[tuple[str, str]]:
    """FAQ entries as (question, answer) pairs, in order; the directory's rules for headings.

    A section with any line starting `#` or `=` uses those lines as questions; otherwise
    whole-line `**bold**` is the question. Text before the first question has the question "".
    A repeated question keeps its first place and its last answer, as the directory shows it.
    """
    lines = text.split("\n")
    heading_style = any(line.strip()[:1] in ("#", "=") for line in lines)
    entries: dict[str, list[str]] = {}
    question, answer = "", []

    def close() -> None:
        joined = "\n".join(answer).strip()
        if joined or question:
            entries[question] = [joined]

    for line in lines:
        trimmed = line.strip()
        is_question = trimmed and (
            trimmed[0] in ("#", "=") if heading_style
            else len(trimmed) > 4 and trimmed.startswith("**") and trimmed.endswith("**"))
        if is_question:
            if answer or question:
                close()
            question = line.strip().strip(trimmed[0] + " \t")
            answer = []
            continue
        answer.append(line)
    if question or "\n".join(answer).strip():
        close()
    return [(q, a[0]) for q, a in entries.items()]


def section_html(markdown: str) -> str:
    """HTML for readme Markdown, with the directory's additions to Markdown."""
    return markdown_to_html(_readme_markdown(markdown))


def _readme_markdown(text: str) -> str:
    """Plain Markdown for readme Markdown: `= Sub =` headings and line-start backtick code."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        sub = _SUB_HEADING.match(line)
        if sub:
            out.extend(["", f"#### {sub.group(1)}", ""])
            i += 1
            continue
        stripped = line.lstrip(" \t")
        if stripped.startswith("`") and not stripped.startswith("``"):
            # The directory turns a backtick span that opens a line into a code block.
            indent = line[: len(line) - len(stripped)]
            block = [stripped[1:]]
            j = i
            while "`" not in block[-1] and j + 1 < len(lines):
                j += 1
                block.append(lines[j])
            closing = block[-1].find("`")
            if closing >= 0 and not block[-1][closing + 1:].strip():
                block[-1] = block[-1][:closing]
                out.append("")
                out.extend(f"{indent}    {b}" for b in block)
                out.append("")
                i = j + 1
                continue
        out.append(line)
        i += 1
    return "\n".join(out)
