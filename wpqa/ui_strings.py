"""UI strings in an answer, checked verbatim against the page it came from.

A list answer is only as useful as its menu paths and button labels are true: "Go to
Settings > Permalinks" to reset a password reads well and sends the user nowhere. The
strings a step names on the screen — menu paths ("Settings > General", "Plugins → Add
New"), quoted labels ("Save Changes"), what is clicked ("click Update Profile") and file
names (`wp-config.php`) — must appear in the source section, with arrows, quotes, spacing
and case normalised and nothing else. The generate gate rejects an LLM item that names one
the section does not hold (`invented_ui_label`); the eval stage reports the share found
per model (`<model>_ui_faithfulness`).
"""
from __future__ import annotations

import re

_ARROWS = re.compile(r"\s*(?:>|→|->|»|›|&gt;)\s*")
_WORD = r"[A-Z0-9][\w&'’.-]*"
_LABEL = rf"{_WORD}(?:[ \t]+(?:{_WORD}|&))*"
_MENU_PATH = re.compile(rf"{_LABEL}(?:[ \t]*(?:>|→|->|»|›)[ \t]*{_LABEL})+")
_QUOTED = re.compile(r"[“\"‘]([^“”\"‘’\n]{2,60})[”\"’]")
_CLICKED = re.compile(rf"\b(?i:click|press|tap|hit)[ \t]+(?:(?i:on)[ \t]+)?(?:(?i:the)[ \t]+)?({_LABEL})")
# A sentence opens with its verb in capitals: "Open Plugins > Add New" names "Plugins".
_LEAD_VERB = re.compile(r"^(?:open|go|navigate|visit|select|choose|click|use|then|next|now)[ \t]+(?:to[ \t]+)?",
                        re.IGNORECASE)
_FILE = re.compile(r"(?<![\w/.-])(?:[\w-]+(?:\.[\w-]+)*\.(?:php|css|js|json|html?|txt|xml|ini|ya?ml|"
                   r"md|zip|sql|log)|\.htaccess)\b", re.IGNORECASE)
# Words a "click" sentence capitalises that are not a label's own.
_NOT_LABELS = frozenset("i you it this that the a an on in to and or".split())


def _normal(text: str) -> str:
    text = _ARROWS.sub(" > ", text.replace("`", ""))
    text = re.sub(r"[“”\"‘’']", "", text)
    return " ".join(text.lower().split())


def ui_strings(answer: str) -> list[str]:
    """The menu paths, quoted labels, clicked labels and file names an answer names."""
    answer = re.sub(r"(?m)^[ \t]*\d+[.)][ \t]+", "", answer)  # list numbers are no label
    found: list[str] = []
    for match in _MENU_PATH.finditer(answer):
        found.append(_LEAD_VERB.sub("", match.group(0)).rstrip(" .,:;"))
    paths = " ".join(found)
    for match in _QUOTED.finditer(answer):
        label = match.group(1).strip(" .,:;")
        if 1 <= len(label.split()) <= 6:
            found.append(label)
    for match in _CLICKED.finditer(answer):
        label = match.group(1).strip(" .,:;")
        if label.lower() not in _NOT_LABELS and label not in paths:
            found.append(label)
    found += [m.group(0) for m in _FILE.finditer(answer)]
    seen, unique = set(), []
    for item in found:
        key = _normal(item)
        if key and key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def invented_ui_labels(answer: str, source: str) -> list[str]:
    """The UI strings of `answer` that `source` does not hold (normalised as above)."""
    haystack = _normal(source)
    return [label for label in ui_strings(answer) if _normal(label) not in haystack]


def ui_faithfulness(answer: str, source: str) -> float | None:
    """Share of the answer's UI strings found in the source; None when it names none."""
    labels = ui_strings(answer)
    if not labels:
        return None
    return 1.0 - len(invented_ui_labels(answer, source)) / len(labels)
