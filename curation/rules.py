"""The rules backend of the generate stage: sections to list-format Q&A without an LLM.

A procedure is recognised by its structure and content, not by a list of heading verbs:
an ordered list (or numbered step paragraphs, which extraction turns into one) whose
items are mostly actions ("Click …", "Go to …", "If …, select …"). Every list of a
section is considered. What is not a procedure is rejected with a reason of its own:

| reason | what it is |
|---|---|
| `toc` / `link_list` | items that are nearly all link text |
| `shortcut_list` | keyboard shortcuts |
| `file_list` | file and folder names |
| `option_list` | "Term – what it means" items, parameters |
| `choice_list` | ways, types or kinds to choose from ("There are four ways to …") |
| `advice_list` | good habits under "Best practices" or "Tips" ("Always escape output") |
| `code_reference` | what a function or hook does, under a heading that names it (`acf_strlen()`) |
| `not_actions` | items that describe rather than instruct |
| `causes_not_fixes` | a stated problem over a list of causes or symptoms |
| `needs_code` | a step that cannot be followed without a code block |

The question comes from the heading, its parents, the list's intro sentence and the page
title: "Creating menus" → "How do I create menus?", "Steps to embed a video:" →
"How do I embed a video?", "Basic Setup" under "Using the Radio Field" → "How do I set
up the Radio Field?", "Using phpMyAdmin" under "Creating a database" → "How do I create
a database using phpMyAdmin?". A heading that names too little ("Add a block") gets the
page's context. A `solutions` item needs a stated problem and a list of fixes.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import replace
from typing import Iterable

from wpqa.pattern import format_answer, reads_as_code, words as pattern_words
from curation.validate import question_key
from wpqa.evidence import evidence_rows, step_spans
from wpqa.records import QAPair, RejectedRow, Section, content_hash, grounding_source
from wpqa.screen import section_injection

GENERATOR = "rules-v2"

# Verbs that open an instruction ("Click Save", "Install a plugin"). Words that are as
# often nouns in these docs ("block", "list", "style") are in NOUN_VERBS too.
ACTION_VERBS = frozenset("""
access activate add adjust allow apply approve assign attach back backup block browse build
bulk cancel change check choose clean clear click clone close collect combine configure
confirm connect continue control convert copy create customize customise deactivate debug
define delete deploy describe disable display download drag drop duplicate edit embed empty
enable enqueue ensure enter erase expand export extend fill filter find fix flush follow force
generate get give go grant head hide hit hover import include increase insert install invite
keep launch leave limit link list load localize locate lock log login look make manage map
mark merge migrate modify move name navigate note open optimize order organize override
paste pick pin place point press prepare preview print proceed protect provide publish pull
purge push put raise read rebuild receive recover redirect refresh register reinstall reload
remove rename reorder repeat replace request require resave reset resize restart restore
restrict return review revert roll rotate run save scan schedule scroll search secure select
send set share show sign skip sort specify start stop store submit switch sync tap take test
tick toggle track transfer translate troubleshoot turn type uncheck undo uninstall unlock
unpublish unzip update upgrade upload use validate verify view visit wait watch write zip
ask bump crop group transform detach align reuse style format wrap trash unapprove nest
highlight indent color colour center decrease lower reduce compress contact try re-upload
reupload re-enable re-activate reactivate disconnect authorize authenticate answer accept
agree complete finish begin create customize declare hook initialize instantiate call pass
wrap cherry-pick checkout commit merge rebase tag bump release announce publish document
scaffold rearrange personalize personalise paginate bootstrap render query fetch cache sanitize
escape internationalize prefix enqueue dequeue deregister unregister reorder resubmit retry
reconnect regenerate rewrite reply moderate approve spam unspam trash restore embed feature
detect process handle implement invoke execute inspect compile fork append prepend parse
serialize unserialize encode decode echo listen trigger dispatch subscribe unsubscribe observe
""".split())
NOUN_VERBS = frozenset("""
block list name link style color colour group format view design order display feature note
document point pin type print answer call hook map tag control pull checkout process fork echo
""".split())
_COPULAS = frozenset("is are was were does do did doesn't don't isn't aren't won't can't cannot "
                     "has have keeps fails".split())
_PREPOSITIONS = frozenset("to of for in on with and or from by at is are as".split())
DETERMINERS = frozenset("a an the your my this these that those all any each every some it them "
                        "out up off on in one another new multiple several more certain".split())
# "Block editor", "Block themes": names, not an instruction to block something.
_BLOCK_NOUNS = frozenset("""
editor editors theme themes pattern patterns variation variations style styles support supports
toolbar settings bindings library directory plugin plugins api json markup attributes hooks
inserter transform transforms deprecation deprecations wrapper context selectors registration
metadata type types development developers development-environment template templates
""".split())
# Words a step may open with before its verb: "Then click", "Optionally, enable".
_LEAD_WORDS = re.compile(r"^(?:(?:first|firstly|second|then|next|now|finally|afterwards|optionally|"
                         r"lastly|also|again|once done|once finished|alternatively|or|and|please|"
                         r"just|simply|carefully|manually|quickly)\b[,:]?\s+)+", re.IGNORECASE)
# A leading clause before the verb: "If you use Plesk, open …", "In the sidebar, click …".
_LEAD_CLAUSE = re.compile(r"^(?:if|when|once|after|before|while|in|on|from|under|within|inside|"
                          r"at|using|with|to|for|via|through|back|below|above|beside|next to|"
                          r"depending|as|where|for example|by default)\b[^,:;]{0,90},\s*",
                          re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")

TOC_HEADING = re.compile(r"^(table of )?contents$|^in this (article|page|section|guide|document)|"
                         r"^on this page|^topics|^sections|^chapters", re.IGNORECASE)
SHORTCUT = re.compile(r"\b(ctrl|cmd|command|shift|alt|option|control)\s*[+\-]\s*\S|⌘|⌥|⇧", re.IGNORECASE)
FILE_ITEM = re.compile(r"^`?[\w./-]*\.(php|js|jsx|ts|tsx|css|scss|json|html?|txt|md|xml|ya?ml|png|"
                       r"jpe?g|svg|gif|zip|po|mo|pot|sql|htaccess|lock)`?\b|^`?/?[\w.-]+/[\w./-]*`?(\s|$|:)",
                       re.IGNORECASE)
OPTION_ITEM = re.compile(r"^([^:–—]{1,48}?)\s*(?::|\s[–—-])\s+\S")
# Steps that lean on code the answer cannot carry.
REFERS_TO_CODE = re.compile(r"\b(add|paste|insert|copy|put|place|enter|type|run)\s+(the\s+)?following\b|"
                            r"\bsimilar to this\b|\blike this:?$|"
                            r"\b(following|this|the below|below)\s+(code|snippet|function|line|lines|"
                            r"command|commands)\b|\b(code|snippet|lines?|function|command)s? (below|above)\b|"
                            r"\bas follows:?$", re.IGNORECASE)
# Screenshot references that mean nothing without the picture.
SCREENSHOT_REF = re.compile(
    r"\s*\([^()]*\b(?:image|screenshot|picture|figure)s?\s+(?:below|above)[^()]*\)"
    r"|\s*\([^()]*\b(?:explained|shown|described|listed|covered)\s+(?:below|above)\.?\)"
    r"|,?\s*\(?\b(?:as|like)\s+(?:shown|seen|illustrated|pictured|highlighted)\s+(?:below|above|here|"
    r"in the (?:screenshot|image|figure|picture)(?:\s+(?:below|above))?)\)?"
    r"|,?\s*\(?\b(?:see|refer to)\s+(?:the\s+)?(?:screenshot|image|figure|picture)\s+(?:below|above)\)?",
    re.IGNORECASE)
PROBLEM_WORDS = re.compile(
    r"\b(error|errors|not working|unable to|fails?|failed|failing|failure|broken|blank|white screen|"
    r"missing|lost|locked out|404|500|503|timed? ?out|issues?|problems?|trouble|troubleshoot(ing)?|"
    r"conflicts?|wrong|stuck|denied|invalid|fatal|crash(es|ed)?|disappear(s|ed)?|incorrect|"
    r"too many (redirects|requests)|exceeded|exhausted|warnings?|gibberish|headers already sent|slow|"
    r"hacked|infinite loop|redirect loop|not found|not allowed|permission denied|forbidden|unavailable|"
    r"offline|"
    r"(doesn[’']?t|don[’']?t|does not|do not|can[’']?t|cannot|can not|won[’']?t|isn[’']?t|aren[’']?t|"
    r"not|never)\s+(work|load|show|appear|save|send|display|open|connect|respond|upload|update|log|"
    r"access|see|find|receive|sign|arrive|redirect|load|install|activate|run|start)\w*)\b",
    re.IGNORECASE)
_HOW_TO = re.compile(r"^how (?:to|do i|do you|can i|can you|should i)\s+(.+?)\??$", re.IGNORECASE)
_STEPS_TO = re.compile(r"^(?:the\s+)?(?:\w+\s+)?(?:steps|instructions|procedure)\s+(?:to|for)\s+(.+)$",
                       re.IGNORECASE)
_TO_TASK = re.compile(r"^to\s+(.+)$", re.IGNORECASE)
_INTRO_TASKS = (
    re.compile(r"\b(?:steps|instructions)\s+(?:below\s+)?(?:to|for)\s+(.+?)\s*[:.]?$", re.IGNORECASE),
    re.compile(r"^to\s+(.+?)(?:,|:|\s+follow\b|\s+do the following\b|$)", re.IGNORECASE),
    re.compile(r"^(?:here(?:[’']s| is) how|this is how|learn how)\s+(?:to|you can|you)\s+(.+?)\s*[:.]?$",
               re.IGNORECASE),
    re.compile(r"^(?:you can|you[’']ll need to|you need to|you will need to)\s+(.+?)\s+"
               r"(?:by|with|using)\s+(?:the\s+)?(?:following|these)\b", re.IGNORECASE),
)
# A heading that qualifies the task of the heading above: "Using phpMyAdmin", "Via FTP".
_QUALIFIER = re.compile(r"^(using|via|with|through|from|in|on|by|for|manually|automatically)\b\s*(.*)$",
                        re.IGNORECASE)
_NOUN_TASKS = (
    (re.compile(r"^(?:basic |quick |initial |the )?(?:setup|set-up|set up)$", re.I), "set up {obj}"),
    (re.compile(r"^(?:(.+) )?(?:setup|set-up|set up)$", re.I), "set up {obj}"),
    (re.compile(r"^(?:(.+) )?installation$", re.I), "install {obj}"),
    (re.compile(r"^(?:(.+) )?uninstall(?:ation)?$", re.I), "uninstall {obj}"),
    (re.compile(r"^(?:(.+) )?configuration$", re.I), "configure {obj}"),
    (re.compile(r"^(?:basic )?usage$", re.I), "use {obj}"),
    (re.compile(r"^(?:(.+) )?activation$", re.I), "activate {obj}"),
    (re.compile(r"^(?:(.+) )?deactivation$", re.I), "deactivate {obj}"),
    (re.compile(r"^(?:(.+) )?(?:customization|customisation)$", re.I), "customize {obj}"),
    (re.compile(r"^(?:(.+) )?migration$", re.I), "migrate {obj}"),
    (re.compile(r"^(?:(.+) )?registration$", re.I), "register {obj}"),
    (re.compile(r"^(?:(.+) )?(?:removal|deletion)$", re.I), "remove {obj}"),
    (re.compile(r"^(?:(.+) )?creation$", re.I), "create {obj}"),
    (re.compile(r"^(?:(.+) )?update$", re.I), "update {obj}"),
    (re.compile(r"^getting started$", re.I), "get started with {obj}"),
)
# Words that name nothing in particular: a task made only of these needs context.
GENERIC_WORDS = frozenset("""
a an the new block blocks page pages post posts it this that them these those one item items
settings setting option options file files site content field fields following process steps
step basic setup set up your my of to in on for and or with from its their there here
method methods way ways approach part example option i ii iii
""".split())
# Words that do not make two phrases about the same thing.
_FUNCTION_WORDS = frozenset("a an the of to in on for and or with from your my using use via by at".split())
PRONOUN_OBJECTS = frozenset("it this that them these those one so".split())
# Not procedures: these sections are not worth an LLM call in the hybrid backend either.
NOT_PROCEDURE = frozenset(("toc", "link_list", "shortcut_list", "file_list", "option_list", "choice_list",
                           "advice_list", "code_reference",
                           "not_actions", "causes_not_fixes", "unordered_list_not_steps"))
_PRONOUNS_TO_READER = {"my": "your", "i": "you", "mine": "yours", "myself": "yourself", "me": "you"}
_SUBJECT_AFTER = frozenset("and or but if when so that because where until once while then".split())
_VERB_AFTER_YOU = frozenset("""
can can't cannot could will won't would have haven't had are aren't were want need should must
see get do don't did didn't may might try use forget forgot lose lost receive get got make
""".split())
_STATEMENT_VERBS = frozenset("""
is are was were does do did doesn't don't didn't isn't aren't won't can't cannot shows show
appears appear says say keeps keep reloads fails fail stops stop returns return loads load
gets get goes breaks has have looks opens sends send redirects displays stays remains
disappears disappear turns lists list ignores ignore arrive arrives reach reaches
""".split())
# A heading that says only that problems follow: the question names what they are about.
_GENERIC_PROBLEM = re.compile(r"^(troubleshooting|troubleshoot|common (problems|issues|errors)|known issues|"
                              r"problems|issues|faq|faqs|frequently asked questions)$", re.IGNORECASE)
_TRAILING_PUNCT = re.compile(r"[\s.:;,!?]+$")
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)")
_LEAD_MARKER = re.compile(r"^(?:step\s*\d+\s*[:.)\-–—]\s*)", re.IGNORECASE)
_NUMBERED_HEADING = re.compile(r"^(?:step\s*\d+\b\s*[:.)\-–—]?|\d{1,2}\s*[.):]|\d{1,2}\s+[–—-])\s*",
                               re.IGNORECASE)
# Title Case function words ("Set Up the Options") read lower case in a question.
_PARTICLES = frozenset("up the a an of to in on for and with from into via by at or as out off".split())


# --- words ---------------------------------------------------------------------------------

def first_word(text: str) -> tuple[str, str]:
    """The word a step's instruction starts with (lower case) and the word after it."""
    text = text.strip().lstrip("`*\"'“‘(").strip()
    text = _LEAD_MARKER.sub("", text)
    for _ in range(2):
        text = _LEAD_WORDS.sub("", text)
        text = _LEAD_CLAUSE.sub("", text, count=1)
    words = _WORD.findall(text[:120])
    if not words:
        return "", ""
    return words[0].lower().replace("’", "'"), (words[1].lower() if len(words) > 1 else "")


