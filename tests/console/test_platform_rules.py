"""The platforms' rules for a reply: X's weighted length, each channel's limits and answer windows."""

from __future__ import annotations

import string
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.models import Channel
from responses.platform_rules import ReplyCheck, check_reply, weighted_length

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
LONG_URL = "https://www.example.com/support/articles/2025/how-to-reset-your-password?utm_source=x&ref=care"


def check(
    channel: str, text: str, *, private: bool = False, ago: timedelta | None = timedelta(minutes=5)
) -> ReplyCheck:
    """A reply checked now, the customer having last written ``ago`` earlier (None: never)."""
    last = None if ago is None else NOW - ago
    return check_reply(channel, text, private=private, last_customer_message_at=last, now=NOW)


# --- weighted_length: X's count ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world", 11),
        ("", 0),
        ("line one\nline two", 17),
        # Latin-1 and other scripts below U+1100 count 1.
        ("àéîõü ñ ç ß", 11),
        ("Здравствуйте", 12),
        ("مرحبا", 5),
        # Curly quotes, dashes and primes count 1.
        ("\u201cquoted\u201d \u2014 \u2018yes\u2019 \u2013 6\u2032", 21),
        # CJK, kana and hangul count 2.
        ("你好", 4),
        ("こんにちは", 10),
        ("안녕", 4),
        # Symbols outside the light ranges count 2.
        ("€", 2),
        ("™", 2),
        # Characters outside the Basic Multilingual Plane count 2 each, not per UTF-16 unit.
        ("\U0001d400", 2),
    ],
)
def test_it_weighs_characters_by_script(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("👍", 2),
        ("😷👾😡🔥💩", 10),
        ("👨\u200d👩\u200d👧", 2),  # a family: one ZWJ sequence
        ("👨\u200d👩\u200d👧\u200d👦", 2),
        ("🇬🇧", 2),  # a flag: two regional indicators
        ("🇬🇧🇫🇷", 4),
        ("👋🏽", 2),  # skin tone
        ("🧑🏽\u200d🤝\u200d🧑🏻", 2),  # skin tones inside a ZWJ sequence
        ("❤️", 2),  # with its emoji presentation selector
        ("🏳️\u200d🌈", 2),
        ("1️⃣", 2),  # keycap
        ("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", 2),  # Scotland: a tag sequence
        ("Thanks! 🙏🏼", 10),
        ("©", 1),  # text presentation: an ordinary Latin-1 character
        ("©️", 2),  # emoji presentation
    ],
)
def test_each_emoji_sequence_counts_two(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


def test_a_chain_of_joined_emoji_does_not_count_as_one() -> None:
    # The longest real ZWJ sequences join four pictographs; a longer chain is split.
    chain = "\u200d".join(["👨"] * 8)
    assert weighted_length(chain) == 2 + 1 + 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("e\u0301", 1),  # e + combining acute → é
        ("cafe\u0301 cre\u0300me", 10),
        ("A\u030a", 1),  # Å
        ("\u1100\u1161", 2),  # conjoining jamo compose into one hangul syllable
    ],
)
def test_the_text_is_normalised_before_counting(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (LONG_URL, 23),
        ("http://test.co", 23),
        ("Hi http://test.co", 26),
        (f"See {LONG_URL} for the steps.", 4 + 23 + 15),
        (f"{LONG_URL} {LONG_URL} {LONG_URL}", 3 * 23 + 2),
        ("https://www.twitter.com/aloha " * 10, 10 * 24),
        ("HTTPS://WWW.EXAMPLE.COM/Index.html", 23),
        ("https://example.com:8443/login", 23),
        ("https://en.wikipedia.org/wiki/Switchboard_(telephony)", 23),
        ("https://例え.jp/お問い合わせ", 23 + 12),  # an IDN host; the path stops at the first CJK character
        # Without a scheme, as X links them.
        ("example.com", 23),
        ("www.example.com", 23),
        ("status.example.co.uk/incidents/42", 23),
        ("t.co", 23),
        ("bit.ly/3xYz", 23),
        ("example.com/path/to/resource?search=foo&lang=en", 23),
        # The full stop, comma or bracket closing a sentence is not part of the link.
        ("Try example.com.", 4 + 23 + 1),
        ("(see https://example.com/help), thanks", 1 + 4 + 23 + 9),
        ("Is it https://example.com/faq?", 6 + 23 + 1),
    ],
)
def test_each_url_counts_23(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "readme.md",  # one label and a country code, no path: a file name, not a link
        "e.g.",
        "node.js",
        "ana@example.com",  # e-mail addresses are not links
        "#example.com",
        "$ACME.com",
        "ftp://example.com/file",
        "https://localhost/admin",
        "3.14159",
        "randomurl" * 7 + "s.com",  # a label longer than 63 characters
    ],
)
def test_text_that_only_looks_like_a_url_counts_as_text(text: str) -> None:
    assert weighted_length(text) == len(text)


