"""Name the list entry an answer comes from, when the question asks which one it is (pure).

In a definition list (a man page's options, a glossary, a table of users and groups) the
thing described is the entry's term, not a word of its sentences: "Members of this group can
read many log files in /var/log" is the answer to "Which group can read the logs?" only with
its term, ``adm``.  Plain-text layout puts the term in the chunk's heading
(``knowledge.text_layout``: "Chapter 2. Users and Groups > adm"), so when the question asks
*which* thing and the spoken answer does not name the entry, the term goes in front:
"adm: Members of this group can read many log files in /var/log".  Still only words of the
document (its heading), so the answer stays grounded.
"""

from __future__ import annotations

import re

from xnai_edge.knowledge.text import STOPWORDS, words

_AUXILIARY = frozenset("is are was were do does did can could should would will shall may "
                       "might must has have had happens happened".split())
_ASKS_WHICH = re.compile(r"(?:^\s*|,\s*)(?:(?:which|what)\s+(?P<noun>[\w'-]+)|who|whom|whose)\b",
                         re.IGNORECASE)
MAX_TERM_TOKENS = 4


_ASKS_HOW = re.compile(r"^\s*how\s+(?:(?:do|can|could|should|would|will)\s+(?:i|we|you)|to)\b",
                       re.IGNORECASE)
_ARGUMENTS = re.compile(r"\s*(?:\[[^\]]*\]|<[^>]*>)")
_SETTING = re.compile(r"^(?:-|[\w.-]*_[\w.-]*\b|[\w.-]+=)")
_NUMBERED = re.compile(r"^\s*(?:\d+\.)+\d*\s+")


def asks_which(question: str) -> bool:
    """'Which group ...', 'What option ...', 'Who ...': the answer is the name of a thing;
    also after a leading condition ('If an interface is both allowed and denied, which option
    wins?')."""
    m = _ASKS_WHICH.search(question)
    if m is None:
        return False
    noun = m.group("noun")
    return noun is None or noun.lower() not in _AUXILIARY


def asks_how(question: str) -> bool:
    """'How do I ...', 'How can we ...', 'How to ...': in a manual, often answered by setting
    an option."""
    return _ASKS_HOW.match(question) is not None


def is_setting(term: str) -> bool:
    """An option or setting's name ("-k --keep", "include_dir", "Storage="), not a word of
    prose ("adm", "nobody, nogroup")."""
    return _SETTING.match(term) is not None


def entry_term(heading: str) -> str:
    """The innermost heading when it reads as an entry's term ("-k --keep", "plugdev",
    "nobody, nogroup", "connection_messages" of "connection_messages [ true | false ]") under a
    section, not a section title ("BUGS", "Adding your documents"); '' otherwise."""
    if " > " not in heading:
        return ""
    # "connection_messages [ true | false ]": the term without its argument syntax; "1.1.
    # Version": a numbered section's title without its number (so no term either).
    term = _NUMBERED.sub("", _ARGUMENTS.sub("", heading.rsplit(" > ", 1)[-1])).strip()
    tokens = term.split()
    if not tokens or len(tokens) > MAX_TERM_TOKENS:
        return ""
    if any(t.isalpha() and t.lower() in STOPWORDS for t in tokens):
        return ""
    if all(t.isalpha() for t in tokens) and (len(tokens) > 1 or term[0].isupper()):
        return ""  # a section's title ("Special Linux UIDs", "Summary"), not an entry's term
    return term


def name_entry(question: str, heading: str, answer: str) -> str:
    """``answer`` with its entry's term in front when the question asks which one it is (or
    how to do something, and the entry is an option: "How do I force a listener to use only
    IPv4?" -> "socket_domain: Set to ipv4 to ...") and neither the question nor the answer
    names it already."""
    term = entry_term(heading)
    if not term or not (asks_which(question) or (asks_how(question) and is_setting(term))):
        return answer
    named = set(words(term))  # exact words: "ttys" in the answer does not name "tty"
    if not named or named <= set(words(answer)) or named <= set(words(question)):
        return answer
    return f"{term}: {answer}"