_DESCRIBES = re.compile(r"^\W*\w+(?:\W+\w+){0,2}\s+(is|are|was|were|has|have|will|can|lets|allows|"
                       r"provides|means|contains|includes)\b", re.IGNORECASE)


def is_action(text: str) -> bool:
    """Does this item instruct ("Click Save", "If asked, confirm", "Don't close the tab")?

    An item whose first words are a subject and a verb ("Block editor handbook is …")
    describes, even when its first word could be a verb.
    """
    if re.match(r"^`[^`]+`\s+\w", text.strip()):
        return False  # "`use` statements for functions": a code name, then what it is
    word, after = first_word(text)
    if word in ("do", "don't", "never") and (after in ("not",) or word != "do"):
        return True
    if word == "do" and after:
        return after in ACTION_VERBS or after in DETERMINERS
    if word not in ACTION_VERBS or _DESCRIBES.match(text.strip().lstrip("`*\"'“‘(")):
        return False
    if word in NOUN_VERBS:  # "Call `get_option()` …" instructs, "Block editor …" names
        return bool(re.match(rf"^\W*{word}\s+`", text.strip(), re.IGNORECASE)) or is_imperative_heading(text)
    return True


def has_action(text: str) -> bool:
    """An item that instructs somewhere: "A plugin conflict – deactivate all plugins"."""
    if is_action(text):
        return True
    return any(is_action(part) for part in re.split(r"(?<=[.;:])\s+|\s[–—-]\s|\s→\s", text)[1:])


