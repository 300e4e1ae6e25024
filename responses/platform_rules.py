"""The platforms' rules for a reply, checked before an agent's reply is sent.

Pure functions, no database: the caller passes the channel, the text and the
time of the customer's last message. ``check_reply`` answers with every problem
at once, each a sentence the agent can act on, plus the length and the limit the
composer's counter shows.

X counts characters its own way (``weighted_length``); the other platforms count
Unicode code points. Leading and trailing whitespace is never sent (the reply
is stripped before it is recorded), so it is not counted either.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import Channel

# --- X's weighted length (twitter-text configuration "v3") -------------------
#
# Every code point weighs DEFAULT_WEIGHT except those in LIGHT_RANGES, which weigh
# SCALE (one character). An emoji sequence weighs DEFAULT_WEIGHT as a whole, and
# a URL weighs URL_LENGTH characters whatever its own length. The result is the
# weight sum divided by SCALE.

MAX_WEIGHTED_LENGTH = 280
SCALE = 100
DEFAULT_WEIGHT = 200
URL_LENGTH = 23  # X wraps every link in a t.co link of this length.
LIGHT_RANGES = (
    (0x0000, 0x10FF),  # Latin, Greek, Cyrillic, Hebrew, Arabic, Indic scripts, Thai, Georgian...
    (0x2000, 0x200D),  # spaces of various widths, zero-width (non-)joiners
    (0x2010, 0x201F),  # dashes and curly quotes
    (0x2032, 0x2037),  # primes
)


def _code_point_weight(code_point: int) -> int:
    for low, high in LIGHT_RANGES:
        if low <= code_point <= high:
            return SCALE
    return DEFAULT_WEIGHT


# Emoji. The stdlib's unicodedata knows nothing of emoji properties, so the
# Extended_Pictographic ranges of Unicode's emoji-data.txt are listed here
# (U+1FC00-U+1FFFD and other unassigned blocks are reserved for future emoji).
# The sequence grammar is UTS #51's: a pictograph with an optional presentation
# selector or skin tone, an optional tag sequence (subdivision flags), joined by
# ZWJs; plus flag pairs and keycaps. Any well-formed ZWJ sequence of up to four
# pictographs (the longest recommended ones: families, couples) counts as one
# emoji, not only those on Unicode's recommended list: a combination no font draws
# is rare in a reply, and counting it as one errs by a few characters at most. The
# caps on joins and tags keep a long chain from counting as a single emoji.
#
# Only sequences need care: a lone code point outside LIGHT_RANGES weighs
# DEFAULT_WEIGHT, emoji or not. © and ® default to text presentation and sit in
# the light range, so they count as emoji only when followed by U+FE0F.
_PICTOGRAPHIC_RANGES = (
    (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x2199),
    (0x21A9, 0x21AA), (0x231A, 0x231B), (0x2328, 0x2328), (0x2388, 0x2388), (0x23CF, 0x23CF),
    (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB), (0x25B6, 0x25B6),
    (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x2605), (0x2607, 0x2612), (0x2614, 0x2685),
    (0x2690, 0x2705), (0x2708, 0x2712), (0x2714, 0x2714), (0x2716, 0x2716), (0x271D, 0x271D),
    (0x2721, 0x2721), (0x2728, 0x2728), (0x2733, 0x2734), (0x2744, 0x2744), (0x2747, 0x2747),
    (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755), (0x2757, 0x2757), (0x2763, 0x2767),
    (0x2795, 0x2797), (0x27A1, 0x27A1), (0x27B0, 0x27B0), (0x27BF, 0x27BF), (0x2934, 0x2935),
    (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x3030, 0x3030),
    (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
    (0x1F000, 0x1F0FF), (0x1F10D, 0x1F10F), (0x1F12F, 0x1F12F), (0x1F16C, 0x1F171),
    (0x1F17E, 0x1F17F), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A), (0x1F1AD, 0x1F1E5),
    (0x1F201, 0x1F20F), (0x1F21A, 0x1F21A), (0x1F22F, 0x1F22F), (0x1F232, 0x1F23A),
    (0x1F23C, 0x1F23F), (0x1F249, 0x1F3FA), (0x1F400, 0x1F53D), (0x1F546, 0x1F64F),
    (0x1F680, 0x1F6FF), (0x1F774, 0x1F77F), (0x1F7D5, 0x1F7FF), (0x1F80C, 0x1F80F),
    (0x1F848, 0x1F84F), (0x1F85A, 0x1F85F), (0x1F888, 0x1F88F), (0x1F8AE, 0x1F8FF),
    (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945), (0x1F947, 0x1FAFF), (0x1FC00, 0x1FFFD),
)  # fmt: skip
_PICTOGRAPH = "[" + "".join(f"\\U{low:08X}-\\U{high:08X}" for low, high in _PICTOGRAPHIC_RANGES) + "]"
_SKIN_TONE = "[\\U0001F3FB-\\U0001F3FF]"
_TAGS = "[\\U000E0020-\\U000E007E]{1,6}\\U000E007F"  # e.g. the flags of England, Scotland, Wales
_EMOJI_ELEMENT = f"(?:{_PICTOGRAPH}(?:\\uFE0F|{_SKIN_TONE})?(?:{_TAGS})?|[\\u00A9\\u00AE]\\uFE0F|{_SKIN_TONE})"
_EMOJI = (
    "(?:[\\U0001F1E6-\\U0001F1FF]{2}"  # a flag: two regional indicators
    "|[0-9#*]\\uFE0F?\\u20E3"  # a keycap
    f"|{_EMOJI_ELEMENT}(?:\\u200D{_EMOJI_ELEMENT}){{0,3}})"
)

# URLs, as twitter-text's extractor finds them, simplified:
# - with a scheme: http:// or https://, a host name whose labels are letters,
#   digits and hyphens (any script; underscores only in subdomains) and whose last
#   label is alphabetic (any such TLD is taken: the agent pasted a real link);
# - without a scheme: an ASCII host name ending in a TLD from the lists below
#   (rarer new gTLDs are left out and then count as ordinary text); a name that is
#   one label plus a country code, such as "readme.md" or "file.py", counts only
#   with a path ("bit.ly/x"), except .co and .tv, as twitter-text has it;
# - neither may follow a letter, digit, @, $ or # (so e-mail addresses, cashtags
#   and hashtags are not links); a bare domain may not follow - _ . or / either;
# - each label is at most 63 characters once IDNA-encoded, the host at most 253;
# - then an optional port, path and query. A path or query does not end in
#   punctuation (the full stop closing a sentence is not part of the link) and
#   takes parentheses only in balanced pairs (Wikipedia links).
# Userinfo (user:password@host) and IP addresses are not taken.
_COUNTRY_CODE_TLDS = frozenset(
    """
    ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bv bw by bz
    ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et eu fi fj fk fm
    fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is
    it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm
    mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr
    ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg
    th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw
    """.split()
)
_GENERIC_TLDS = frozenset(
    """
    com net org edu gov mil int info biz name pro aero asia cat coop jobs mobi museum post tel travel xxx
    academy agency app art bank blog business care center city click cloud club community company consulting
    design dev digital direct email energy events expert finance fun games global group guide health help
    host inc live llc london ltd media money network news nyc one online page paris photo photography plus
    services shop site social software solutions space store studio support systems team tech today top
    tube tv video vip watch web website wiki work works world xyz zone
    """.split()
)
_SHORT_DOMAIN_CC_TLDS = frozenset({"co", "tv"})  # "t.co", "example.tv": links even without a path

_LETTERS = "a-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0300-\u036f\u0400-\u04ff\u1e00-\u1eff"
_PATH_CHAR = f"[{_LETTERS}!*';:=+,.$/%#\\[\\]\\-\u2013_~|&@]"
_PATH_END = f"[{_LETTERS}=_#/+\\-]"
_BALANCED = f"\\({_PATH_CHAR}+\\)"
_PATH = f"/(?:(?:{_PATH_CHAR}|{_BALANCED})*(?:{_PATH_END}|{_BALANCED}))?"
_QUERY = "\\?[a-z0-9!?*'();:&=+$/%#\\[\\]\\-_.,~|@]*[a-z0-9\\-_&=#/]"
_AFTER_TLD = "(?![0-9a-z@+\\-])"
_PORT = "(?::[0-9]{1,5})?"
# Atomic labels: a label is always its longest run, which keeps backtracking linear.
_LABEL = "(?>[^\\W_](?:[\\w\\-]*[^\\W_])?)"
_ASCII_LABEL = "(?>[a-z0-9](?:[a-z0-9_\\-]*[a-z0-9])?)"
_ANY_TLD = "(?:[a-z]{2,63}|xn--[a-z0-9\\-]{1,59}|[^\\W\\d_a-z]{2,63})"
_KNOWN_TLD = "(?:" + "|".join(sorted(_GENERIC_TLDS | _COUNTRY_CODE_TLDS, key=lambda tld: (-len(tld), tld))) + ")"
_URL_WITH_SCHEME = (
    f"(?<![a-z0-9@$#\uff20\uff03])https?://(?P<host>(?:{_LABEL}\\.)+{_ANY_TLD}){_AFTER_TLD}"
    f"{_PORT}(?:{_PATH})?(?:{_QUERY})?"
)
_URL_WITHOUT_SCHEME = (
    f"(?<![a-z0-9@$#\uff20\uff03\\-_./])(?P<bare_host>(?:{_ASCII_LABEL}\\.)+{_KNOWN_TLD}){_AFTER_TLD}"
    f"{_PORT}(?P<bare_path>{_PATH})?(?:{_QUERY})?"
)

_TOKEN = re.compile(
    f"(?P<url>{_URL_WITH_SCHEME}|{_URL_WITHOUT_SCHEME})|(?P<emoji>{_EMOJI})",
    re.IGNORECASE,
)


def _is_link(match: re.Match[str]) -> bool:
    """Whether a URL-shaped match is one X turns into a link (see the rules above)."""
    host = match["host"] or match["bare_host"]
    labels = host.split(".")
    if "_" in labels[-2]:  # underscores are tolerated in subdomains only
        return False
    try:
        encoded = [label.encode("idna") if not label.isascii() else label.encode() for label in labels]
    except UnicodeError:
        return False
    if any(len(label) > 63 for label in encoded) or len(b".".join(encoded)) > 253:
        return False
    if match["bare_host"] and not match["bare_path"]:
        tld = labels[-1].lower()
        if len(labels) == 2 and tld in _COUNTRY_CODE_TLDS and tld not in _SHORT_DOMAIN_CC_TLDS:
            return False
    return True


def weighted_length(text: str) -> int:
    """The length of ``text`` as X counts it against its 280-character limit.

    The text is NFC-normalised first (a letter and its combining accent count
    once). Then each URL counts 23 characters, each emoji sequence 2, each code
    point in LIGHT_RANGES 1, and every other code point (CJK, most symbols) 2.
    """
    text = unicodedata.normalize("NFC", text)
    weight = 0
    position = 0
    for match in _TOKEN.finditer(text):
        if match["url"] is not None and not _is_link(match):
            continue  # counted as ordinary text with what follows
        weight += sum(_code_point_weight(ord(char)) for char in text[position : match.start()])
        weight += URL_LENGTH * SCALE if match["url"] is not None else DEFAULT_WEIGHT
        position = match.end()
    weight += sum(_code_point_weight(ord(char)) for char in text[position:])
    return weight // SCALE


# --- The rules per channel ----------------------------------------------------


@dataclass(frozen=True)
class ReplyCheck:
    """The verdict on a reply: ``length`` is measured the way the channel measures it."""

    allowed: bool
    problems: tuple[str, ...]
    length: int
    limit: int | None


@dataclass(frozen=True)
class _Window:
    """How long after the customer's message the platform accepts an answer."""

    span: timedelta
    too_late: str  # formatted with {age}
    nothing_to_answer: str