def test_a_host_that_is_too_long_once_encoded_is_not_a_link() -> None:
    kana = "あいうえおかきくけこ" * 6
    fits = "http://" + kana[:52] + ".com"  # xn--… is 63 characters
    too_long = "http://" + kana[:53] + ".com"  # 64
    assert weighted_length(fits) == 23
    assert weighted_length(too_long) == 7 + 53 * 2 + 4


def test_long_and_mixed_texts_add_up() -> None:
    assert weighted_length("x" * 280) == 280
    assert weighted_length("你" * 140) == 280
    assert weighted_length("the" + "你" * 160) == 323
    assert weighted_length("👨\u200d👩\u200d👧\u200d👦" * 140) == 280
    assert weighted_length("ABC\u202a\uffffABC\ufffe") == 12


@given(st.text(alphabet=string.ascii_letters + string.digits + " ,;!?'()-\n"))
def test_plain_ascii_without_links_counts_one_per_character(text: str) -> None:
    assert weighted_length(text) == len(text)


@given(st.text(max_size=200))
def test_composed_and_decomposed_text_count_the_same(text: str) -> None:
    assert weighted_length(unicodedata.normalize("NFD", text)) == weighted_length(text)


@given(st.text(alphabet="你好谢谢こんにちは안녕하세요", max_size=300))
def test_cjk_text_counts_two_per_character(text: str) -> None:
    assert weighted_length(text) == 2 * len(text)


# --- check_reply: X ------------------------------------------------------------


def test_an_x_reply_of_280_characters_is_allowed() -> None:
    verdict = check(Channel.X_PUBLIC, "x" * 280)
    assert verdict == ReplyCheck(allowed=True, problems=(), length=280, limit=280)


def test_an_x_reply_of_281_characters_is_refused() -> None:
    verdict = check(Channel.X_PUBLIC, "x" * 281)
    assert not verdict.allowed
    assert verdict.problems == ("X allows 280 characters (counted X's way); this reply has 281.",)
    assert (verdict.length, verdict.limit) == (281, 280)


def test_an_x_reply_is_counted_the_x_way() -> None:
    assert check(Channel.X_PUBLIC, "你" * 140).allowed
    refused = check(Channel.X_PUBLIC, "你" * 141)
    assert not refused.allowed
    assert refused.length == 282
    # A long link counts 23, so this 300-character reply fits.
    with_link = "a" * 200 + " " + LONG_URL
    assert len(with_link) > 280
    assert check(Channel.X_PUBLIC, with_link) == ReplyCheck(allowed=True, problems=(), length=224, limit=280)


def test_whitespace_around_the_reply_is_not_counted() -> None:
    # The reply is stripped before it is sent.
    verdict = check(Channel.X_PUBLIC, "\n  " + "x" * 280 + "  \n\n")
    assert verdict.allowed
    assert verdict.length == 280


def test_an_x_direct_message_allows_10000_characters() -> None:
    assert check(Channel.X_DM, "x" * 10_000).allowed
    refused = check(Channel.X_DM, "x" * 10_001)
    assert refused.problems == ("An X direct message allows 10,000 characters; this reply has 10,001.",)
    assert refused.limit == 10_000


def test_an_x_direct_message_counts_characters_not_weights() -> None:
    verdict = check(Channel.X_DM, "你" * 5_000)
    assert verdict.allowed
    assert verdict.length == 5_000


def test_an_x_direct_message_has_no_window() -> None:
    assert check(Channel.X_DM, "Hello", ago=timedelta(days=30)).allowed
    assert check(Channel.X_DM, "Hello", ago=None).allowed


def test_answering_an_x_post_privately_follows_the_direct_message_rules() -> None:
    verdict = check(Channel.X_PUBLIC, "x" * 1_000, private=True)
    assert verdict == ReplyCheck(allowed=True, problems=(), length=1_000, limit=10_000)
    assert "direct message allows 10,000" in check(Channel.X_PUBLIC, "x" * 10_001, private=True).problems[0]


# --- check_reply: Facebook ------------------------------------------------------