def is_imperative_heading(text: str) -> bool:
    word, after = first_word(text)
    if word not in ACTION_VERBS:
        return False
    if word in NOUN_VERBS:  # "Block Toolbar", "Style variations" name things; "Block an IP" instructs
        raw = _WORD.findall(text)
        lowered = [w.lower() for w in raw]
        third = lowered[2] if len(lowered) > 2 else ""
        if after in DETERMINERS or after in ("to", "into") and third in DETERMINERS:
            return True
        # "Block comments that contain …", "View scheduled events": a longer lower-case phrase.
        return (len(raw) >= 3 and raw[1][:1].islower() and after not in _PREPOSITIONS
                and after not in ACTION_VERBS and not (word == "block" and after in _BLOCK_NOUNS)
                and not {w.replace("’", "'") for w in lowered[1:]} & _COPULAS)
    return True


def base_verb(gerund: str) -> str | None:
    """'creating' → 'create', 'setting' → 'set', 'adding' → 'add'; None when not a known verb."""
    word = gerund.lower()
    if not word.endswith("ing") or len(word) < 5:
        return None
    stem = word[:-3]
    for candidate in (stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else ""):
        if candidate and candidate in ACTION_VERBS:
            return candidate
    return None


def gerund(verb: str) -> str:
    """'create' → 'creating', 'set' → 'setting' (for "when creating menus")."""
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye")):
        return verb[:-1] + "ing"
    if verb in ("set", "get", "run", "put", "stop", "plan", "drop", "log", "map", "pin", "tag", "cut",
                "ship", "wrap", "scan", "sum", "chat", "shut", "swap", "zip", "trim", "skip", "tap"):
        return verb + verb[-1] + "ing"
    return verb + "ing"