@dataclass(frozen=True)
class _Rules:
    limit: int
    counted_x_way: bool
    too_long: str  # formatted with {limit} and {length}
    window: _Window | None = None


_X_POST = _Rules(MAX_WEIGHTED_LENGTH, True, "X allows {limit} characters (counted X's way); this reply has {length}.")
_X_DIRECT_MESSAGE = _Rules(10_000, False, "An X direct message allows {limit} characters; this reply has {length}.")
_FACEBOOK_COMMENT = _Rules(8_000, False, "A Facebook comment allows {limit} characters; this reply has {length}.")
_MESSENGER = _Rules(
    2_000,
    False,
    "Messenger allows {limit} characters; this reply has {length}.",
    _Window(
        timedelta(hours=24),
        "Messenger only allows replies within 24 hours of the customer's last message (their last was {age} ago): "
        "ask them to write again, or answer in public.",
        "Messenger only allows replies within 24 hours of the customer's last message, and there is no message "
        "from them to answer: ask them to write, or answer in public.",
    ),
)
# Meta's private replies: one Messenger message in answer to a Page comment, sent
# within 7 days of the comment; Messenger's 24-hour window does not apply to it.
_FACEBOOK_PRIVATE_REPLY = _Rules(
    2_000,
    False,
    "A private reply is a Messenger message, which allows {limit} characters; this reply has {length}.",
    _Window(
        timedelta(days=7),
        "Facebook only allows a private reply within 7 days of the customer's comment (theirs was {age} ago): "
        "answer in public instead.",
        "Facebook only allows a private reply to a customer's comment, and there is no comment from them to "
        "answer: answer in public instead.",
    ),
)
_SANDBOX_POST = _Rules(
    MAX_WEIGHTED_LENGTH,
    True,
    "The sandbox imitates X, which allows {limit} characters (counted X's way); this reply has {length}.",
)
_SANDBOX_MESSAGE = _Rules(
    10_000, False, "A sandbox private message allows {limit} characters; this reply has {length}."
)

