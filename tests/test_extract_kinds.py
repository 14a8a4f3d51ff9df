"""Readme, Markdown, REST item and configured-body extraction on small files in our own words,
plus the Markdown converter and `wpqa inspect`."""
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from curation.extract import extract_sections, plugin_slug
from commands.inspect import inspect_command, pages_from_file
from curation.markdown_html import markdown_to_html
from curation.readme import parse_faq, parse_readme, section_html
from tests.conftest import ROOT
from wpqa.params import ExtractParams
from wpqa.records import Page

FIXTURES = ROOT / "tests/fixtures"
README = (FIXTURES / "tiny_plugin_readme.txt").read_text(encoding="utf-8")
EXTRACT = ExtractParams(min_section_words=3)


def page(body, kind, url="https://docs.example.test/p/", meta=None):
    return Page(url=url, status=200, headers={}, body=body, source="test", kind=kind, meta=meta or {})


def by_heading(sections):
    return {s.heading: s for s in sections}


# --- Markdown to HTML ----------------------------------------------------------------------
# The converter is markdown-it-py; these tests hold the structure extraction reads from it.

def soup(html):
    from bs4 import BeautifulSoup
    return BeautifulSoup(html, "html.parser")


def item_texts(list_tag):
    """The first line of each item's own text (a nested list or a later paragraph left out)."""
    return [next(s for s in li.strings if s.strip()).strip().splitlines()[0]
            for li in list_tag.find_all("li", recursive=False)]


def test_markdown_blocks():
    doc = soup(markdown_to_html(
        "# Title\n\nIntro *text* with `a_b()` and **bold**.\nSame paragraph.\n\n"
        "1. One\n1. Two\n   more of two\n   * nested\n3. Three\n\n"
        "- a\n- b\n\n    indented code\n\n```php\n<?php echo 1; ?>\n```\n\n"
        "Setext\n------\n\n5. five\n6. six\n"))
    assert doc.find("h1").get_text() == "Title"
    intro = doc.find("p")
    assert intro.find("em").get_text() == "text" and intro.find("code").get_text() == "a_b()"
    assert intro.find("strong").get_text() == "bold" and "Same paragraph." in intro.get_text()
    first, later = doc.find_all("ol", recursive=False)
    assert item_texts(first) == ["One", "Two", "Three"] and first.get("start") is None
    two = first.find_all("li", recursive=False)[1]
    assert "more of two" in two.get_text() and item_texts(two.find("ul")) == ["nested"]
    bullets = doc.find("ul", recursive=False)
    assert item_texts(bullets) == ["a", "b"]
    assert "indented code" in bullets.find_all("li")[1].get_text()  # indented: still the item
    code = doc.find("pre").find("code")
    assert code["class"] == ["language-php"] and code.get_text().strip() == "<?php echo 1; ?>"
    assert doc.find("h2").get_text() == "Setext"
    assert later["start"] == "5" and item_texts(later) == ["five", "six"]


def test_markdown_code_quotes_tables_html_and_links():
    html = markdown_to_html(
        "Text\n\n    $ wp plugin list\n\n> [!WARNING]\n> Back up first.\n\n> Plain quote.\n\n"
        "| Option | Default |\n|---|:-:|\n| Batch | 20 |\n\n"
        '<div class="callout callout-info">\nRaw *HTML* stays.\n</div>\n\n'
        "See [the docs][docs], <https://example.test/x>, ![shot](/a.png) and 5 < 6 & 7.\n\n"
        "[docs]: https://example.test/docs\n")
    doc = soup(html)
    assert doc.find("pre").get_text().strip() == "$ wp plugin list"
    warning = doc.find("div", class_="callout-warning")
    assert warning["class"] == ["callout", "callout-warning"]
    assert warning.get_text().strip() == "Back up first." and "[!WARNING]" not in html
    assert [q.get_text().strip() for q in doc.find_all("blockquote")] == ["Plain quote."]
    assert [c.get_text() for c in doc.find_all("th")] == ["Option", "Default"]
    assert [c.get_text() for c in doc.find_all("td")] == ["Batch", "20"]
    assert '<div class="callout callout-info">\nRaw *HTML* stays.\n</div>' in html
    links = {a.get_text(): a["href"] for a in doc.find_all("a")}
    assert links == {"the docs": "https://example.test/docs",
                     "https://example.test/x": "https://example.test/x"}
    assert doc.find("img")["src"] == "/a.png" and doc.find("img")["alt"] == "shot"
    assert "5 &lt; 6 &amp; 7." in html and "[docs]:" not in html