def _lower_first(text: str) -> str:
    """Lower the first word unless it is a name (WordPress, PHP, WooCommerce, FTP), and
    the Title Case function words after it ("Set Up the Options" → "set up the Options")."""
    words = text.split(" ")
    title_case = len(words) >= 3 and sum(w[:1].isupper() for w in words) >= 0.8 * len(words)
    particles = _PARTICLES | {"your", "my"} if title_case else _PARTICLES
    if words and words[0][:1].isupper() and words[0][1:].islower():
        words[0] = words[0].lower()
    words = [w.lower() if n and w.lower() in particles and w[:1].isupper() and w[1:].islower() else w
             for n, w in enumerate(words)]
    return " ".join(words).strip()


def _clean_heading(text: str) -> str:
    return _TRAILING_PUNCT.sub("", _PARENTHETICAL.sub("", text.strip())).strip()


def _plain_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in _FUNCTION_WORDS}


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in GENERIC_WORDS}


def swap_to_asker(text: str) -> str:
    """The reader's words as the asker's: "reset your password" → "reset my password".

    "you" becomes "I" as a subject and "me" as an object ("emails reach me"); a
    capitalised pronoun inside the text is part of a UI name ("Your Profile") and stays.
    """
    tokens = re.split(r"(\b[A-Za-z’']+\b)", text)
    words = [(i, t) for i, t in enumerate(tokens) if re.match(r"^[A-Za-z’']+$", t)]
    for n, (i, word) in enumerate(words):
        low = word.lower()
        if low not in ("you", "your", "yours", "yourself") or (n > 0 and word[0].isupper()):
            continue
        if low == "you":
            before = words[n - 1][1].lower().replace("’", "'") if n else ""
            after = words[n + 1][1].lower().replace("’", "'") if n + 1 < len(words) else ""
            subject = n == 0 or before in _SUBJECT_AFTER or after in _VERB_AFTER_YOU
            new = "I" if subject else "me"
        else:
            new = {"your": "my", "yours": "mine", "yourself": "myself"}[low]
        tokens[i] = new.capitalize() if n == 0 and word[0].isupper() and new != "I" else new
    return "".join(tokens)


def swap_to_reader(text: str) -> str:
    """The asker's words as the reader's ("How do I reset my password" → "reset your password"),
    leaving capitalised UI names inside the text ("My Patterns") as written."""
    def swap(match: re.Match) -> str:
        word = match.group(0)
        new = _PRONOUNS_TO_READER.get(word.lower())
        if new is None or (match.start() > 0 and word[0].isupper() and word != "I"):
            return word
        return new.capitalize() if word[0].isupper() and word != "I" else new
    return re.sub(r"\b[A-Za-z]+\b", swap, text)


# --- the task a procedure carries out ----------------------------------------------------

def task_from_heading(heading: str, subject: str = "") -> str | None:
    """The task a heading names ("install a plugin"), or None if it names none.

    `subject` is what the heading is about when it is a bare noun ("Installation" of a
    plugin named by the page).
    """
    text = _NUMBERED_HEADING.sub("", _clean_heading(heading))
    if not text:
        return None
    for pattern in (_HOW_TO, _STEPS_TO, _TO_TASK):
        match = pattern.match(text)
        if match and match.group(1).strip():
            return swap_to_reader(_lower_first(match.group(1).strip()))
    if is_imperative_heading(text):
        return _lower_first(text)
    first, _, rest = text.partition(" ")
    verb = base_verb(first)
    # "Caching of PHP files" and "Moving process" name a topic, not a task to do.
    if verb and rest and not _GERUND_TOPIC.match(rest):
        return _lower_first(f"{verb} {rest}")
    modifier = re.match(r"^(manual|automatic|automated)\s+(.+)$", text, re.IGNORECASE)
    adverb = ""
    if modifier:  # "Manual Uninstallation": uninstall the subject manually
        adverb = " manually" if modifier.group(1).lower() == "manual" else " automatically"
        text = modifier.group(2)
    for pattern, template in _NOUN_TASKS:
        match = pattern.match(text)
        if match:
            named = match.group(1) if match.groups() else None
            if named and re.fullmatch(r"[A-Za-z]+", named) and not named[1:].isupper():
                named = f"the {named.lower()}"  # "Network setup": set up the network
            obj = named or subject
            if obj:
                return template.format(obj=obj).strip() + adverb
            return None
    return None


_GERUND_TOPIC = re.compile(r"^(of|process|procedure|steps|workflow|instructions)\b", re.IGNORECASE)
_THEN_FOLLOW = re.compile(r"\s+and (?:then )?(?:follow|perform|do|complete|run)\b", re.IGNORECASE)
_GENERIC_INTRO_VERBS = frozenset("follow perform do complete use take see read try proceed".split())


def task_from_intro(intro: str) -> str | None:
    """The task a list's intro sentence names: "Follow these steps to create a page:",
    "To add a gallery:", or an instruction of its own ("Now cherry-pick the commits:")."""
    intro = _PARENTHETICAL.sub("", intro.strip())
    sentences = re.split(r"(?<=[.!?:])\s+(?=[A-Z])", intro) if intro else [""]
    # The sentence that introduces the list: the one ending in ":", else the last one.
    sentence = next((x for x in sentences if x.endswith(":")), sentences[-1])
    for pattern in _INTRO_TASKS:
        match = pattern.search(sentence)
        if match:
            task = _TRAILING_PUNCT.sub("", match.group(1)).strip()
            if _names_a_task(task):
                return swap_to_reader(_lower_first(task))
    if sentence.endswith(":"):
        text = _LEAD_WORDS.sub("", sentence)
        text = _LEAD_CLAUSE.sub("", text, count=1)
        word, _ = first_word(text)
        # "Open a terminal and perform the following steps:" names a first move, not the
        # task the steps carry out: the heading names that.
        if word in ACTION_VERBS and word not in _GENERIC_INTRO_VERBS and word not in NOUN_VERBS \
                and not _THEN_FOLLOW.search(text):
            task = re.split(r"[,:;]", text, maxsplit=1)[0].strip()
            if 2 <= len(task.split()) and _names_a_task(task):
                return swap_to_reader(_lower_first(task))
    return None


