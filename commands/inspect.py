"""`wpqa inspect FILE`: the sections extraction finds in one saved file.

The tool to reach for when adding a docs site: save one page and see, as JSON lines, the
sections the extract stage would make of it (heading path, paragraphs, ordered lists with
split procedures merged, unordered lists, notes, the code flag). The file type is read
from the file: `.txt` is a plugin readme; `.json` is a WordPress REST API item (or a list
of them) or a plugin-directory `plugin_information` reply; `.md` is handbook Markdown (or
a plugin readme.md, recognised by its `Stable tag:` header); anything else is an HTML page.
A summary with any rejected section or page goes to stderr.

Exit status: 0 when sections were found, 1 when none were, 2 when the file cannot be read.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from curation.extract import extract_sections
from wpqa.params import ExtractParams, ParamsError, load_params
from wpqa.records import Page, RejectedRow, Section, to_row

KINDS = ("html", "rest_item", "plugin_api", "readme", "markdown")
DEFAULT_MIN_SECTION_WORDS = 3  # params.yaml's default, used when no params file is found
_README_HEADER = re.compile(r"^\s*stable tag\s*:", re.IGNORECASE | re.MULTILINE)


class InspectError(Exception):
    """A file that cannot be turned into pages, with a message a user can act on."""


def read_text(path: Path) -> str:
    """A file's text; UTF-16 readmes (with a byte order mark) are decoded too."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def rest_item_page(item: dict, url: str | None, source: str) -> Page:
    """A REST API item as the crawler stores it: its rendered content, with its metadata."""
    content = item.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("rendered"), str):
        raise InspectError("a REST item needs content.rendered")
    title = item.get("title")
    title = title.get("rendered", "") if isinstance(title, dict) else str(title or "")
    meta = {"link": str(item.get("link") or ""), "modified": str(item.get("modified") or ""),
            "parent": str(item.get("parent") or ""), "menu_order": str(item.get("menu_order") or ""),
            "title": title, "collection": str(item.get("type") or "")}
    return Page(url=url or meta["link"], status=200, headers={}, body=content["rendered"],
                source=source, kind="rest_item", meta=meta)


def pages_from_file(path: Path, url: str | None = None, kind: str | None = None,
                    body_selector: str | None = None, source: str = "inspect") -> list[Page]:
    """The pages one saved file holds (a REST collection holds several)."""
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as err:
        raise InspectError(f"cannot read {path}: {err}") from None
    file_url = url or path.resolve().as_uri()
    suffix = path.suffix.lower()
    if kind is None:
        if suffix == ".txt" or suffix == ".md" and _README_HEADER.search(text[:3000]):
            kind = "readme"
        elif suffix == ".md":
            kind = "markdown"
        elif suffix == ".json":
            kind = "json"
        else:
            kind = "html"
    if kind in ("json", "rest_item", "plugin_api"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InspectError(f"{path} is not valid JSON: {err}") from None
        items = data if isinstance(data, list) else [data]
        pages = []
        for item in items:
            if not isinstance(item, dict):
                raise InspectError(f"{path}: expected a JSON object or a list of objects")
            if kind == "plugin_api" or kind == "json" and isinstance(item.get("sections"), dict):
                pages.append(Page(url=file_url, status=200, headers={}, body=json.dumps(item),
                                  source=source, kind="plugin_api"))
            elif kind == "rest_item" or isinstance(item.get("content"), dict):
                pages.append(rest_item_page(item, url, source))
            else:
                raise InspectError(f"{path}: neither a REST item (content.rendered) nor a "
                                   "plugin_information reply (sections)")
        return pages
    meta = {"body_selector": body_selector} if body_selector and kind == "html" else {}
    return [Page(url=file_url, status=200, headers={}, body=text, source=source, kind=kind, meta=meta)]


def inspect_file(path: Path, params: ExtractParams, **options) -> tuple[list[Section], list[RejectedRow]]:
    sections: list[Section] = []
    rejected: list[RejectedRow] = []
    for page in pages_from_file(path, **options):
        found, dropped = extract_sections(page, params)
        sections.extend(found)
        rejected.extend(dropped)
    return sections, rejected


def extract_params(params_path: str | None) -> ExtractParams:
    """The extract params from params.yaml; the project default when none is given or found."""
    if params_path is None:
        if not Path("params.yaml").exists():
            return ExtractParams(min_section_words=DEFAULT_MIN_SECTION_WORDS)
        params_path = "params.yaml"
    return load_params(params_path).extract


def inspect_command(argv: list[str] | None = None, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parser = argparse.ArgumentParser(
        prog="wpqa inspect", description="Print, as JSON lines, the sections extraction finds in one "
        "saved HTML page, REST API item (.json), plugin_information reply (.json), readme.txt or "
        "handbook Markdown file (.md).",
        epilog="exit status: 0 sections found; 1 none found; 2 the file cannot be read or the "
        "arguments are wrong.")
    parser.add_argument("file")
    parser.add_argument("--url", help="the URL recorded in each section (default: the item's link "
                        "for a REST item, else the file's file:// URL)")
    parser.add_argument("--kind", choices=KINDS, help="read the file as this kind instead of guessing")
    parser.add_argument("--body-selector", help="CSS selector of the article body on an HTML page, "
                        "as a source's body_selector in the sources config")
    parser.add_argument("--params", default=None, help="params.yaml with extract.min_section_words")
    args = parser.parse_args(argv)
    try:
        params = extract_params(args.params)
        sections, rejected = inspect_file(Path(args.file), params, url=args.url, kind=args.kind,
                                          body_selector=args.body_selector)
    except (InspectError, ParamsError) as error:
        print(f"wpqa inspect: {error}", file=err)
        return 2
    for section in sections:
        print(json.dumps(to_row(section), ensure_ascii=False), file=out)
    merged = sum(len(lst) for s in sections for lst in s.ordered_lists)
    print(f"wpqa inspect: {len(sections)} sections ({sum(bool(s.ordered_lists) for s in sections)} "
          f"with ordered lists, {merged} steps in all; {sum(s.has_code for s in sections)} with code), "
          f"{len(rejected)} rejected", file=err)
    for row in rejected:
        print(f"  rejected {row.reason}: {row.detail or row.ref}", file=err)
    return 0 if sections else 1


def main() -> None:
    sys.exit(inspect_command())


if __name__ == "__main__":
    main()
