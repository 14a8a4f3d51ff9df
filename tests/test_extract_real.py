"""Extraction on real third-party files (../shared/fixtures/real): REST items, block markup, readmes.

These files are not part of the project; the tests skip when ../shared is absent. Each
test asserts what a reader of the page would agree with: the headings, the merged step
counts of split procedures, the FAQ entries of each readme.
"""
import json

import pytest

from curation.extract import extract_sections
from commands.inspect import pages_from_file
from curation.readme import parse_readme
from tests.conftest import SHARED_FIXTURES
from wpqa.params import ExtractParams

pytestmark = pytest.mark.skipif(not SHARED_FIXTURES.is_dir(), reason="../shared/fixtures/real is absent")
EXTRACT = ExtractParams(min_section_words=3)
REST = SHARED_FIXTURES / "wp-rest"
BLOCKS = SHARED_FIXTURES / "blockmarkup"
READMES = SHARED_FIXTURES / "readmes"


def extract(path, url=None):
    [page] = pages_from_file(path, url=url)
    sections, rejected = extract_sections(page, EXTRACT)
    return page, sections, rejected


def by_heading(sections):
    return {s.heading: s for s in sections}


def steps(section):
    return [len(lst) for lst in section.ordered_lists]


def readme(slug):
    """A readme fixture as the crawler stores it, with the URL it was fetched from."""
    return extract(READMES / f"{slug}__readme.txt",
                   url=f"https://plugins.svn.wordpress.org/{slug}/trunk/readme.txt")


def all_items(section):
    return [i for lst in section.ordered_lists + section.unordered_lists for i in lst]


# --- WordPress REST API items (content.rendered) -------------------------------------------

def test_rest_manage_plugins_procedures_and_troubleshooting():
    page, sections, rejected = extract(REST / "wporg-docs-rest__documentation__manage-plugins.json")
    assert page.kind == "rest_item" and page.url == "https://wordpress.org/documentation/article/manage-plugins/"
    assert rejected == [] and len(sections) == 32
    found = by_heading(sections)
    assert found["Automatic Plugin Installation"].heading_path == [
        "Manage Plugins", "Installing Plugins", "Automatic Plugin Installation"]
    assert steps(found["Automatic Plugin Installation"]) == [5]
    assert steps(found["Upload via WordPress Admin"]) == [5]
    assert steps(found["Manual Plugin Installation"]) == [3]
    assert steps(found["Disable Automatic Plugin Update"]) == [3]
    # Only the Troubleshooting part is about problems; the rest of the page is tasks.
    assert found["Resources To Help Diagnose The Issue"].troubleshooting
    assert not found["Automatic Plugin Installation"].troubleshooting
    assert all(s.page_title == "Manage Plugins" for s in sections)


def test_rest_reset_password_merges_steps_split_around_screenshots():
    _, sections, _ = extract(REST / "wporg-docs-rest__documentation__reset-your-password.json")
    found = by_heading(sections)
    # Five <ol> parts (start=3, 8, 14, 15) between screenshots are one 16-step procedure.
    assert steps(found["Through phpMyAdmin"]) == [16]
    assert found["Through phpMyAdmin"].ordered_lists[0][2].startswith("All the tables in your database")
    # A list after a paragraph starts afresh; nested sub-lists stay out of the items.
    assert steps(found["Through MySQL Command Line"]) == [9, 2]
    assert steps(found["To Change Your Password"]) == [5]
    # Commands set between <br>s inside an item are code, flagged and kept out of the text.
    ftp = found["Through FTP"]
    assert ftp.has_code and steps(ftp) == [4]
    assert not any("wp_set_password" in item for item in all_items(ftp))
    cli = found["Through WP CLI"]
    assert cli.has_code and steps(cli) == [2]
    assert steps(found["Directions for Use:"]) == [4]


def test_rest_create_pages_merged_steps_and_bold_titles():
    _, sections, _ = extract(REST / "wporg-docs-rest__documentation__create-pages.json")
    found = by_heading(sections)
    assert steps(found["Creating a new Page"]) == [7]  # 3, screenshot, start=4 with 4 more
    assert steps(found["Creating a subpage"]) == [8]  # 3 + 1 + 4 around two screenshots
    assert found["Creating a subpage"].heading_path == ["Create pages", "Creating a new Page", "Creating a subpage"]
    # A paragraph that is all bold titles the list under it.
    assert found["What Pages are not"].heading_path == ["Create pages", "What Pages are not"]
    assert [len(u) for u in found["What Pages are not"].unordered_lists] == [6]


