"""Build the hand-labelled development set from label drafts, and show pages to label.

    python benchmarks/label_pages.py show ../shared/corpus/wp-docs PAGE
        prints a page's outline (headings, lists with their `start`, paragraphs) to read
        while labelling;
    python benchmarks/label_pages.py build DRAFTS_DIR benchmarks/labels/wp-docs-dev.jsonl
        turns the drafts (one YAML file per page, kept outside the project because they
        quote the page) into the label file of facts: heading paths, kinds, step counts
        and step fingerprints.

A draft:

    page: articles-10450778          # the corpus file's stem
    site: wordpress.org              # the corpus folder
    procedures:                      # [] when the page holds none
      - heading_path: [Page title, Section heading]
        kind: steps                  # steps | solutions
        code: false                  # true when a step needs a code block of the page
        steps: ["Go to Plugins > Add New Plugin.", "Search for the plugin."]

See benchmarks/labels/README.md for what counts as a procedure.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from bs4 import BeautifulSoup, NavigableString, Tag

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wpqa.labels import label_row  # noqa: E402


def build(drafts_dir: Path, out: Path) -> int:
    rows = []
    for path in sorted(drafts_dir.glob("*.yaml")):
        try:
            draft = yaml.safe_load(path.read_text(encoding="utf-8"))
            rows.append(label_row(str(draft["page"]), str(draft["site"]),
                                  draft.get("procedures") or []))
        except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
            raise SystemExit(f"{path}: {err}") from None
    rows.sort(key=lambda r: (r["site"], r["page"]))
    pages = [r["page"] for r in rows]
    if len(pages) != len(set(pages)):
        raise SystemExit("a page is labelled twice")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows),
                   encoding="utf-8")
    tmp.replace(out)
    return len(rows)


def outline(node: Tag, depth: int = 0) -> list[str]:
    lines = []
    for child in node.children:
        if isinstance(child, NavigableString):
            text = " ".join(str(child).split())
            if text:
                lines.append("  " * depth + f"text: {text[:160]}")
            continue
        if not isinstance(child, Tag):
            continue
        text = " ".join(child.get_text(" ", strip=True).split())
        if child.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            lines.append("  " * depth + f"{child.name.upper()} {text}")
        elif child.name in ("ol", "ul"):
            start = f" start={child.get('start')}" if child.get("start") else ""
            lines.append("  " * depth + f"<{child.name}{start}>")
            for number, li in enumerate(child.find_all("li", recursive=False), 1):
                own = " ".join(" ".join(c.get_text(" ") if isinstance(c, Tag) else str(c)
                                        for c in li.children
                                        if not (isinstance(c, Tag) and c.name in ("ol", "ul"))).split())
                lines.append("  " * (depth + 1) + f"{number}. {own[:200]}")
                for sub in li.find_all(["ol", "ul"], recursive=False):
                    lines.extend(outline(BeautifulSoup(f"<div>{sub}</div>", "lxml").div, depth + 2))
        elif child.name in ("p", "pre", "table", "dl", "figure", "blockquote"):
            label = {"pre": "CODE", "table": "TABLE", "figure": "FIGURE"}.get(child.name, child.name)
            lines.append("  " * depth + f"{label}: {text[:160]}")
        else:
            lines.append("  " * depth + f"<{child.name} class={' '.join(child.get('class') or [])}>")
            lines.extend(outline(child, depth + 1))
    return lines


def show(corpus: Path, page: str) -> None:
    [path] = list(corpus.glob(f"*/{page}.json"))
    item = json.loads(path.read_text(encoding="utf-8"))
    print(f"# {page} ({path.parent.name}) {item['link']}")
    print(f"H1 {BeautifulSoup(item['title']['rendered'], 'lxml').get_text()}")
    body = BeautifulSoup(f"<div>{item['content']['rendered']}</div>", "lxml").div
    print("\n".join(outline(body)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show")
    s.add_argument("corpus", type=Path)
    s.add_argument("page")
    b = sub.add_parser("build")
    b.add_argument("drafts", type=Path)
    b.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "show":
        show(args.corpus, args.page)
    else:
        print(f"{build(args.drafts, args.out)} pages labelled -> {args.out}")


if __name__ == "__main__":
    main()