def test_a_facebook_comment_reply_allows_8000_characters() -> None:
    assert check(Channel.FACEBOOK_PUBLIC, "x" * 8_000).allowed
    refused = check(Channel.FACEBOOK_PUBLIC, "x" * 8_001)
    assert refused.problems == ("A Facebook comment allows 8,000 characters; this reply has 8,001.",)
    assert (refused.length, refused.limit) == (8_001, 8_000)


def test_a_facebook_comment_reply_has_no_window() -> None:
    assert check(Channel.FACEBOOK_PUBLIC, "Thanks!", ago=timedelta(days=60)).allowed
    assert check(Channel.FACEBOOK_PUBLIC, "Thanks!", ago=None).allowed


def test_a_messenger_reply_allows_2000_characters() -> None:
    assert check(Channel.FACEBOOK_MESSENGER, "x" * 2_000).allowed
    refused = check(Channel.FACEBOOK_MESSENGER, "x" * 2_001)
    assert refused.problems == ("Messenger allows 2,000 characters; this reply has 2,001.",)
    assert refused.limit == 2_000


def test_a_messenger_reply_is_allowed_just_inside_24_hours() -> None:
    assert check(Channel.FACEBOOK_MESSENGER, "Hello", ago=timedelta(hours=23, minutes=59)).allowed


def test_a_messenger_reply_is_refused_just_after_24_hours() -> None:
    verdict = check(Channel.FACEBOOK_MESSENGER, "Hello", ago=timedelta(hours=24, minutes=1))
    assert not verdict.allowed
    assert verdict.problems == (
        "Messenger only allows replies within 24 hours of the customer's last message "
        "(their last was 24 hours and 1 minute ago): ask them to write again, or answer in public.",
    )
    # The composer still gets the limit for its counter.
    assert (verdict.length, verdict.limit) == (5, 2_000)


def test_the_messenger_refusal_says_how_long_ago_the_customer_wrote() -> None:
    verdict = check(Channel.FACEBOOK_MESSENGER, "Hello", ago=timedelta(hours=26))
    assert verdict.problems == (
        "Messenger only allows replies within 24 hours of the customer's last message "
        "(their last was 26 hours ago): ask them to write again, or answer in public.",
    )
    assert (
        "(their last was 3 days and 4 hours ago)"
        in check(Channel.FACEBOOK_MESSENGER, "Hello", ago=timedelta(days=3, hours=4)).problems[0]
    )


def test_a_messenger_reply_with_no_customer_message_is_refused() -> None:
    verdict = check(Channel.FACEBOOK_MESSENGER, "Hello", ago=None)
    assert not verdict.allowed
    assert "no message from them to answer" in verdict.problems[0]


def test_a_customer_message_stamped_a_little_in_the_future_is_answerable() -> None:
    # Clocks disagree by a few seconds; the message has just arrived.
    assert check(Channel.FACEBOOK_MESSENGER, "Hello", ago=-timedelta(seconds=30)).allowed


def test_a_messenger_reply_marked_private_is_still_a_messenger_reply() -> None:
    assert not check(Channel.FACEBOOK_MESSENGER, "Hello", private=True, ago=timedelta(hours=25)).allowed


def test_a_messenger_reply_too_long_and_too_late_lists_both_problems() -> None:
    verdict = check(Channel.FACEBOOK_MESSENGER, "x" * 2_500, ago=timedelta(hours=30))
    assert not verdict.allowed
    assert len(verdict.problems) == 2
    assert verdict.problems[0].startswith("Messenger allows 2,000 characters")
    assert verdict.problems[1].startswith("Messenger only allows replies within 24 hours")


def test_a_private_reply_to_a_comment_follows_messengers_length_limit() -> None:
    assert check(Channel.FACEBOOK_PUBLIC, "x" * 2_000, private=True).allowed
    refused = check(Channel.FACEBOOK_PUBLIC, "x" * 2_001, private=True)
    assert not refused.allowed
    assert refused.limit == 2_000
    assert "2,000 characters; this reply has 2,001." in refused.problems[0]


def test_a_private_reply_to_a_comment_has_7_days_not_24_hours() -> None:
    assert check(Channel.FACEBOOK_PUBLIC, "Hello", private=True, ago=timedelta(hours=30)).allowed
    assert check(Channel.FACEBOOK_PUBLIC, "Hello", private=True, ago=timedelta(days=6, hours=23)).allowed
    refused = check(Channel.FACEBOOK_PUBLIC, "Hello", private=True, ago=timedelta(days=7, hours=2))
    assert refused.problems == (
        "Facebook only allows a private reply within 7 days of the customer's comment "
        "(theirs was 7 days and 2 hours ago): answer in public instead.",
    )