# Mail has no length limit of its own; this one keeps a pasted document out of a reply (the composer shows no
# counter for it) and stays far below what the mail servers refuse (``EMAIL_MAX_MESSAGE_BYTES``).
_EMAIL = _Rules(100_000, False, "An email reply allows {limit} characters; this reply has {length}.")

# Our own web chat: no window (the visitor's widget loads the chat whenever it reconnects); a chat message is short.
_CHAT = _Rules(2_000, False, "A web chat message allows {limit} characters; this reply has {length}.")

_PUBLIC_RULES: dict[str, _Rules] = {
    Channel.X_PUBLIC: _X_POST,
    Channel.X_DM: _X_DIRECT_MESSAGE,
    Channel.FACEBOOK_PUBLIC: _FACEBOOK_COMMENT,
    Channel.FACEBOOK_MESSENGER: _MESSENGER,
    Channel.SANDBOX_PUBLIC: _SANDBOX_POST,
    Channel.SANDBOX_PRIVATE: _SANDBOX_MESSAGE,
    Channel.EMAIL: _EMAIL,
    Channel.CHAT: _CHAT,
}
# Answering privately on a public channel: an X DM to the author, a Facebook
# private reply to the comment, a sandbox private message. On a private channel
# nothing changes.
_PRIVATE_RULES: dict[str, _Rules] = {
    **_PUBLIC_RULES,
    Channel.X_PUBLIC: _X_DIRECT_MESSAGE,
    Channel.FACEBOOK_PUBLIC: _FACEBOOK_PRIVATE_REPLY,
    Channel.SANDBOX_PUBLIC: _SANDBOX_MESSAGE,
}

