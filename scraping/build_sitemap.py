"""Writes the sample site's sitemap.xml from the pages that exist.

    python -m scraping.build_sitemap [--site-root scraping/sample_site]

Lists every `**/index.html` page as its directory URL, except pages robots.txt
disallows and the few in `UNLISTED`, which the crawler can reach only by following
links (so a crawl of the sample site proves link following works). `<loc>` values are
absolute URLs, as the sitemap protocol requires, under the `{{origin}}` placeholder that
the loopback server replaces with its own origin. A test checks the committed file
equals what this module would write, so it cannot go stale.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from xml.sax.saxutils import escape

from protego import Protego

from scraping.serve import ORIGIN_PLACEHOLDER, SAMPLE_SITE_ROOT
from wpqa.io import write_text

SITEMAP_FILE = "sitemap.xml"
ROBOTS_FILE = "robots.txt"
# Reachable only through links: the documentation area index (linked from every
# documentation page's breadcrumbs) and one plugin's docs index.
UNLISTED = frozenset({"/documentation/", "/plugins/woocommerce/docs/"})
ROBOTS_AGENT = "wpqa"


def page_paths(site_root: Path) -> list[str]:
    """Directory URL paths of every index.html page under `site_root`, sorted."""
    paths = []
    for index in site_root.rglob("index.html"):
        folder = index.parent.relative_to(site_root).as_posix()
        paths.append("/" if folder == "." else f"/{folder}/")
    return sorted(paths)


def list_sitemap_paths(site_root: str | Path, unlisted: frozenset[str] = UNLISTED) -> list[str]:
    """The URL paths the sitemap lists: pages robots.txt allows, minus `unlisted`."""
    site_root = Path(site_root)
    pages = page_paths(site_root)
    missing = sorted(set(unlisted) - set(pages))
    if missing:
        raise ValueError(f"UNLISTED names pages that do not exist under {site_root}: "
                         f"{', '.join(missing)}")
    robots_file = site_root / ROBOTS_FILE
    robots = Protego.parse(robots_file.read_text(encoding="utf-8") if robots_file.exists() else "")
    return [path for path in pages
            if path not in unlisted and robots.can_fetch(path, ROBOTS_AGENT)]


def render_sitemap(paths: list[str]) -> str:
    """A sitemaps.org urlset listing `paths` under the origin placeholder."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    lines += [f"  <url><loc>{ORIGIN_PLACEHOLDER}{escape(path)}</loc></url>" for path in paths]
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def build_sitemap(site_root: str | Path, unlisted: frozenset[str] = UNLISTED) -> Path:
    """Write `site_root`/sitemap.xml; return its path."""
    target = Path(site_root) / SITEMAP_FILE
    write_text(target, render_sitemap(list_sitemap_paths(site_root, unlisted)))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scraping.build_sitemap",
                                     description="Write the sample site's sitemap.xml.")
    parser.add_argument("--site-root", default=str(SAMPLE_SITE_ROOT), help="site folder")
    args = parser.parse_args()
    target = build_sitemap(args.site_root)
    count = len(list_sitemap_paths(args.site_root))
    print(f"wrote {target} ({count} pages)")


if __name__ == "__main__":
    main()