_FINITE_VERB = re.compile(r"\s(requires?|is|are|was|were|will|can|should|must|has|have|needs?|"
                          r"makes?|lets?|allows?)\s", re.IGNORECASE)


def _names_a_task(task: str) -> bool:
    """A verb phrase of a few words ("create a page"), not a clause ("to add a page
    requires …") or a pronoun ("do this")."""
    if not task or len(task.split()) > 14 or _is_vague(task) or _FINITE_VERB.search(f" {task} "):
        return False
    word = first_word(task)[0]
    return word in ACTION_VERBS and not _DESCRIBES.match(task)


def _is_vague(task: str) -> bool:
    """A task that names nothing ("do this", "create it", "get started")."""
    words = _WORD.findall(task.lower())
    return not words or all(w in PRONOUN_OBJECTS or w in ("do", "so", "the", "following", "above",
                                                          "below", "get", "started", "steps")
                            for w in words[1:] or words)


def subject_of(text: str) -> str:
    """What a heading or title is about: the task's object, or the noun phrase itself."""
    text = _clean_heading(text)
    task = task_from_heading(text)
    if task:
        verb, _, obj = task.partition(" ")
        return obj or text
    return text


def _ancestor_task(path: list[str]) -> tuple[str | None, int]:
    """The nearest task named above the deepest heading, and how far up it is."""
    for depth in range(len(path) - 2, -1, -1):
        task = task_from_heading(path[depth], subject=subject_of(path[depth - 1]) if depth else "")
        if task and not _is_vague(task):
            return task, depth
    return None, -1


# Headings that say a procedure follows without saying which: the task is the one above.
_META_HEADING = re.compile(r"^((detailed |basic |quick )?(steps|instructions)|procedure|the process|process|"
                           r"[a-z]+ing (process|procedure|steps)|"
                           r"how it works|overview|details|usage|quick ?start|walkthrough|tutorial|"
                           r"step[- ]by[- ]step( guide| instructions)?|guide|how to|directions( for use)?)$", re.IGNORECASE)
_TOPIC_SKIP = re.compile(r"^(further information|more information|examples?|notes?|introduction|"
                         r"summary|background)$", re.IGNORECASE)
_TOPIC_PREFIX = re.compile(r"^(about|overview of|introduction to|example|examples)\s*:?\s+", re.IGNORECASE)


def task_for(section: Section, intro: str) -> str | None:
    """The task a procedure list carries out, worded for "How do I …?"; None when unnamed.

    The list's intro sentence wins when it names a task; then a qualifier heading
    ("Using phpMyAdmin") qualifies the task above it, the heading names one, or a heading
    that only says steps follow ("Steps") takes the task above it. A task that names too
    little gets the page's context; one whose object is a pronoun ("test it") takes it
    from the heading above.
    """
    path = section.heading_path or [section.heading]
    heading = _clean_heading(_NUMBERED_HEADING.sub("", path[-1]))
    parent_subject = _subject_above(path)
    from_intro = task_from_intro(intro) if intro else None
    if from_intro:
        qualifier = _QUALIFIER.match(heading)
        if qualifier and not _content_words(heading) & _content_words(from_intro):
            return f"{from_intro} {_lower_first(heading)}"  # "create a database using Plesk"
        return with_context(from_intro, section, own_heading=True)
    task = None
    if _QUALIFIER.match(heading) and len(path) > 1:
        above, _ = _ancestor_task(path)
        if above:
            task = f"{above} {_lower_first(heading)}"
    if task is None and _META_HEADING.match(heading):
        task, _ = _ancestor_task(path)
    if task is None:
        task = task_from_heading(heading, subject=parent_subject)
    if task is None:
        return None
    verb, _, obj = task.partition(" ")
    if not obj or all(w in PRONOUN_OBJECTS for w in _WORD.findall(obj.lower())):
        # "How to test it?" under "Create a search page": test a search page.
        above, _ = _ancestor_task(path)
        context = subject_of(above) if above else parent_subject or _clean_heading(section.page_title)
        if not context or context.lower() == obj.lower():
            return None
        return f"{verb} {context}"
    return with_context(task, section)


_SUBJECT_GENERIC = GENERIC_WORDS | frozenset("installation installing install methods overview options "
                                             "configuration instructions usage".split())


def _subject_above(path: list[str]) -> str:
    """What the headings above the last one are about ("Installation Methods" under
    "Installing Secure Custom Fields" is about Secure Custom Fields)."""
    for heading in reversed(path[:-1]):
        subject = subject_of(heading)
        if subject and {w.lower() for w in _WORD.findall(subject)} - _SUBJECT_GENERIC:
            return subject
    return ""


def topic_for(section: Section) -> str:
    """What an unnamed procedure is about, for "What are the steps for …?"."""
    path = [_clean_heading(_NUMBERED_HEADING.sub("", h)) for h in section.heading_path or [section.heading]]
    named = [h for h in path if h and not _META_HEADING.match(h) and not _TOPIC_SKIP.match(h)]
    if not named:
        return ""
    topic = _TOPIC_PREFIX.sub("", named[-1]) or named[-1]
    if not _content_words(topic) - GENERIC_WORDS or len(_content_words(topic)) < 2 and len(named) > 1:
        context = named[-2]
        if not _content_words(context) & _content_words(topic):
            topic = f"{topic} in {context}"
    words = topic.split()
    title_case = len(words) >= 2 and sum(w[:1].isupper() for w in words) >= 0.6 * len(words)
    return topic if title_case else _lower_first(topic)


def with_context(task: str, section: Section, own_heading: bool = False) -> str:
    """Add where a task happens when the task alone names nothing in particular
    ("add a block" on a widgets page → "add a block in Widgets")."""
    verb = task.split(" ", 1)[0].lower()
    if _content_words(task) - {verb} - PRONOUN_OBJECTS and not re.search(
            r"\b(this|these|those)\s+\w+", task, re.IGNORECASE):
        return task
    path = [h for h in (section.heading_path or []) if h]
    candidates = path if own_heading else path[:-1]
    task_words = _plain_words(task) - {verb}
    for context in reversed(candidates):
        context = _clean_heading(_NUMBERED_HEADING.sub("", context))
        if not context or _META_HEADING.match(context) or _plain_words(context) & task_words:
            continue
        context_task = task_from_heading(context)
        if context_task:
            c_verb, _, c_obj = context_task.partition(" ")
            if c_verb == verb:
                return context_task
            return f"{task} when {gerund(c_verb)} {c_obj}".strip()
        return f"{task} in {context}"
    return task


