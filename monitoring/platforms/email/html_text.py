"""HTML mail as plain text, with the standard library's ``html.parser``.

What is kept: the text, with block elements (paragraphs, divs, list items, table rows, headings) as line
breaks, ``<br>`` as a line break, list items as "- ", ``<blockquote>`` as "> " lines (so quoted history
folds like plain-text quotes), ``<pre>`` as it is, and entities decoded. Links become "text (url)" for
``http``, ``https`` and ``mailto`` only (the text alone when it already is the URL, nothing for a link
with no text); any other scheme (``javascript:``, ``data:``, ``cid:``, ``file:``) keeps only its text.

What is dropped: ``script``, ``style``, ``head``, ``title``, ``template`` and Outlook's ``xml`` islands with
their content, comments (Outlook's conditional ones too), and every image; an image's ``alt`` text stays,
in brackets, unless the image is a tracking pixel (at most 1x1, or hidden).

The result is plain text for a template that escapes it; nothing in it is markup.

``html.parser`` in CPython before 3.12.11/3.13.4 takes quadratic time on unclosed constructs (``"<a" *
100_000`` takes most of a minute): :func:`_defuse` first removes comments, declarations and processing
instructions and escapes every ``<`` that does not open a complete tag, in one linear pass, so the
parser only ever sees well-delimited tags.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

from monitoring.platforms.email.charsets import remove_unsafe

_SKIPPED = frozenset({"script", "style", "head", "title", "template", "xml"})
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "blockquote", "pre"})
_BLOCKS = _PARAGRAPHS | frozenset(
    {
        "address", "article", "aside", "caption", "center", "dd", "details", "dialog", "div", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav", "section", "summary",
        "tbody", "tfoot", "thead", "tr",
    }
)  # fmt: skip
_LINK_SCHEMES = ("http://", "https://", "mailto:")
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")
_SPACES = re.compile(r"[ \t\n\r\f\v\xa0]+")
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|(?:width|height)\s*:\s*[01](?:px)?\s*(?:;|$)")
MAX_URL_LENGTH = 2000


def html_to_text(html: str) -> str:
    """``html`` as tidy plain text (see the module docstring for what is kept and what is dropped)."""
    converter = _TextConverter()
    try:
        converter.feed(_defuse(remove_unsafe(html)))
        converter.close()
    except (AssertionError, ValueError, IndexError):  # html.parser's own errors on markup it gives up on
        pass
    return converter.text()


def _defuse(html: str) -> str:
    """``html`` with comments, ``<!...>`` and ``<?...>`` removed and stray ``<`` escaped, in linear time.

    An unclosed comment or declaration runs to the end, as in browsers. A ``<`` opens a tag only when a
    letter (or ``/`` and a letter) follows and a ``>`` comes before the next ``<``.
    """
    out: list[str] = []
    i, end = 0, len(html)
    next_gt = -1  # cached: str.find for every '<' would be quadratic on "<<<<..."
    while i < end:
        lt = html.find("<", i)
        if lt < 0:
            out.append(html[i:])
            break
        out.append(html[i:lt])
        if next_gt < lt + 1:
            next_gt = html.find(">", lt + 1)
            next_gt = end if next_gt < 0 else next_gt
        if html.startswith("<!--", lt):
            close = html.find("-->", lt + 4)
            if close < 0:
                break
            i = close + 3
            continue
        if html.startswith(("<!", "<?"), lt):
            i = next_gt + 1
            continue
        opens_tag = html[lt + 1 : lt + 2].isalpha() or (
            html[lt + 1 : lt + 2] == "/" and html[lt + 2 : lt + 3].isalpha()
        )
        next_lt = html.find("<", lt + 1, next_gt)
        if opens_tag and next_gt < end and next_lt < 0:
            out.append(html[lt : next_gt + 1])
            i = next_gt + 1
        else:
            out.append("&lt;")
            i = lt + 1
    return "".join(out)


class _TextConverter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.line_depth = 0
        self.pre_line = False
        self.quote_depth = 0
        self.pre_depth = 0
        self.skipping: Counter[str] = Counter()
        self.links: list[tuple[str, int]] = []  # (url, length of the text collected when the link opened)
        self.link_text: list[str] = []
        self.lists: list[list[int]] = []  # one [counter] per open <ol>, [-1] per <ul>

    # --- Lines --------------------------------------------------------------------------------------

    def _flush(self) -> None:
        text = "".join(self.line)
        text = text.rstrip() if self.pre_line else _SPACES.sub(" ", text).strip()
        if text:
            self.lines.append(("> " * self.line_depth) + text)
        self.line, self.pre_line = [], False

    def _break(self, *, paragraph: bool = False) -> None:
        self._flush()
        if paragraph and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def _write(self, text: str) -> None:
        if not self.line:
            self.line_depth = self.quote_depth
        self.line.append(text)
        if self.links:
            self.link_text.append(text)

    def text(self) -> str:
        self._flush()
        tidy: list[str] = []
        for line in self.lines:
            blank = not line.strip(" >")
            if blank and (not tidy or not tidy[-1].strip(" >")):
                continue
            tidy.append(line.rstrip())
        while tidy and not tidy[-1].strip(" >"):
            tidy.pop()
        return remove_unsafe("\n".join(tidy).replace("\xa0", " "))

    # --- Parser events ------------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skipping["head"] = self.skipping["title"] = 0  # an unclosed <head> ends where <body> starts
        if tag in _SKIPPED:
            self.skipping[tag] += 1
            return
        if any(self.skipping.values()):
            return
        values = {name: (value or "") for name, value in attrs}
        if tag in _BLOCKS:
            self._break(paragraph=tag in _PARAGRAPHS)
        if tag == "blockquote":
            self.quote_depth += 1
        elif tag == "pre":
            self.pre_depth += 1
        elif tag == "br":
            if self.line:
                self._flush()
            else:
                self.lines.append("")
        elif tag == "hr":
            self._write("---")
            self._flush()
        elif tag in ("ul", "ol"):
            self.lists.append([0 if tag == "ol" else -1])
        elif tag == "li":
            self._start_item()
        elif tag in ("td", "th"):
            self._write(" ")
        elif tag == "img":
            self._image(values)
        elif tag == "a":
            self.links.append((_link_target(values.get("href", "")), len(self.link_text)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            if self.skipping[tag] > 0:
                self.skipping[tag] -= 1
            return
        if any(self.skipping.values()):
            return
        if tag == "a" and self.links:
            self._end_link()
        elif tag in ("td", "th"):
            self._write(" ")
        if tag in _BLOCKS:
            self._break(paragraph=tag in _PARAGRAPHS)
        if tag == "blockquote" and self.quote_depth:
            self.quote_depth -= 1
            self._break(paragraph=True)
        elif tag == "pre" and self.pre_depth:
            self.pre_depth -= 1
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()

    def handle_data(self, data: str) -> None:
        if any(self.skipping.values()):
            return
        if not self.pre_depth:
            self._write(data)
            return
        first, *rest = data.split("\n")
        self._write(first)
        self.pre_line = True
        for piece in rest:
            self._flush()
            self._write(piece)
            self.pre_line = True

    # --- Elements -----------------------------------------------------------------------------------

    def _start_item(self) -> None:
        if self.lists and self.lists[-1][0] >= 0:
            self.lists[-1][0] += 1
            self._write(f"{self.lists[-1][0]}. ")
        else:
            self._write("- ")

    def _image(self, values: dict[str, str]) -> None:
        if _is_tracking_pixel(values):
            return
        alt = _SPACES.sub(" ", values.get("alt", "")).strip()
        if alt:
            self._write(f"[{alt}]")

    def _end_link(self) -> None:
        url, start = self.links.pop()
        text = _SPACES.sub(" ", "".join(self.link_text[start:])).strip()
        if not self.links:
            self.link_text = []
        if url and text and text not in (url, url.removeprefix("mailto:")):
            self._write(f" ({url})")


def _link_target(href: str) -> str:
    """``href`` when it is an http(s) or mailto URL we may show, else ""."""
    url = _URL_NOISE.sub("", href)
    if len(url) > MAX_URL_LENGTH or not url.lower().startswith(_LINK_SCHEMES):
        return ""
    return url


def _is_tracking_pixel(values: dict[str, str]) -> bool:
    for dimension in ("width", "height"):
        digits = values.get(dimension, "").strip().removesuffix("px").strip()
        if digits.isdigit() and int(digits) <= 1:
            return True
    return bool(_HIDDEN.search(values.get("style", "").lower()))