def test_rest_login_troubleshooting_without_changelog_box():
    _, sections, _ = extract(REST / "wporg-docs-rest__documentation__troubleshoot-login-issues.json")
    assert [s.heading for s in sections] == ["Troubleshoot login issues", "Password Problems",
                                             "Enable Cookies", "Check your Firewall", "If All Else Fails"]
    assert all(s.troubleshooting for s in sections)
    assert by_heading(sections)["Enable Cookies"].ordered_lists == [
        ["Clear your browser cookies.", "Clear your browser cache."]]
    assert not any("Removed" in i for s in sections for i in all_items(s))


def test_rest_howto_install_bold_questions_become_problem_sections():
    _, sections, _ = extract(REST / "devhub-rest__advanced-administration__howto-install.json")
    found = by_heading(sections)
    assert len(sections) == 26 and "Changelog" not in found
    assert steps(found["Basic Instructions"]) == [5]
    # "Step 1: …" to "Step 5: …" headings are the steps of the section above them.
    assert found["Detailed instructions"].ordered_lists == [[
        "Download and Extract", "Create a database for WordPress", "Set up wp-config.php",
        "Upload the files", "Run the Install Script"]]
    headers_sent = found["I see lots of Headers already sent errors. How do I fix this?"]
    assert headers_sent.heading_path[:2] == ["How to install WordPress", "Common installation problems"]
    assert headers_sent.troubleshooting and steps(headers_sent) == [5]
    assert [s.heading for s in sections if s.heading_path[1:2] == ["Common installation problems"]][1:] == [
        "I see a directory listing rather than a web page.",
        "I see lots of Headers already sent errors. How do I fix this?",
        "My page comes out gibberish. When I look at the source I see a lot of “<?php ?>” tags.",
        "I keep getting an Error connecting to database message but I’m sure my configuration is correct.",
        "My image/MP3 uploads aren’t working."]
    assert found["Step 3: Set up wp-config.php"].has_code
    assert not found["Basic Instructions"].troubleshooting


def test_rest_common_errors_page_is_troubleshooting_and_cautions_are_notes():
    _, sections, _ = extract(REST / "devhub-rest__advanced-administration__common-errors.json")
    found = by_heading(sections)
    assert len(sections) == 33 and all(s.troubleshooting for s in sections)
    assert "Changelog" not in found
    assert not any(i.startswith("2023-01-20") for s in sections for i in all_items(s))
    assert steps(found["Maintenance Mode Following Upgrade"]) == [2]
    assert steps(found["MySQL cannot create a temporary file."]) == [6]
    assert found["Error 145"].notes == ["Always backup your database before performing any actions on it."]
    assert found["Editing .htaccess"].has_code
    assert found["Unexpected"].heading_path[-3:] == ["PHP Errors", "Parse errors", "Unexpected"]


def test_rest_handbook_pages():
    _, sections, _ = extract(REST / "devhub-rest__plugins__plugin-basics.json")
    found = by_heading(sections)
    assert len(sections) == 8 and steps(found["Getting Started"]) == [5]
    assert "`plugin-name.php`" in found["Getting Started"].ordered_lists[0][4]

    _, sections, _ = extract(REST / "devhub-rest__themes__quick-start-guide.json")
    found = by_heading(sections)
    assert len(sections) == 7
    assert found["Choosing a theme to learn from"].notes[0].startswith("If your interests lie in classic WordPress")

    _, sections, _ = extract(REST / "devhub-rest__apis__nonces.json")
    found = by_heading(sections)
    assert len(sections) == 18 and not any(s.ordered_lists for s in sections)
    assert found["Adding a nonce to a URL"].has_code and not found["Nonce security"].has_code


# --- Raw block markup (<!-- wp:... --> comments) --------------------------------------------

def test_block_markup_comments_ignored():
    page, sections, rejected = extract(BLOCKS / "wporg-docs-wxr-blockmarkup__update-php.html")
    assert page.kind == "html" and rejected == []
    assert [s.heading_path for s in sections][1:] == [
        ["Why PHP Matters To You"], ["Before you update your PHP version"],
        ["How to update your website’s PHP version for a faster, more secure website"],
        ["Faster, more secure WordPress websites for all"]]
    found = by_heading(sections)
    assert steps(found["Before you update your PHP version"]) == [4]
    assert [len(u) for u in found["Why PHP Matters To You"].unordered_lists] == [2, 3]
    text = json.dumps([s.paragraphs + all_items(s) for s in sections])
    assert "wp:" not in text

    _, sections, _ = extract(BLOCKS / "wporg-docs-wxr-blockmarkup__site-health.html")
    assert [s.heading for s in sections][1:] == ["What makes for a healthy website?",
                                                 "How do I use the Site Health features?",
                                                 "Now run the Site Health check!"]


# --- Plugin readme.txt files ----------------------------------------------------------------