def test_markdown_alert_marker_alone_leaves_no_empty_paragraph():
    doc = soup(markdown_to_html("> [!NOTE]\n>\n> Keep a backup.\n"))
    note = doc.find("div", class_="callout-note")
    assert [p.get_text() for p in note.find_all("p")] == ["Keep a backup."]


def test_markdown_lists_a_paragraph_can_introduce_and_loose_items_continue():
    doc = soup(markdown_to_html("Do this:\n* first\n* second\n\n* third\n\nAfter."))
    assert [t.name for t in doc.find_all(recursive=False)] == ["p", "ul", "p"]
    assert item_texts(doc.find("ul")) == ["first", "second", "third"]
    # A lazy line continues the item; an unindented paragraph after a gap ends the list.
    doc = soup(markdown_to_html("1. Open\nthe screen.\n\nDone."))
    assert [t.name for t in doc.find_all(recursive=False)] == ["ol", "p"]
    assert " ".join(doc.find("li").get_text().split()) == "Open the screen."


# --- readme.txt ------------------------------------------------------------------------------

def test_parse_readme_follows_the_directory_rules():
    readme = parse_readme(README)
    assert readme.name == "Tidy Links"
    # Headers may have a blank line between them.
    assert readme.headers == {"contributors": "wpqa-example", "tags": "links, maintenance", "requires": "6.0",
                              "tested": "6.6", "stable_tag": "1.2.0", "license": "GPLv2 or later"}
    assert readme.short_description == "Finds broken links in your posts and lets you fix them from one screen."
    assert [(s.key, s.title) for s in readme.sections] == [
        ("description", "Description"), ("installation", "Installation"),
        ("faq", "Frequently Asked Questions"), ("changelog", "Changelog"), ("upgrade_notice", "Upgrade Notice")]
    assert [q for q, _ in readme.faq] == ["Why does a working link show as broken?", "Does it slow down my site?"]
    assert readme.faq[0][1].startswith("Some sites refuse automated checks.")


def test_parse_readme_crlf_bom_placeholder_and_markdown_headings():
    crlf = "\ufeff" + README.replace("\n", "\r\n")
    assert parse_readme(crlf).faq == parse_readme(README).faq
    assert parse_readme(crlf).headers == parse_readme(README).headers

    placeholder = README.replace("=== Tidy Links ===", "=== Plugin Name ===")
    readme = parse_readme(placeholder)  # the next line is a header, so there is no name
    assert readme.name == "" and readme.warnings == ["invalid_plugin_name_header"]
    assert readme.headers["stable_tag"] == "1.2.0"
    named = parse_readme(placeholder.replace("Contributors:", "Tidy Links\nContributors:", 1))
    assert named.name == "Tidy Links"

    markdown = ("# Tidy Links\n\nStable tag: 1.2.0\n\nShort text.\n\n## Description\n\nLong text.\n\n"
                "### Extra part\n\nMore.\n\n## Frequently Asked Questions\n\n### Is it free?\n\nYes.\n\n"
                "### Who made it?\n\nVolunteers.\n\n## Credits\n\nThanks.\n")
    readme = parse_readme(markdown)
    assert readme.name == "Tidy Links" and readme.headers == {"stable_tag": "1.2.0"}
    # `###` is a heading inside a section, not a new section; unknown sections keep their title.
    assert [(s.key, s.title) for s in readme.sections] == [
        ("description", "Description"), ("faq", "Frequently Asked Questions"), ("other_notes", "Credits")]
    assert readme.faq == [("Is it free?", "Yes."), ("Who made it?", "Volunteers.")]


def test_parse_faq_bold_questions_and_free_text():
    assert parse_faq("Ask us anything.\n\n**Is it free?**\nYes.\n\n**Is it fast?**\nVery.") == [
        ("", "Ask us anything."), ("Is it free?", "Yes."), ("Is it fast?", "Very.")]
    # With any `=` heading in the section, bold lines are answer text.
    assert parse_faq("= Q1 =\n**Bold answer**\n= Q1 =\nSecond") == [("Q1", "Second")]


def test_section_html_sub_headings_and_backtick_code_blocks():
    html = section_html("= Settings =\nSet the batch:\n`define( 'X', 1 );`\n\nUse `ON` here.\n`\nline one\nline two\n`")
    assert "<h4>Settings</h4>" in html
    blocks = soup(html).find_all(["pre", "p"], recursive=False)
    assert [(b.name, b.get_text().strip()) for b in blocks if b.name == "pre"] == [
        ("pre", "define( 'X', 1 );"), ("pre", "line one\nline two")]
    assert "<p>Use <code>ON</code> here.</p>" in html


