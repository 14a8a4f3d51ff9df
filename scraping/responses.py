"""Pure functions from Scrapy responses and failures to documents and counted reasons.

The spider's callbacks hand their response (or failure) straight to these; tests call
them on responses built from saved bytes.
"""
from __future__ import annotations

from scrapy.exceptions import (CannotResolveHostError, DownloadCancelledError,
                               DownloadConnectionRefusedError, DownloadFailedError,
                               DownloadTimeoutError, IgnoreRequest, ResponseDataLossError)
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import CancelledError
from twisted.internet.error import (ConnectError, ConnectionDone, ConnectionLost,
                                    DNSLookupError, TCPTimedOutError, TimeoutError)
from twisted.python.failure import Failure
from twisted.web.client import ResponseFailed

from scraping.ledger import (CACHE_FRESH, CACHE_REVALIDATED, FAILED, FETCHED, NOT_MODIFIED,
                             SKIP_OVER_SIZE, SKIPPED)
from scraping.middlewares import REVALIDATED_FLAG, RateLimitedRequest, SkippedRequest

HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_REDIRECTS_MESSAGE = "max redirections reached"  # Scrapy's RedirectMiddleware


def response_headers(response: Response) -> dict[str, str]:
    """Header names in lower case, with the first value of each."""
    headers = {}
    for name, values in response.headers.items():
        if values:
            headers[name.decode("latin-1").lower()] = values[0].decode("latin-1")
    return headers


def is_html(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in HTML_TYPES


def response_text(response: Response, html: bool = False) -> str | None:
    """The decoded body, or None when the response is not text (or not HTML, if asked).

    Scrapy decodes with the charset of the Content-Type header, else a `<meta charset>`,
    else a BOM, else by inspection; bytes that do not decode are replaced, not fatal.
    """
    if not isinstance(response, TextResponse):
        return None
    if html and not is_html(response_headers(response).get("content-type", "")):
        return None
    return response.text


def fetch_state(response: Response) -> tuple[str, str]:
    """(state, reason) of a 2xx response: fetched, or not_modified from the HTTP cache."""
    if "cached" not in response.flags:
        return FETCHED, ""
    if response.meta.get(REVALIDATED_FLAG):
        return NOT_MODIFIED, CACHE_REVALIDATED
    return NOT_MODIFIED, CACHE_FRESH


def failure_outcome(failure: Failure) -> tuple[str, str]:
    """(state, reason) of a request that ended in an errback: failed or skipped."""
    error = failure.value
    if isinstance(error, SkippedRequest):
        return SKIPPED, error.reason
    if isinstance(error, RateLimitedRequest):
        return FAILED, "rate_limited"
    if isinstance(error, HttpError):
        return FAILED, f"http_{error.response.status}"
    if isinstance(error, IgnoreRequest):
        if MAX_REDIRECTS_MESSAGE in str(error):
            return FAILED, "too_many_redirects"
        return SKIPPED, "ignored"
    if isinstance(error, (DownloadCancelledError, CancelledError)):
        return SKIPPED, SKIP_OVER_SIZE  # the only cancellation is DOWNLOAD_MAXSIZE's
    if isinstance(error, (DownloadTimeoutError, TimeoutError, TCPTimedOutError)):
        return FAILED, "timeout"
    if isinstance(error, ResponseDataLossError):
        return FAILED, "data_loss"
    if isinstance(error, (DNSLookupError, CannotResolveHostError)):
        return FAILED, "dns_error"
    if isinstance(error, (DownloadConnectionRefusedError, ConnectError)):
        return FAILED, "connection_refused"
    if isinstance(error, (DownloadFailedError, ConnectionLost, ConnectionDone, ResponseFailed)):
        return FAILED, "connection_lost"
    return FAILED, "download_error"
