"""Quoted history and signatures, found in a message's text so the console can fold them away.

``fold(text)`` splits ``text`` into three consecutive pieces, ``main + quoted + signature == text``
exactly (nothing is lost, nothing rewritten; the stored text is never folded, only its display):

- ``signature``: a trailing block after a ``-- `` (or ``--``) line, at most 15 lines, with no quoted line
  and no history marker in it;
- ``quoted``: the history that ends the message before that signature, starting at the earliest of
    - an Outlook/Thunderbird ``-----Original Message-----`` line (English, German, French, Spanish,
      Italian, Dutch), with everything after it;
    - an Outlook header block (``From:`` then ``Sent:``/``Date:`` within 4 lines and ``Subject:`` within
      6, in the same languages), with everything after it, and the ``____`` rule above it;
    - the trailing run of ``>``-quoted (and blank) lines, with the attribution above it: "On ... wrote:",
      "Le ... a écrit :", "Am ... schrieb ...:", "El ... escribió:", "Il ... ha scritto:", "Op ...
      schreef ...:", "Em ... escreveu:" (up to three lines, as Gmail wraps it), or any "... wrote:" line;
  and a signature directly above the history (top-posting: reply, signature, history) folds with it;
- ``main``: everything before.

A forwarded message is content, not history: a header block right after "Forwarded message" / "Begin
forwarded message:" (or with a ``Fwd:``/``FW:`` subject) is not folded. Quoted lines between parts of a
reply (inline answers) stay in ``main``: only the history that ends the message is folded.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_SIGNATURE_LINES = 15
_ATTRIBUTION_LINES = 3

_ATTRIBUTIONS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"On\b.{0,300}\bwrote\s?:",
        r"Le\b.{0,300}\ba écrit\s?:",
        r"Am\b.{0,300}\bschrieb\b.{0,300}:",
        r"El\b.{0,300}\bescribió\s?:",
        r"Il\b.{0,300}\bha scritto\s?:",
        r"Op\b.{0,300}\bschreef\b.{0,300}:",
        r"Em\b.{0,300}\bescreveu\s?:",
    )
]
_ANY_WROTE = re.compile(r".{1,300}\bwrote\s?:", re.IGNORECASE)
_ORIGINAL_MESSAGE = re.compile(
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale"
    r"|oorspronkelijk bericht)\s*-{2,}",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"\*?(?:from|de|von|van|da)\s?:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"\*?(?:sent|date|envoyé|gesendet|enviado|fecha|datum|inviato|data|verzonden)\s?:\*?", re.IGNORECASE
)
_HEADER_SUBJECT = re.compile(r"\*?(?:subject|objet|betreff|asunto|oggetto|onderwerp|assunto)\s?:\*?(.*)", re.IGNORECASE)
_FORWARD_SUBJECT = re.compile(r"\s*(?:fwd?|fw|wg|tr|rv|i)\s?:", re.IGNORECASE)
_FORWARD_INTRO = re.compile(
    r"forwarded message|begin forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado",
    re.IGNORECASE,
)
_RULE = re.compile(r"[_\-=]{10,}")


class Folded(NamedTuple):
    main: str
    quoted: str
    signature: str


def fold(text: str) -> Folded:
    """``text`` as (main, quoted history, trailing signature), ``main + quoted + signature == text``."""
    lines = text.splitlines(keepends=True)
    signature = _trailing_signature(lines)
    history = _history_start(lines[:signature])
    if history < signature:
        history = _signature_above(lines, history)
    return Folded("".join(lines[:history]), "".join(lines[history:signature]), "".join(lines[signature:]))


def _content(line: str) -> str:
    return line.strip()


def _is_quoted(line: str) -> bool:
    return line.lstrip(" \t").startswith(">")


def _is_delimiter(line: str) -> bool:
    return line.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") in ("-- ", "--")


def _is_marker(lines: list[str], index: int) -> bool:
    return bool(_ORIGINAL_MESSAGE.fullmatch(_content(lines[index]))) or _header_block_at(lines, index)


def _trailing_signature(lines: list[str]) -> int:
    """The index of the delimiter of the signature that ends ``lines``, or ``len(lines)``."""
    for index in range(len(lines) - 1, max(-1, len(lines) - MAX_SIGNATURE_LINES - 2), -1):
        if _is_delimiter(lines[index]):
            after = range(index + 1, len(lines))
            if not any(_is_quoted(lines[i]) or _is_marker(lines, i) for i in after):
                return index
            return len(lines)
    return len(lines)


def _signature_above(lines: list[str], history: int) -> int:
    """Where a signature that sits right above ``history`` starts (the delimiter), or ``history``."""
    for index in range(history - 1, max(-1, history - MAX_SIGNATURE_LINES - 2), -1):
        if _is_quoted(lines[index]):
            return history
        if _is_delimiter(lines[index]):
            return index
    return history


def _history_start(lines: list[str]) -> int:
    """The index where the history that ends ``lines`` starts, or ``len(lines)`` when there is none."""
    candidates = [len(lines)]
    for index in range(len(lines)):
        if _is_quoted(lines[index]):
            continue
        if _ORIGINAL_MESSAGE.fullmatch(_content(lines[index])) or _header_block_at(lines, index):
            candidates.append(_with_rule_above(lines, index))
            break
    quoted = _trailing_quote(lines)
    if quoted is not None:
        candidates.append(_with_attribution_above(lines, quoted))
    return min(candidates)


def _header_block_at(lines: list[str], index: int) -> bool:
    """Whether an Outlook-style reply header block (not a forward's) starts at ``index``."""
    if not _HEADER_FROM.match(_content(lines[index])):
        return False
    window = [_content(line) for line in lines[index + 1 : index + 7]]
    if not any(_HEADER_SENT.match(line) for line in window[:4]):
        return False
    subjects = [match for line in window if (match := _HEADER_SUBJECT.match(line))]
    if not subjects or _FORWARD_SUBJECT.match(subjects[0].group(1)):
        return False
    above = _previous_content(lines, index)
    return above is None or not _FORWARD_INTRO.search(_content(lines[above]))


def _previous_content(lines: list[str], index: int) -> int | None:
    for above in range(index - 1, -1, -1):
        if _content(lines[above]):
            return above
    return None


def _with_rule_above(lines: list[str], index: int) -> int:
    above = _previous_content(lines, index)
    return above if above is not None and _RULE.fullmatch(_content(lines[above])) else index


def _trailing_quote(lines: list[str]) -> int | None:
    """The first quoted line of the run of quoted and blank lines that ends ``lines``, if any."""
    start = None
    for index in range(len(lines) - 1, -1, -1):
        if _is_quoted(lines[index]):
            start = index
        elif _content(lines[index]):
            break
    return start


def _with_attribution_above(lines: list[str], quoted: int) -> int:
    """``quoted``, or the first line of the attribution ("On ... wrote:") just above it."""
    last = _previous_content(lines, quoted)
    if last is None:
        return quoted
    for span in range(_ATTRIBUTION_LINES, 0, -1):
        first = last - span + 1
        if first < 0 or any(not _content(line) or _is_quoted(line) for line in lines[first : last + 1]):
            continue
        joined = " ".join(_content(line) for line in lines[first : last + 1])
        if any(pattern.fullmatch(joined) for pattern in _ATTRIBUTIONS):
            return first
        if span == 1 and _ANY_WROTE.fullmatch(joined):
            return first
    return quoted