def numbered_heading(text: str) -> bool:
    return bool(re.match(r"^step\s*\d", text.strip(), re.IGNORECASE))


# --- what kind of list is it --------------------------------------------------------------

def is_command(item: str) -> bool:
    """An item that is one inline command (`git pull`): an action written as code."""
    return bool(re.match(r"^`[^`]+`[.;]?$", item.strip()))


def list_problem(items: list[str], meta: dict, heading: str) -> str | None:
    """Why an ordered list is not a procedure, or None when it is one.

    Most items must instruct; a list whose items mostly instruct somewhere inside
    ("In Step 1, enter the name …", "Basic configuration: enter a name …") counts when a
    few open with a verb too; numbered "Step N" headings need less, the numbering says
    they are steps.
    """
    count = len(items)
    share = lambda test: sum(1 for i in items if test(i)) / count  # noqa: E731
    if meta.get("links", 0) >= 0.6 * count:
        return "toc" if TOC_HEADING.search(heading.strip()) else "link_list"
    if share(lambda i: SHORTCUT.search(i)) >= 0.5:
        return "shortcut_list"
    if share(lambda i: FILE_ITEM.match(i) and not is_command(i)) >= 0.6:
        return "file_list"
    if share(lambda i: _is_option(i) and OPTION_ITEM.match(i).group(1).strip().startswith("`")) >= 0.5:
        return "option_list"  # parameters: "`$hook` – the hook's name"
    if names_code(_clean_heading(heading)):
        return "code_reference"  # "acf_strlen()" over "Unslash the string, …": what the code does
    if _CHOICES.search(str(meta.get("intro") or "")):
        return "choice_list"  # "There are four ways to add an image:" — pick one, not all
    if _ADVICE_HEADING.match(_clean_heading(heading)) or share(
            lambda i: _ADVICE_START.match(i) is not None) >= 0.5:
        return "advice_list"  # "Always escape output", "Check capabilities": good habits, no task
    actions = share(lambda i: is_action(i) or is_command(i))
    broad = share(lambda i: is_action(i) or is_command(i) or has_action(i) or _instructs_inside(i)
                  or bool(meta.get("numbered_text")) and base_verb(first_word(i)[0] + "") is not None)
    procedure = (actions >= 0.5 or broad >= 0.7 and actions >= 0.2 or broad == 1 and count >= 2 and says_task(heading)
                 or meta.get("step_marked") and broad >= 0.3)
    if not procedure:
        return "option_list" if share(_is_option) >= 0.5 else "not_actions"
    if meta.get("code") or any(REFERS_TO_CODE.search(i) for i in items) and (
            meta.get("code_after") or meta.get("code")):
        return "needs_code"
    return None


_SAYS_TASK = re.compile(r"^(?:how (?:do i|can i|to)|steps? to|to)\s+([\w’'-]+)", re.IGNORECASE)


def says_task(heading: str) -> bool:
    """"How to add a block", "Steps to embed a video": the heading says a procedure follows,
    so items that instruct inside a description ("The block can be added by clicking …,
    then search for it") are its steps."""
    match = _SAYS_TASK.match(_clean_heading(heading))
    return bool(match) and match.group(1).lower() in ACTION_VERBS


# A heading that is one code name: a function, hook, method or class ("acf_strlen()",
# "wp_enqueue_script", "WP_Query::get_posts", "useBlockProps").
_CODE_SYMBOL = re.compile(r"`?[$\\]?[A-Za-z_][\w\\]*(?:(?:::|->|\.)[A-Za-z_]\w*)*(?:\(\))?`?")


def names_code(heading: str) -> bool:
    """One code name and nothing else; a plain word ("Installation") is not one."""
    return bool(_CODE_SYMBOL.fullmatch(heading)) and bool(re.search(r"[_$\\`]|\(\)|::|->|^[a-z]+[A-Z]", heading))


# An intro that offers a choice or describes kinds: its items are not done one after another.
_CHOICES = re.compile(r"\b(two|three|four|five|several|many|multiple|different|various|a few|the following)\s+"
                      r"(major\s+|main\s+|basic\s+|primary\s+|different\s+)?(ways|types|kinds|sets|things|"
                      r"reasons|parameters|arguments|characteristics|benefits|advantages|methods|options|"
                      r"approaches|categories|purposes|levels|modes|pieces|parts|components|concepts)\b", re.IGNORECASE)
_ADVICE_HEADING = re.compile(r"^(best practices?|tips( and tricks)?|recommendations?|guidelines|"
                             r"dos and don[’']?ts|things to (know|remember|consider)|considerations|"
                             r"good practices?|general advice|rules of thumb)$", re.IGNORECASE)
_ADVICE_START = re.compile(r"^(always|never|avoid|consider|prefer|try to|remember|be careful|keep in mind)\b",
                           re.IGNORECASE)
_SUBJECT_START = frozenset("you it this these those the a an there each some they we i he she "
                           "pages posts users".split())


def _instructs_inside(item: str) -> bool:
    """An action verb among an item's first words, in an item that does not open with a
    subject ("In Step 1. Create a Database enter the name" instructs; "You can search …"
    and "The page lists …" describe)."""
    words = [w.lower() for w in _WORD.findall(item[:160])]
    if not words or words[0] in _SUBJECT_START:
        return False
    return any(w in ACTION_VERBS and w not in NOUN_VERBS for w in words[1:12])


def _is_option(item: str) -> bool:
    """"Term – what it means" ("`$hook` – Name of the hook", "Wide width – …")."""
    match = OPTION_ITEM.match(item)
    if not match or len(match.group(1).split()) > 6:
        return False
    term = match.group(1).strip()
    return term.startswith("`") or not is_action(term)