# slug: (plugin name, FAQ questions, sections extracted)
READMES_EXPECTED = {
    "classic-editor": ("Classic Editor", 4, 5),
    "contact-form-7": ("Contact Form 7", 0, 6),
    "litespeed-cache": ("LiteSpeed Cache", 13, 25),
    "plugin-check": ("Plugin Check (PCP)", 4, 7),
    "plugin-check-testdata-multiple-parser-warnings": ("Test Plugin Readme Errors Multiple Parser Warnings", 0, 1),
    "plugin-check-testdata-readme-md-with-errors": ("Plugin Check", 0, 1),
    "query-monitor": ("Query Monitor - The developer tools panel for WordPress", 10, 14),
    "redirection": ("redirection", 2, 17),  # `=== Plugin Name ===` placeholder: the slug names it
    "woocommerce-gateway-stripe": ("WooCommerce Stripe Payment Gateway", 5, 7),
    "wp-graphql-smart-cache": ("WPGraphQL Smart Cache", 0, 4),
    "wporg-readme-standard-example": ("wporg-readme-standard-example", 2, 4),
}


@pytest.mark.parametrize("slug", sorted(READMES_EXPECTED))
def test_readme_fixture_extracts(slug):
    name, faq_count, section_count = READMES_EXPECTED[slug]
    page, sections, rejected = readme(slug)
    assert page.kind == "readme" and rejected == []
    assert len(sections) == section_count
    assert {s.heading_path[0] for s in sections} == {name}
    faq = [s for s in sections if s.heading_path[1] == "FAQ" and len(s.heading_path) == 3]
    assert len(faq) == faq_count and all(s.troubleshooting for s in faq)
    # Changelog, upgrade notices and screenshot captions are not instructions.
    assert not {"Changelog", "Upgrade Notice", "Screenshots"} & {s.heading_path[1] for s in sections}


def test_readme_parser_headers_sections_and_faq():
    with open(READMES / "classic-editor__readme.txt", encoding="utf-8", newline="") as f:
        text = f.read()
    assert "\r\n" in text  # this one has Windows line ends
    parsed = parse_readme(text)
    assert parsed.name == "Classic Editor"
    assert parsed.headers["stable_tag"] == "1.6.3" and parsed.headers["requires"] == "4.9"
    assert [s.key for s in parsed.sections] == ["description", "changelog", "faq", "screenshots"]
    assert [q for q, _ in parsed.faq][2] == 'Cannot find the "Switch to classic editor" link'
    assert not any("\r" in a for _, a in parsed.faq)

    parsed = parse_readme((READMES / "redirection__readme.txt").read_text(encoding="utf-8"))
    assert parsed.name == "" and "invalid_plugin_name_header" in parsed.warnings
    assert parsed.headers["contributors"] == "johnny5"
    assert parsed.short_description.startswith("Manage 301 redirects")

    parsed = parse_readme((READMES / "query-monitor__readme.txt").read_text(encoding="utf-8"))
    assert [s.title for s in parsed.sections] == ["Description", "Screenshots", "Frequently Asked Questions"]
    assert parsed.faq[0][0] == "Does this plugin work with PHP 8?"

    parsed = parse_readme((READMES / "wp-graphql-smart-cache__readme.txt").read_text(encoding="utf-8"))
    assert [(s.key, s.title) for s in parsed.sections][:3] == [
        ("description", "Description"), ("other_notes", "Video Overview"), ("other_notes", "Docs")]


def test_readme_steps_sub_sections_and_code():
    _, sections, _ = readme("litespeed-cache")
    found = by_heading(sections)
    assert steps(found["For Optimization Without a LiteSpeed Web Server"]) == [2]
    assert steps(found["For Caching and Optimization With a LiteSpeed Web Server"]) == [4]
    assert found["For Caching and Optimization With a LiteSpeed Web Server"].heading_path == [
        "LiteSpeed Cache", "Installation", "For Caching and Optimization With a LiteSpeed Web Server"]
    assert steps(found["What server software is required for this plugin?"]) == [4]

    _, sections, _ = readme("contact-form-7")
    found = by_heading(sections)
    assert found["Installation"].ordered_lists[0][0] == \
        "Upload the entire `contact-form-7` folder to the `/wp-content/plugins/` directory."
    assert found["FAQ"].heading_path == ["Contact Form 7", "FAQ"] and steps(found["FAQ"]) == [3]

    _, sections, _ = readme("redirection")
    assert steps(by_heading(sections)["Installation"]) == [5]

    _, sections, _ = readme("wporg-readme-standard-example")
    example = by_heading(sections)["A brief Markdown Example"]
    assert example.has_code and steps(example) == [3] and [len(u) for u in example.unordered_lists] == [3]