def test_a_private_reply_with_no_comment_is_refused() -> None:
    verdict = check(Channel.FACEBOOK_PUBLIC, "Hello", private=True, ago=None)
    assert not verdict.allowed
    assert "answer in public instead" in verdict.problems[0]


# --- check_reply: sandbox -------------------------------------------------------


def test_a_sandbox_public_reply_imitates_x() -> None:
    assert check(Channel.SANDBOX_PUBLIC, "x" * 280).allowed
    refused = check(Channel.SANDBOX_PUBLIC, "你" * 141)
    assert refused.problems == (
        "The sandbox imitates X, which allows 280 characters (counted X's way); this reply has 282.",
    )
    assert (refused.length, refused.limit) == (282, 280)


def test_a_sandbox_private_message_allows_10000_characters_without_a_window() -> None:
    assert check(Channel.SANDBOX_PRIVATE, "x" * 10_000, ago=None).allowed
    assert check(Channel.SANDBOX_PRIVATE, "x" * 10_000, ago=timedelta(days=90)).allowed
    refused = check(Channel.SANDBOX_PRIVATE, "x" * 10_001)
    assert refused.problems == ("A sandbox private message allows 10,000 characters; this reply has 10,001.",)


def test_answering_a_sandbox_post_privately_follows_the_private_message_rules() -> None:
    verdict = check(Channel.SANDBOX_PUBLIC, "x" * 500, private=True, ago=None)
    assert verdict == ReplyCheck(allowed=True, problems=(), length=500, limit=10_000)


# --- check_reply: every channel -------------------------------------------------


@pytest.mark.parametrize("channel", Channel.values)
@pytest.mark.parametrize("text", ["", "   ", "\n\t \n", "\u00a0\u3000", "\u200b\u200d"])
def test_a_blank_reply_is_refused_on_every_channel(channel: str, text: str) -> None:
    verdict = check(channel, text)
    assert not verdict.allowed
    assert "The reply is empty: write something before sending." in verdict.problems
    assert verdict.limit is not None


@pytest.mark.parametrize(
    ("channel", "private", "limit"),
    [
        (Channel.X_PUBLIC, False, 280),
        (Channel.X_PUBLIC, True, 10_000),
        (Channel.X_DM, False, 10_000),
        (Channel.FACEBOOK_PUBLIC, False, 8_000),
        (Channel.FACEBOOK_PUBLIC, True, 2_000),
        (Channel.FACEBOOK_MESSENGER, False, 2_000),
        (Channel.SANDBOX_PUBLIC, False, 280),
        (Channel.SANDBOX_PUBLIC, True, 10_000),
        (Channel.SANDBOX_PRIVATE, False, 10_000),
        (Channel.EMAIL, False, 100_000),
        (Channel.EMAIL, True, 100_000),
    ],
)
def test_each_channel_has_its_limit(channel: str, private: bool, limit: int) -> None:
    verdict = check(channel, "Hello, how can we help?", private=private)
    assert verdict.allowed
    assert verdict.limit == limit


def test_an_unknown_channel_is_refused() -> None:
    verdict = check("carrier_pigeon", "Hello")
    assert not verdict.allowed
    assert verdict.limit is None
    assert verdict.length == 5
    assert len(verdict.problems) == 1
    assert "'carrier_pigeon'" in verdict.problems[0]


def test_naive_datetimes_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_reply(Channel.X_PUBLIC, "Hello", last_customer_message_at=None, now=datetime(2025, 6, 10, 12, 0))
    with pytest.raises(ValueError, match="last_customer_message_at"):
        check_reply(
            Channel.FACEBOOK_MESSENGER,
            "Hello",
            last_customer_message_at=datetime(2025, 6, 10, 11, 0),
            now=NOW,
        )


@pytest.mark.parametrize("char", ["\ufffe", "\ufeff", "\uffff"])
def test_x_refuses_the_code_points_it_treats_as_invalid(char: str) -> None:
    verdict = check_reply("x_public", f"Hello{char}there", last_customer_message_at=None, now=NOW)
    assert not verdict.allowed and "U+FEFF" in verdict.problems[0]
    assert check_reply("facebook_public", f"Hello{char}there", last_customer_message_at=None, now=NOW).allowed