def is_problem(text: str) -> bool:
    return bool(PROBLEM_WORDS.search(text))


_ALTERNATIVES = re.compile(r"\b(possible|solutions?|fix(es)?|one of|any of|try|ways|options|"
                          r"following (things|checks)|suggestions?|causes?)\b", re.IGNORECASE)
_FIX_VERBS = frozenset("try check ensure verify deactivate disable clear increase contact switch "
                       "reinstall re-upload reupload restore reset ask consider raise flush".split())


def fixes_in_order(items: list[str], intro: str) -> bool:
    """An ordered list under a stated problem is one fix done in order (steps) unless its
    intro or its items offer alternatives ("Try the following:", "Check …", "Deactivate …")."""
    if _ALTERNATIVES.search(intro):
        return False
    starts = [first_word(i)[0] for i in items]
    return sum(1 for w in starts if w in _FIX_VERBS) < 0.5 * len(items)


# --- answers -------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\betc\.)(?<=[.!?])\s+(?=[A-Z`\"“(])")


def clean_item(text: str, max_words: int = 40) -> str | None:
    """A list item as an answer step; None when nothing is left once a screenshot
    reference ("as shown below") is taken out.

    An item over `max_words` keeps its leading sentences that fit: the instruction comes
    first, the explanation after it is what goes.
    """
    text = _LEAD_MARKER.sub("", text.strip())
    text = SCREENSHOT_REF.sub("", text).strip()
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    if text.endswith((":", ",", ";")):
        text = re.sub(r"[,;:\s]+$", "", text)
    if len(_WORD.findall(text)) == 0:
        return None
    if reads_as_code(text):
        # "Put the plugin in your config. This wraps calls in `if ( DEBUG === true )`.":
        # the instruction stands without the explanation that quotes code.
        sentences = _SENTENCE_END.split(text)
        plain = list(itertools.takewhile(lambda x: not reads_as_code(x), sentences))
        if plain:
            text = " ".join(plain)
    if len(pattern_words(text)) > max_words:
        kept: list[str] = []
        for sentence in _SENTENCE_END.split(text):
            if kept and len(pattern_words(" ".join(kept + [sentence]))) > max_words:
                break
            kept.append(sentence)
        text = " ".join(kept)
    if text[-1] not in ".!?)`\"”’":
        text += "."
    return text[0].upper() + text[1:]


def mark_repeats(steps: list[str]) -> list[str]:
    """A step done twice ("`git pull`", later "`git pull`" again) says so the second time,
    so a real procedure is not mistaken for the looping the pattern's no_repeat catches."""
    seen: set[str] = set()
    marked = []
    for step in steps:
        key = " ".join(pattern_words(step.lower()))
        if key in seen:
            body = step[:-1] if step.endswith((".", "!")) else step
            step = f"{body} again."
        seen.add(" ".join(pattern_words(step.lower())))
        marked.append(step)
    return marked


def note_for(section: Section) -> str:
    """The first short notice of a section, kept as the answer's single Note: line."""
    for note in section.notes:
        note = re.sub(r"^(note|tip|warning|important|caution|attention)\b\s*:?\s*", "", note,
                      flags=re.IGNORECASE)
        if 3 <= len(note.split()) <= 40:
            return note
    return ""


def steps_question(task: str) -> str:
    return f"How do I {swap_to_asker(task)}?"


def problem_question(heading: str, parent: str = "", above: tuple[str, ...] = ()) -> str:
    """A user's question for a problem heading: kept when it is a question, first person
    otherwise; a bare name ("Error") takes its parent heading."""
    heading = _PARENTHETICAL.sub("", heading.strip()).strip() or heading.strip()
    if heading.endswith("?"):
        return heading
    if _GENERIC_PROBLEM.match(_clean_heading(heading)) and above:
        subject = next((subject_of(h) for h in reversed(above)
                        if not _GENERIC_PROBLEM.match(_clean_heading(h))), "")
        if subject:
            return f"How do I troubleshoot {subject}?"
    text = _TRAILING_PUNCT.sub("", heading)
    if len(text.split()) <= 2 and parent:
        text = f"{_TRAILING_PUNCT.sub('', parent)}: {text}"
    first = text.split(" ", 1)[0].lower()
    if first in ("you", "your", "you're", "you've"):
        return swap_to_asker(text)
    if first in ("i", "i'm", "i've", "my"):
        return text
    if _STATEMENT_VERBS.intersection(re.findall(r"[a-z']+", text.lower())):
        return f"{swap_to_asker(text)}. How do I fix it?"
    return f'How do I fix "{text}"?'


# --- a section to items --------------------------------------------------------------------

def _qa(section: Section, kind: str, question: str, items: list[str], task: str = "",
        intro: str = "") -> QAPair:
    answer = format_answer(kind, items, task=task, note=note_for(section), intro=intro)
    return QAPair(id=content_hash(section.section_id, question), question=question, answer=answer,
                  kind=kind, source_url=section.url, source=section.source,
                  section_id=section.section_id, heading_path=section.heading_path,
                  content_hash=section.content_hash, generator=GENERATOR,
                  evidence=evidence_rows(step_spans(answer, grounding_source(section))))


def is_problem_section(section: Section) -> bool:
    """Does the section state a problem? Its heading names one ("Error establishing …",
    "I can't log in"), or it sits on a troubleshooting page and names no task itself
    ("Allowed memory size exhausted" under "PHP Errors")."""
    heading = _clean_heading(_NUMBERED_HEADING.sub("", section.heading))
    if _HOW_TO.match(heading) or _STEPS_TO.match(heading) or _TO_TASK.match(heading) \
            or is_imperative_heading(heading):
        return False  # "Fix a broken link" is a task, whatever word it uses
    if is_problem(section.heading):
        return True  # "Publishing failed because …" states a problem
    if task_from_heading(section.heading) and not section.heading.strip().endswith("?"):
        return False
    if not section.troubleshooting:
        return False
    # On a troubleshooting page or under a troubleshooting heading, a heading that names
    # no task states a problem ("Every submission is marked as spam").
    return not _HOW_TO.match(section.heading.strip())


