"""UI strings named by an answer, checked verbatim against its source section."""
from wpqa.ui_strings import invented_ui_labels, ui_faithfulness, ui_strings


def test_menu_paths_labels_clicks_and_files_are_found():
    answer = ("To change the title, follow these steps:\n1. Open Settings → General.\n"
              "2. Type the name in the “Site Title” field.\n3. Click Save Changes.\n"
              "4. If it does not show, edit wp-config.php.")
    assert ui_strings(answer) == ["Settings → General", "Site Title", "Save Changes", "wp-config.php"]


def test_only_arrows_quotes_spacing_and_case_are_forgiven():
    source = 'Go to Settings > General, fill in "Site title" and click Save changes. See wp-config.php.'
    assert invented_ui_labels("1. Open Settings → General.\n2. Click Save Changes.", source) == []
    assert invented_ui_labels("1. Go to Settings > Permalinks.\n2. Edit .htaccess.", source) == [
        "Settings > Permalinks", ".htaccess"]
    assert ui_faithfulness("1. Go to Settings > General.\n2. Click Publish.", source) == 0.5
    assert ui_faithfulness("1. Type a short name.\n2. Wait a minute.", source) is None


def test_list_numbers_and_sentence_verbs_are_not_part_of_a_label():
    assert ui_strings("3. Use Appearance > Customize to see it.") == ["Appearance > Customize"]
    assert ui_strings("Click on the Publish button.") == ["Publish"]
