"""What the spider yields: a fetched document, before the pipeline turns it into a Page.

Items are dataclasses, as in Scrapy's project template. A `FetchedDocument` is a
document as the spider saw it (loopback URL, every header); `PageRowsPipeline` makes the
stored `wpqa.records.Page` from it (public URL, only the headers the contract keeps).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Page kinds, one per source type (a REST collection page yields many rest_item pages).
KIND_HTML = "html"
KIND_REST_ITEM = "rest_item"
KIND_PLUGIN_API = "plugin_api"
KIND_README = "readme"
KIND_MARKDOWN = "markdown"
PAGE_KINDS = (KIND_HTML, KIND_REST_ITEM, KIND_PLUGIN_API, KIND_README, KIND_MARKDOWN)


@dataclass(frozen=True)
class FetchedDocument:
    """One document with the source that found it."""

    url: str
    status: int
    headers: dict[str, str]  # lower-case names, first value of each
    body: str  # decoded text
    source: str  # sources-config entry name, e.g. "documentation"
    kind: str  # one of PAGE_KINDS
    meta: dict[str, str] = field(default_factory=dict)  # source metadata (REST fields …)