def test_extract_readme_sections_and_faq_entries():
    sections, rejected = extract_sections(
        page(README, "readme", url="https://plugins.svn.wordpress.org/tidy-links/trunk/readme.txt"), EXTRACT)
    found = by_heading(sections)
    assert rejected == []
    assert found["Installation"].heading_path == ["Tidy Links", "Installation"]
    assert found["Installation"].ordered_lists[0][0] == "Upload the `tidy-links` folder to the `/wp-content/plugins/` directory."
    assert len(found["Installation"].ordered_lists[0]) == 3
    assert found["What it checks"].heading_path == ["Tidy Links", "Description", "What it checks"]
    broken = found["Why does a working link show as broken?"]
    assert broken.heading_path == ["Tidy Links", "FAQ", "Why does a working link show as broken?"]
    assert broken.troubleshooting and len(broken.ordered_lists[0]) == 2
    assert found["Does it slow down my site?"].has_code
    assert not {"Changelog", "Upgrade Notice", "1.2.0"} & set(found)


def test_readme_without_a_name_is_named_by_its_url():
    body = README.replace("=== Tidy Links ===", "=== Plugin Name ===")
    sections, _ = extract_sections(page(body, "readme", url="https://plugins.svn.wordpress.org/tidy-links/trunk/readme.txt"),
                                   EXTRACT)
    assert {s.heading_path[0] for s in sections} == {"tidy-links"}
    sections, _ = extract_sections(page(body, "readme", meta={"slug": "tidy-links-pro"}), EXTRACT)
    assert {s.heading_path[0] for s in sections} == {"tidy-links-pro"}  # the crawler's slug first
    assert plugin_slug("https://example.test/wp-content/plugins/tidy-links/readme.txt") == "tidy-links"
    _, rejected = extract_sections(page("", "readme"), EXTRACT)
    assert [r.reason for r in rejected] == ["no_readme_sections"]


# --- Markdown handbook, REST item, configured body -------------------------------------------

def test_extract_markdown_handbook_file():
    body = (FIXTURES / "tiny_handbook.md").read_text(encoding="utf-8")
    sections, rejected = extract_sections(page(body, "markdown"), EXTRACT)
    found = by_heading(sections)
    assert [s.heading_path for s in sections] == [
        ["Register a block pattern"], ["Register a block pattern", "Register the pattern"],
        ["Register a block pattern", "Example header"]]
    register = found["Register the pattern"]
    assert len(register.ordered_lists) == 1 and len(register.ordered_lists[0]) == 3  # merged around the image
    assert register.notes == ["Patterns in the patterns folder are registered without any PHP call."]
    assert found["Example header"].has_code and rejected == []
    # The manifest's title wins over the file's own.
    sections, _ = extract_sections(page(body, "markdown", meta={"title": "Patterns"}), EXTRACT)
    assert [s.heading_path for s in sections][:2] == [["Patterns"], ["Patterns", "Register the pattern"]]
    sections, _ = extract_sections(page("# Title only\n", "markdown"), EXTRACT)
    assert sections == []


def test_extract_rest_item_uses_meta_title_and_drops_changelog():
    [item_page] = pages_from_file(FIXTURES / "tiny_rest_item.json")
    assert item_page.kind == "rest_item" and item_page.url == "https://docs.example.test/article/schedule-posts/"
    assert item_page.meta["collection"] == "helphub_article" and item_page.meta["menu_order"] == "3"
    sections, rejected = extract_sections(item_page, EXTRACT)
    assert [s.heading_path for s in sections] == [["Schedule posts – a guide"],
                                                 ["Schedule posts – a guide", "Schedule a post"]]
    assert len(sections[1].ordered_lists[0]) == 3 and rejected == []


def test_body_selector_from_the_sources_config():
    html = ('<html><body><div class="docs-main"><h1>Export orders</h1><h2>Export to CSV</h2>'
            "<ol><li>Open the Orders screen.</li><li>Click Export and pick CSV.</li></ol></div>"
            '<div class="sidebar"><h2>Related</h2><p>Other pages you may like.</p></div></body></html>')
    sections, rejected = extract_sections(page(html, "html", meta={"body_selector": ".docs-main"}), EXTRACT)
    assert [s.heading_path for s in sections] == [["Export orders", "Export to CSV"]]
    _, rejected = extract_sections(page(html, "html", meta={"body_selector": ".missing"}), EXTRACT)
    assert [(r.reason, r.detail) for r in rejected] == [("no_article_body", "body_selector '.missing' matched nothing")]
    _, rejected = extract_sections(page(html, "html", meta={"body_selector": "div["}), EXTRACT)
    assert rejected[0].reason == "no_article_body" and "is not a CSS selector" in rejected[0].detail


