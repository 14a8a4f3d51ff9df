"""The page shell every HTML report is built on (the dataset review, the evaluation).

A Jinja2 template with autoescape: the title is escaped; the body, built by each report
from its own escaped parts, and the report's style and Content-Security-Policy are passed
as markup. One Content-Security-Policy for every report: nothing loads but inline style and
`data:` images (the charts), so a scraped page or a model answer that holds markup cannot run
a script, submit a form or redirect links in a reader's browser.
"""
from __future__ import annotations

from typing import Iterable

from jinja2 import Environment
from markupsafe import Markup

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'")

_PAGE = Environment(autoescape=True, keep_trailing_newline=True).from_string(
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta http-equiv="Content-Security-Policy" content="{{ csp }}">'
    '{% if viewport %}<meta name="viewport" content="width=device-width, initial-scale=1">{% endif %}'
    "<title>{{ title }}</title><style>{{ style }}</style></head><body>\n"
    "{{ body }}\n</body></html>\n")


def html_page(title: str, body: Iterable[str], *, style: str, viewport: bool = False) -> str:
    """A whole report page: `body` holds HTML fragments the report escaped itself."""
    return _PAGE.render(title=title, body=Markup("\n".join(body)), style=Markup(style),
                        csp=Markup(CSP), viewport=viewport)