# The detail of a `suspected_injection` row: the planted text itself is not repeated in
# data/ or reports/ (the row's `ref` names the section, whose text is in sections.jsonl).
INJECTION_DETAIL = "the section addresses an AI model or the reader's tools, not the user"


def generate_from_section(section: Section, max_words: int = 40
                          ) -> tuple[list[QAPair], list[RejectedRow]]:
    """Candidates from every list of one section, and a reason for each list that yields none."""
    candidates: list[QAPair] = []
    rejected: list[RejectedRow] = []
    heading = section.heading
    parent = section.heading_path[-2] if len(section.heading_path) > 1 else ""

    def reject(reason: str, where: str = "") -> None:
        rejected.append(RejectedRow("generate", section.section_id, reason,
                                    f"{heading}{f' ({where})' if where else ''}"))

    # Text that speaks to a model is untrusted even when no LLM reads it: the item would
    # teach the tuned model to obey it.
    if section_injection(section):
        # The hostile text is not copied into the rejected rows: `ref` names the section.
        rejected.append(RejectedRow("generate", section.section_id, "suspected_injection",
                                    INJECTION_DETAIL))
        return candidates, rejected
    problem = is_problem_section(section)
    metas = list(section.list_meta) + [{}] * (len(section.ordered_lists) - len(section.list_meta))
    procedures = []
    for index, (items, meta) in enumerate(zip(section.ordered_lists, metas)):
        where = f"list {index + 1}"
        if len(items) < 2:
            reject("single_item", where)
            continue
        reason = list_problem(items, meta, heading)
        if problem and reason == "not_actions":
            reason = "causes_not_fixes" if sum(map(has_action, items)) < 0.5 * len(items) else None
        if reason:
            reject(reason, where)
            continue
        procedures.append((index, items, meta))
    solutions_lists = []
    if problem:
        for index, items in enumerate(section.unordered_lists):
            if len(items) >= 2 and sum(map(has_action, items)) >= 0.5 * len(items):
                solutions_lists.append(items)
            else:
                reject("causes_not_fixes" if len(items) >= 2 else "single_item",
                       f"bulleted list {index + 1}")
    elif section.unordered_lists and not procedures:
        reject("unordered_list_not_steps")

    for index, items, meta in procedures:
        intro = str(meta.get("intro") or "")
        if problem and not fixes_in_order(items, intro):
            solutions_lists.append(items)
            continue
        steps = [clean_item(i, max_words) for i in items]
        if any(s is None for s in steps):
            reject("lost_screenshot", f"list {index + 1}")
            continue
        steps = mark_repeats(steps)
        task = task_for(section, intro)
        if task is not None:
            candidates.append(_qa(section, "steps", steps_question(task), steps, task=task))
            continue
        if problem:
            solutions_lists.append(items)
            continue
        topic = topic_for(section)
        if not topic:
            reject("no_task", f"list {index + 1}")
            continue
        candidates.append(_qa(section, "steps", f"What are the steps for {topic}?", steps,
                              intro=f"For {topic}, follow these steps:"))
    question = problem_question(heading, parent, tuple(section.heading_path[:-1]))
    for items in solutions_lists:
        fixes = [clean_item(i, max_words) for i in items]
        if any(f is None for f in fixes):
            reject("lost_screenshot")
            continue
        candidates.append(_qa(section, "solutions", question, fixes))
    if not candidates and not rejected:
        reject("no_list")
    return _distinct_questions(candidates), rejected


def _distinct_questions(candidates: list[QAPair]) -> list[QAPair]:
    """Several procedures of one section asked the same way: number the later ones' question
    by what sets them apart ("(2)"), so none is lost as a duplicate."""
    seen: dict[str, int] = {}
    out = []
    for qa in candidates:
        count = seen.get(qa.question, 0) + 1
        seen[qa.question] = count
        if count > 1:
            question = f"{qa.question[:-1]} (part {count})?"
            qa = replace(qa, question=question, id=content_hash(qa.section_id, question))
        out.append(qa)
    return out


def distinct_across_pages(candidates: list[QAPair]) -> list[QAPair]:
    """The same question from different pages ("How do I add a gallery?" in the classic and
    the block editor guides) names its page, so each stays and none reads as a duplicate."""
    pages: dict[str, set[str]] = {}
    for qa in candidates:
        pages.setdefault(question_key(qa.question), set()).add(qa.source_url)
    out = []
    for qa in candidates:
        # The whole title: "(Classic Editor)" is what tells two gallery guides apart.
        title = _TRAILING_PUNCT.sub("", qa.heading_path[0].strip()) if qa.heading_path else ""
        if len(pages[question_key(qa.question)]) > 1 and title and title.lower() not in qa.question.lower():
            question = f"{qa.question.rstrip('?')} {swap_to_asker(context_phrase(title))}?"
            qa = replace(qa, question=question, id=content_hash(qa.section_id, question))
        out.append(qa)
    return out


def context_phrase(heading: str) -> str:
    """Where something happens, from a heading: "in Widgets", "when creating menus"."""
    task = task_from_heading(heading)
    if task:
        verb, _, obj = task.partition(" ")
        second = re.match(r"^(and|or) ([a-z-]+)\b(.*)$", obj)
        if second and second.group(2) in ACTION_VERBS:  # "create and organize pages"
            obj = f"{second.group(1)} {gerund(second.group(2))}{second.group(3)}"
        return f"when {gerund(verb)} {obj}".strip()
    return f"in {heading}"


def split_for_llm(sections: Iterable[Section], max_words: int = 40
                  ) -> tuple[list[QAPair], list[Section]]:
    """The hybrid backend's split: rules items, and the sections the LLM should see.

    A section goes to the LLM only when rules made nothing of it and did not find it to be
    something other than a procedure (a table of contents, an option list …).
    """
    items: list[QAPair] = []
    to_llm: list[Section] = []
    for section in sections:
        found, dropped = generate_from_section(section, max_words)
        items.extend(found)
        if not found and not any(r.reason in NOT_PROCEDURE for r in dropped):
            to_llm.append(section)
    return distinct_across_pages(items), to_llm