_BLANK = "The reply is empty: write something before sending."


def check_reply(
    channel: str,
    text: str,
    *,
    private: bool = False,
    last_customer_message_at: datetime | None,
    now: datetime,
) -> ReplyCheck:
    """Check a reply against the rules of the platform it goes to.

    ``private`` on a public channel means answering the customer privately.
    ``last_customer_message_at`` is when the customer last wrote (for a Facebook
    private reply, when they posted the comment answered); where a platform only
    accepts answers within a window of it, a reply is refused once the window has
    closed, and refused when there is nothing from the customer to answer.
    Both datetimes must be timezone-aware.
    """
    _require_aware(now, "now")
    if last_customer_message_at is not None:
        _require_aware(last_customer_message_at, "last_customer_message_at")

    sent = text.strip()  # what is actually sent: the reply is stripped when recorded
    problems: list[str] = []
    rules = (_PRIVATE_RULES if private else _PUBLIC_RULES).get(channel)
    if rules is None:
        problems.append(
            f"Switchboard does not know the rules of the channel {channel!r}, so it cannot send this reply: "
            "ask an administrator to check this conversation."
        )
    if _is_blank(sent):
        problems.append(_BLANK)
    if rules is None:
        return ReplyCheck(allowed=False, problems=tuple(problems), length=len(sent), limit=None)

    length = weighted_length(sent) if rules.counted_x_way else len(sent)
    if channel.startswith("x_") and _X_REFUSED & set(sent):
        problems.append("X refuses the invisible characters U+FFFE, U+FEFF and U+FFFF: remove them from the reply.")
    if length > rules.limit:
        problems.append(rules.too_long.format(limit=f"{rules.limit:,}", length=f"{length:,}"))
    if rules.window is not None:
        problem = _window_problem(rules.window, last_customer_message_at, now)
        if problem:
            problems.append(problem)
    return ReplyCheck(allowed=not problems, problems=tuple(problems), length=length, limit=rules.limit)


_X_REFUSED = frozenset("\ufffe\ufeff\uffff")
"""Code points twitter-text treats as invalid in a post."""


def _window_problem(window: _Window, last_customer_message_at: datetime | None, now: datetime) -> str:
    if last_customer_message_at is None:
        return window.nothing_to_answer
    # A timestamp slightly in the future (clocks disagree) is a message just received.
    age = max(now - last_customer_message_at, timedelta(0))
    # Refused at the boundary itself: the reply reaches the platform after this check.
    if age >= window.span:
        return window.too_late.format(age=_describe_age(age))
    return ""


def _is_blank(text: str) -> bool:
    """Nothing visible: only whitespace and invisible format characters (zero-width spaces, joiners, marks)."""
    return all(char.isspace() or unicodedata.category(char) in ("Cc", "Cf") for char in text)


def _describe_age(age: timedelta) -> str:
    """'26 hours', '24 hours and 1 minute', '9 days and 3 hours': hours up to two days, then days."""
    minutes = int(age.total_seconds()) // 60
    if minutes < 1:
        return "less than a minute"
    days, minutes = divmod(minutes, 24 * 60) if minutes >= 48 * 60 else (0, minutes)
    hours, minutes = divmod(minutes, 60)
    parts = [_count(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}.")
