"""What the spiders yield: a fetched document, before the pipeline turns it into a Page.

Items are dataclasses, as in Scrapy's project template. A `FetchedDocument` is the
response as the spider saw it (loopback URL, every header); `PageRowsPipeline` makes the
stored `wpqa.records.Page` from it (public URL, only the headers the contract keeps).
"""
from __future__ import annotations

from dataclasses import dataclass

KIND_HTML = "html"
KIND_PLUGIN_API = "plugin_api"


@dataclass(frozen=True)
class FetchedDocument:
    """A 2xx response that holds a document, with the source that found it."""

    url: str
    status: int
    headers: dict[str, str]  # lower-case names, first value of each
    body: str  # decoded text
    source: str  # sources-config entry name, e.g. "documentation"
    kind: str  # KIND_HTML | KIND_PLUGIN_API