def test_walker_bold_lines_code_lines_and_malformed_faq_markup():
    fragment = (
        "<h2>Common problems</h2>"
        "<p><strong>The page is blank after an update.</strong></p>"
        "<ol><li>Turn off all plugins.</li><li>Switch to a default theme.</li></ol>"
        "<p><strong>Always make a backup first.</strong></p>"
        "<p><strong>Note:</strong> this is a plain paragraph note.</p>"
        "<h2>Reset a password</h2><ol><li>Open a terminal.</li>"
        "<li>Run this command:<br><code>wp user update 1 --user_pass=secret</code><br>then log in.</li>"
        "<li>Edit <code>wp-config.php</code> if asked.</li></ol>")
    sections, _ = extract_sections(page(fragment, "html"), EXTRACT)
    found = by_heading(sections)
    blank = found["The page is blank after an update."]
    assert blank.heading_path == ["Common problems", "The page is blank after an update."]
    assert blank.troubleshooting and blank.notes == ["Always make a backup first."]
    reset = found["Reset a password"]
    assert reset.has_code and not reset.troubleshooting
    assert reset.ordered_lists == [["Open a terminal.", "Run this command: then log in.",
                                    "Edit `wp-config.php` if asked."]]

    info = {"name": "Tidy Links", "sections": {"faq": (
        "<dl><dt id='a'><h3>Is it free?</h4></dt>\n<dd><p>Yes, it is free for every site.</p></dd>\n"
        "<dt id='b'><h3>Why is a link flagged?</h4></dt>\n<dd><ol><li>Open the link.</li><li>Allow the site.</li></ol></dd>\n"
        "<dt id='c'><h3>Can I export the list?</h4></dt>\n<dd><p>Yes, as a CSV file.</p></dd></dl>")}}
    sections, _ = extract_sections(page(json.dumps(info), "plugin_api"), EXTRACT)
    assert [s.heading_path[-1] for s in sections] == ["Is it free?", "Why is a link flagged?", "Can I export the list?"]
    assert sections[1].ordered_lists == [["Open the link.", "Allow the site."]]


# --- wpqa inspect ----------------------------------------------------------------------------

