"""The crawl's books: every URL it meets, the one state each ends in, and the page budget.

A URL is *met* when the crawl first decides about it (a seed, a sitemap entry, a link, a
REST page, a manifest entry). From then on it is in exactly one state:

- `fetched`: downloaded with a 2xx reply (first time, or changed since the cached copy);
- `not_modified`: answered from the HTTP cache, either still fresh (`fresh`) or confirmed
  by the server with 304 (`revalidated`);
- `failed`, with the reason (`http_404`, `timeout`, `data_loss`, `too_many_redirects` …);
- `skipped`, with the reason (`robots`, `offsite`, `filtered`, `over_size`, `page_limit`,
  `wrong_type`, `duplicate`);
- `pending` only while a request is under way. A crawl that finishes with pending URLs
  lost them, and says so; an interrupted one keeps them for the resumed run.

The summary counts each state and reason, and its totals add up by construction:
`urls_met == urls_fetched + urls_not_modified + urls_failed + urls_skipped + urls_pending`.
Nothing here touches Scrapy, so tests drive it directly.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterator

PENDING = "pending"
FETCHED = "fetched"
NOT_MODIFIED = "not_modified"
FAILED = "failed"
SKIPPED = "skipped"
STATES = (FETCHED, NOT_MODIFIED, FAILED, SKIPPED, PENDING)

# Skip reasons shared by the spider and its middlewares.
SKIP_ROBOTS = "robots"
SKIP_OFFSITE = "offsite"
SKIP_FILTERED = "filtered"
SKIP_OVER_SIZE = "over_size"
SKIP_PAGE_LIMIT = "page_limit"
SKIP_WRONG_TYPE = "wrong_type"
SKIP_DUPLICATE = "duplicate"
# Not-modified reasons.
CACHE_FRESH = "fresh"
CACHE_REVALIDATED = "revalidated"
# The failure of a URL still pending when a crawl ran to its end.
FAILED_LOST = "lost"


@dataclass
class UrlEntry:
    source: str  # sources-config entry that met the URL
    role: str  # what the URL is for: page, sitemap, rest_page, plugin_info, …
    state: str = PENDING
    reason: str = ""


class UrlLedger:
    """Every URL met, each in one state. `meet` and `skip` add; `finish` settles."""

    def __init__(self) -> None:
        self.entries: dict[str, UrlEntry] = {}
        # finish() on a URL that is unknown or already settled: a bug, counted not hidden.
        self.conflicts = 0

    def __contains__(self, url: str) -> bool:
        return url in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def meet(self, url: str, source: str, role: str) -> bool:
        """Add `url` as pending; False (and no change) when it was met before."""
        if url in self.entries:
            return False
        self.entries[url] = UrlEntry(source, role)
        return True

    def skip(self, url: str, source: str, role: str, reason: str) -> bool:
        """Add `url` as skipped for `reason`; False when it was met before."""
        if url in self.entries:
            return False
        self.entries[url] = UrlEntry(source, role, SKIPPED, reason)
        return True

    def finish(self, url: str, state: str, reason: str = "") -> None:
        """Settle a pending URL in its final state."""
        entry = self.entries.get(url)
        if entry is None or entry.state != PENDING or state not in STATES or state == PENDING:
            self.conflicts += 1
            return
        entry.state, entry.reason = state, reason

    def state_of(self, url: str) -> str | None:
        entry = self.entries.get(url)
        return entry.state if entry else None

    def pending(self) -> list[str]:
        return sorted(url for url, e in self.entries.items() if e.state == PENDING)

    def fail_pending(self, reason: str = FAILED_LOST) -> int:
        """Settle every pending URL as failed (a crawl that ended without them)."""
        urls = self.pending()
        for url in urls:
            self.finish(url, FAILED, reason)
        return len(urls)

    def summary(self) -> dict[str, int]:
        """Flat snake_case counts: urls_met, one total per state, one count per reason."""
        totals = Counter(e.state for e in self.entries.values())
        reasons = Counter(f"urls_{e.state}_{e.reason}" for e in self.entries.values() if e.reason)
        counts = {"urls_met": len(self.entries), "urls_state_conflicts": self.conflicts}
        counts.update({f"urls_{state}": totals.get(state, 0) for state in STATES})
        counts.update(reasons)
        return dict(sorted(counts.items()))

    def rows(self) -> Iterator[dict[str, str]]:
        """One row per URL, sorted by URL: url, source, role, state, reason."""
        for url in sorted(self.entries):
            yield {"url": url, **asdict(self.entries[url])}

    def to_state(self) -> dict[str, Any]:
        return {"entries": {url: asdict(e) for url, e in self.entries.items()},
                "conflicts": self.conflicts}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> UrlLedger:
        ledger = cls()
        ledger.entries = {url: UrlEntry(**e) for url, e in state.get("entries", {}).items()}
        ledger.conflicts = int(state.get("conflicts", 0))
        return ledger


def summary_adds_up(summary: dict[str, int]) -> bool:
    """The check the stage and the tests make: every URL met is in one state."""
    return summary["urls_met"] == sum(summary[f"urls_{state}"] for state in STATES)


class PageBudget:
    """At most `max_pages` stored pages: single documents reserve a slot when requested
    (and give it back when they yield nothing); REST items take slots when they arrive."""

    def __init__(self, max_pages: int, used: int = 0):
        self.max_pages = max_pages
        self.used = used

    @property
    def remaining(self) -> int:
        return max(0, self.max_pages - self.used)

    def reserve(self) -> bool:
        if self.used >= self.max_pages:
            return False
        self.used += 1
        return True

    def take(self, wanted: int) -> int:
        """How many of `wanted` pages fit; those are taken."""
        granted = min(wanted, self.remaining)
        self.used += granted
        return granted

    def release(self) -> None:
        self.used = max(0, self.used - 1)
