"""Pure functions from Scrapy responses and failures to items and counted reasons.

The spiders' callbacks hand their response (or failure) straight to these; tests call
them on responses built from saved bytes.
"""
from __future__ import annotations

import json

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from scraping.items import KIND_HTML, FetchedDocument

HTML_TYPES = ("text/html", "application/xhtml+xml")
# Counted reasons a request produced no document.
FAILED_NON_2XX = "responses_non_2xx"
FAILED_DOWNLOAD = "download_errors"
REQUEST_IGNORED = "requests_ignored"  # robots.txt, or a redirect off the allowed hosts


def response_headers(response: Response) -> dict[str, str]:
    """Header names in lower case, with the first value of each."""
    headers = {}
    for name, values in response.headers.items():
        if values:
            headers[name.decode("latin-1").lower()] = values[0].decode("latin-1")
    return headers


def is_html(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in HTML_TYPES


def document_from_response(response: Response, source: str, kind: str) -> FetchedDocument | None:
    """The document a 2xx response holds, or None when it is not one of `kind`.

    An html document must be served as HTML; a plugin_api reply must be text (JSON).
    """
    if not isinstance(response, TextResponse):
        return None
    headers = response_headers(response)
    if kind == KIND_HTML and not is_html(headers.get("content-type", "")):
        return None
    return FetchedDocument(url=response.url, status=response.status, headers=headers,
                           body=response.text, source=source, kind=kind)


def plugin_info_problem(body: str) -> str | None:
    """Why a plugin_information reply is not plugin info; None when it is.

    The API answers some unknown slugs with 200 and `{"error": ...}`, others with 404.
    """
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return "invalid_json"
    if not isinstance(data, dict):
        return "invalid_json"
    if "error" in data:
        return "error_reply"
    if not data.get("slug") and not data.get("name"):
        return "not_plugin_info"
    return None


def failure_reason(failure: Failure) -> str:
    """The counted reason a request failed: non-2xx, ignored, or a download error."""
    if failure.check(HttpError):
        return FAILED_NON_2XX
    if failure.check(IgnoreRequest):
        return REQUEST_IGNORED
    return FAILED_DOWNLOAD


def failure_status(failure: Failure) -> int | None:
    """The HTTP status of a non-2xx failure, else None."""
    if failure.check(HttpError):
        return failure.value.response.status
    return None