def run_inspect(args, capsys):
    code = inspect_command([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_inspect_detects_each_file_type(tmp_path, capsys):
    code, rows, err = run_inspect([FIXTURES / "tiny_plugin_readme.txt", "--url",
                                   "https://plugins.svn.wordpress.org/tidy-links/trunk/readme.txt"], capsys)
    assert code == 0 and rows[0]["heading_path"] == ["Tidy Links", "Description"]
    assert rows[0]["url"].endswith("/tidy-links/trunk/readme.txt") and "0 rejected" in err

    code, rows, _ = run_inspect([FIXTURES / "tiny_rest_item.json"], capsys)
    assert code == 0 and rows[-1]["heading"] == "Schedule a post"

    code, rows, _ = run_inspect([FIXTURES / "tiny_handbook.md"], capsys)
    assert code == 0 and rows[0]["url"].startswith("file://")

    info = tmp_path / "info.json"
    info.write_text(json.dumps({"name": "Tidy Links", "sections": {
        "installation": "<ol><li>Upload the folder.</li><li>Activate the plugin.</li></ol>"}}))
    code, rows, _ = run_inspect([info], capsys)
    assert code == 0 and rows[0]["heading_path"] == ["Tidy Links", "Installation"]

    code, rows, err = run_inspect([FIXTURES / "tiny_docs_page.html"], capsys)
    assert code == 0 and "Save a draft" in [r["heading"] for r in rows]
    assert "2 with ordered lists, 5 steps in all; 1 with code" in err


def test_inspect_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    code, rows, err = run_inspect([bad], capsys)
    assert code == 2 and rows == [] and "not valid JSON" in err
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    assert run_inspect([other], capsys)[0] == 2
    code, _, err = run_inspect([tmp_path / "missing.html"], capsys)
    assert code == 2 and "cannot read" in err
    stub = tmp_path / "stub.html"
    stub.write_text("<html><body><p>Just a stub</p></body></html>")
    code, rows, err = run_inspect([stub], capsys)
    assert code == 1 and rows == [] and "no_article_body" in err
    code, rows, _ = run_inspect([stub, "--body-selector", "body"], capsys)
    assert code == 0 and rows[0]["paragraphs"] == ["Just a stub"]


@pytest.mark.integration
def test_wpqa_inspect_command_line():
    result = subprocess.run([sys.executable, "-m", "commands.cli", "inspect", str(FIXTURES / "tiny_rest_item.json")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["heading"] for line in result.stdout.splitlines()] == [
        "Schedule posts – a guide", "Schedule a post"]
    help_text = subprocess.run([sys.executable, "-m", "commands.cli", "inspect", "--help"],
                               capture_output=True, text=True, cwd=ROOT, timeout=120).stdout
    assert "--body-selector" in help_text



def test_steps_quoted_in_a_code_block_become_a_list_and_code_stays_code():
    from curation.extract import prose_steps
    notice = ("Your site has no sitemap yet. To add one, please follow these steps.\n\n"
              "1. Open the SEO screen.\n2. Turn on the sitemap.\n3. Save the settings.\n")
    assert prose_steps(notice) == ("Your site has no sitemap yet. To add one, please follow these steps.",
                                   ["Open the SEO screen.", "Turn on the sitemap.", "Save the settings."])
    assert prose_steps("$count = 2;\n1. first\n2. second") is None  # code before the lines
    assert prose_steps("// the loop\n1. call next();\n2. return $post;") is None
    assert prose_steps("1. Open the screen.\n3. Save.") is None  # numbers must run on
    page = Page(url="https://docs.example.test/seo/", status=200, headers={}, source="documentation",
                kind="rest_item", meta={"title": "SEO"},
                body=f"<h2>Sitemaps</h2><p>You may see this notice:</p><pre><code>{notice}</code></pre>"
                     "<h2>Code</h2><p>Add this line to the functions file of the theme:</p>"
                     "<pre><code>add_filter( 'x', 'y' );</code></pre>")
    sections, _ = extract_sections(page, ExtractParams(min_section_words=3))
    by_heading = {s.heading: s for s in sections}
    assert by_heading["Sitemaps"].ordered_lists == [["Open the SEO screen.", "Turn on the sitemap.",
                                                     "Save the settings."]]
    assert not by_heading["Sitemaps"].has_code
    assert by_heading["Code"].ordered_lists == [] and by_heading["Code"].has_code


def test_clean_text_keeps_code_spans_as_written():
    from curation.extract import clean_text
    assert clean_text("Remove all files: `git rm -r .` .") == "Remove all files: `git rm -r .`."
    assert clean_text("Click “ Save ” ( once )") == "Click “Save” (once)"


def test_a_rerun_extracts_only_changed_pages_and_gives_the_same_rows(tmp_path, monkeypatch):
    from curation import extract
    from wpqa.records import to_row

    def page(n, step="Click Save."):
        return Page(url=f"https://docs.example.test/p{n}/", status=200, headers={"date": f"day {n}"},
                    source="documentation", kind="rest_item", meta={"title": f"Page {n}"},
                    body=f"<h2>Saving page {n}</h2><ol><li>Open the editor.</li><li>{step}</li></ol>")

    pages = [page(n) for n in range(5)]
    params = ExtractParams(min_section_words=3)
    calls = []
    real = extract.extract_sections
    monkeypatch.setattr(extract, "extract_sections", lambda p, q: calls.append(p.url) or real(p, q))
    rows = lambda result: ([to_row(s) for s in result[0]], [to_row(r) for r in result[1]], result[2])  # noqa: E731
    fresh = rows(extract.extract_all(pages, params))
    first = rows(extract.extract_all(pages, params, cache=extract.PageCache(tmp_path / "x.sqlite")))
    assert first == fresh and len(calls) == 10
    # one page changed, every header changed: only that page is extracted again
    pages = [replace(p, headers={"date": "tomorrow"}) for p in pages]
    pages[2] = page(2, step="Click Publish.")
    cache = extract.PageCache(tmp_path / "x.sqlite")
    again = rows(extract.extract_all(pages, params, cache=cache))
    assert calls[10:] == ["https://docs.example.test/p2/"] and cache.hits == 4
    assert again == rows(extract.extract_all(pages, params))
    # other params, or other code, extract everything afresh
    calls.clear()
    extract.extract_all(pages, ExtractParams(min_section_words=4), cache=cache)
    assert len(calls) == 5
    monkeypatch.setattr(extract, "code_version", lambda: "edited")
    calls.clear()
    extract.extract_all(pages, params, cache=cache)
    assert len(calls) == 5
