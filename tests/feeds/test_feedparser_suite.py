"""feedparser's own test suite (../shared/corpus/feedparser, ~2,100 files), read by our parser
and by feedparser itself: feed title, and per entry title, link, date, content text and guid
must agree, file by file, except for the known differences listed below, each with its reason
and a check of the reason. A crash (anything but FeedParseError) fails.

Figures: `python -m tests.feeds.test_feedparser_suite` (from the repository root).
"""
from __future__ import annotations

import calendar
import hashlib
import io
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser
import feedparser.api
import pytest

from feeds.decoding import decode_body
from feeds.entries import web_url
from feeds.html_text import html_to_text
from feeds.parser import ParsedFeed, parse_feed
from model.errors import FeedParseError
from tests.feeds.conftest import CORPUS

SUITE = CORPUS / "feedparser"
# feedparser's test server: files are served from here, Content-Location headers resolve here.
SERVER = "http://127.0.0.1:8097/tests/"

Summary = dict[str, Any]


# -- reading both ways ---------------------------------------------------------------------------

def _comment(raw: bytes) -> str:
    """The test's header comment, in whatever encoding the file is (UTF-16/32 included)."""
    text, _ = decode_body(raw)
    m = re.search(r"<!--(.*?)-->", text, re.S)
    return m.group(1) if m else ""


def headers_of(raw: bytes) -> dict[str, str]:
    """The HTTP headers the test serves the file with (its `Header:` lines)."""
    headers = {}
    for line in _comment(raw).splitlines():
        if line.strip().startswith("Header:"):
            name, _, value = line.split(":", 1)[1].strip().partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


def _text(value: Any, detail: Any) -> str:
    """feedparser's value read by its declared type: markup only when the type says HTML."""
    kind = str((detail or {}).get("type") or "text/html")
    return html_to_text(value or "") if "html" in kind else " ".join(str(value or "").split())


def _utc(parsed: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC) if parsed else None
    except (OverflowError, ValueError, OSError):
        return None


def _guid_key(guid: str) -> str:
    return hashlib.sha256(("guid:" + guid).encode("utf-8")).hexdigest()


def reference(raw: bytes, headers: dict[str, str], url: str) -> Summary | None:
    """What feedparser itself makes of the file (None: no feed), in our terms."""
    saved = feedparser.api.PREFERRED_XML_PARSERS
    feedparser.api.PREFERRED_XML_PARSERS = ["drv_libxml2"]   # feedparser's own default
    try:
        result = feedparser.parse(io.BytesIO(raw),
                                  response_headers={"content-location": url, **headers})
    finally:
        feedparser.api.PREFERRED_XML_PARSERS = saved
    entries = result.get("entries") or []
    if not result.get("version") and not entries:
        return None
    feed = result.get("feed") or {}
    summary: Summary = {"title": _text(feed.get("title"), feed.get("title_detail")),
                        "entries": []}
    for entry in entries:
        link = entry.get("link") or (entry.get("id") if entry.get("guidislink") else "")
        contents = [c for c in entry.get("content") or [] if c.get("value")]
        if contents:
            best = max(contents, key=lambda c: len(c.get("value", "")))
            body = _text(best.get("value"), best)
        else:
            body = _text(entry.get("summary"), entry.get("summary_detail"))
        guid = (entry.get("id") or "").strip()
        summary["entries"].append({
            "title": _text(entry.get("title"), entry.get("title_detail")),
            "link": web_url(link, url),
            "date": _utc(entry.get("published_parsed") or entry.get("updated_parsed")),
            "text": body,
            "guid": _guid_key(guid) if guid else None,
        })
    return summary


def ours(raw: bytes, headers: dict[str, str], url: str) -> tuple[Summary | None, ParsedFeed | None]:
    """What our parser makes of the file, in the same terms as `reference`."""
    try:
        feed = parse_feed(raw, feed_url=url, content_type=headers.get("content-type", ""))
    except FeedParseError:
        return None, None
    return {"title": feed.title, "entries": [
        {"title": a.title, "link": a.url, "date": a.published_at,
         "text": html_to_text(a.content_html), "guid": a.uid}
        for a in feed.articles]}, feed


def _same(ref: Summary | None, got: Summary | None) -> bool:
    if ref is None or got is None:
        return ref is got
    if ref["title"] != got["title"] or len(ref["entries"]) != len(got["entries"]):
        return False
    for want, have in zip(ref["entries"], got["entries"], strict=True):
        if want["guid"] is None:   # no guid: our uid comes from the link or the title
            have = {**have, "guid": None}
        if want != have:
            return False
    return True


# -- the known differences, each with its reason and a check of it -------------------------------

@dataclass(frozen=True)
class Difference:
    reason: str
    check: Callable[[Path, bytes, Summary | None, Summary | None], None]


def _expected_encoding(path: Path, raw: bytes, ref: Summary | None, got: Summary | None) -> None:
    expected = re.search(rb"encoding == '([^']+)'", raw)
    assert expected is not None, path
    text, codec = decode_body(raw)
    assert text == raw.decode(expected.group(1).decode()), (path, codec)


def _stray_bytes_marked(path: Path, raw: bytes, ref: Summary | None, got: Summary | None) -> None:
    text, codec = decode_body(raw)
    assert codec == "utf-8" and "\ufffd" in text, path
    valid = raw.decode("utf-8", "ignore")
    assert text.replace("\ufffd", "") == valid.lstrip("\ufeff"), path


def _json_feed(path: Path, raw: bytes, ref: Summary | None, got: Summary | None) -> None:
    assert ref is None and got is not None and got["entries"], path


_ENCODING = Difference(
    "an undeclared legacy encoding: feedparser, without its optional chardet dependency, "
    "reads windows-1252 mojibake; we detect the encoding, and read exactly the text of the "
    "encoding feedparser's own test expects (`encoding == ...`, with chardet)",
    _expected_encoding)
_STRAYS = Difference(
    "UTF-8 with a few invalid bytes: we keep UTF-8 and mark each stray byte with U+FFFD; "
    "feedparser re-reads the whole document as windows-1252, garbling its valid part",
    _stray_bytes_marked)

KNOWN: dict[str, Difference] = {
    **{f"illformed/chardet/{name}": _ENCODING for name in (
        "big5.xml", "eucjp.xml", "euckr.xml", "gb2312.xml", "koi8r.xml", "shiftjis.xml",
        "tis620.xml", "windows1255.xml")},
    "encoding/bozo_invalid-bytes-with-bom.xml": _STRAYS,
    "encoding/bozo_linenoise.xml": _STRAYS,
    "json/example.json": Difference(
        "JSON Feed: feedparser 6.0 does not read it; we do", _json_feed),
}


# -- the run -------------------------------------------------------------------------------------

@dataclass
class Outcome:
    path: str
    status: str                 # agree | differ | crash
    detail: str = ""


def compare(path: Path) -> Outcome:
    """Our parse of one file of the suite against feedparser's."""
    name = path.relative_to(SUITE).as_posix()
    raw = path.read_bytes()
    headers = headers_of(raw)
    url = urljoin(SERVER + name, headers.get("content-location", ""))
    try:
        got, _ = ours(raw, headers, url)
    except Exception as exc:  # noqa: BLE001 - a crash is what this reports
        return Outcome(name, "crash", repr(exc))
    ref = reference(raw, headers, url)
    if _same(ref, got):
        return Outcome(name, "agree")
    if name in KNOWN:
        KNOWN[name].check(path, raw, ref, got)
    return Outcome(name, "differ", f"feedparser: {ref!r:.300}\nours:       {got!r:.300}")


def suite_files() -> list[Path]:
    return sorted(p for p in SUITE.rglob("*") if p.is_file())


def run_suite() -> list[Outcome]:
    return [compare(path) for path in suite_files()]


@pytest.mark.corpus
def test_our_parse_agrees_with_feedparser_on_its_own_suite(corpus: Path) -> None:
    """Every file of feedparser's suite parses without a crash, and agrees with feedparser
    except for the listed differences, whose reasons are checked."""
    outcomes = run_suite()
    assert len(outcomes) > 2000
    crashes = [o for o in outcomes if o.status == "crash"]
    assert not crashes, crashes[:5]
    differ = {o.path: o.detail for o in outcomes if o.status == "differ"}
    unexplained = {path: detail for path, detail in differ.items() if path not in KNOWN}
    assert not unexplained, "\n".join(f"{p}\n{d}" for p, d in list(unexplained.items())[:5])
    # A listed difference that went away is taken off the list.
    assert set(differ) == set(KNOWN), sorted(set(KNOWN) - set(differ))


@pytest.mark.corpus
def test_text_typed_fields_stay_text(corpus: Path) -> None:
    """Atom text constructs of type="text" keep their angle brackets (they were read as HTML,
    "History of the <blink> tag" became "History of the tag")."""
    for name in ("wellformed/atom10/entry_title_text_plain_brackets.xml",
                 "wellformed/atom10/entry_content_text_plain_brackets.xml"):
        (article,) = parse_feed((SUITE / name).read_bytes(), feed_url=SERVER + name).articles
        assert "History of the <blink> tag" in (article.title, html_to_text(article.content_html))
        assert "&lt;blink&gt;" in article.content_html or article.title.endswith("<blink> tag")


@pytest.mark.corpus
def test_utf16_and_utf32_without_a_bom_are_read(corpus: Path) -> None:
    """UTF-16 and UTF-32 documents without a byte order mark are decoded, not refused."""
    for name in ("utf-16be-autodetect.xml", "utf-16le-autodetect.xml", "utf-32be.xml",
                 "utf-32le-autodetect.xml", "u16.xml", "utf_32.xml"):
        raw = (SUITE / "encoding" / name).read_bytes()
        text, codec = decode_body(raw)
        assert codec.startswith(("utf-16", "utf-32")) and text.lstrip().startswith("<?xml"), name
        parse_feed(raw, feed_url=SERVER + name)   # a feed (an empty one), not a refusal


def main() -> None:
    """Print the figures: files, agree, differ with a reason, crashes."""
    if not SUITE.is_dir():
        sys.exit(f"feedparser's suite not found at {SUITE} (../shared/corpus beside the repo)")
    outcomes = run_suite()
    count = {status: sum(o.status == status for o in outcomes)
             for status in ("agree", "differ", "crash")}
    unexplained = [o for o in outcomes if o.status == "differ" and o.path not in KNOWN]
    print(f"files {len(outcomes)}, agree {count['agree']}, "
          f"differ with a reason {count['differ'] - len(unexplained)}, "
          f"differ unexplained {len(unexplained)}, crashes {count['crash']}")
    for outcome in outcomes:
        if outcome.status != "agree":
            reason = KNOWN[outcome.path].reason if outcome.path in KNOWN else "UNEXPLAINED"
            print(f"- {outcome.path} [{outcome.status}]: {reason}")


if __name__ == "__main__":
    main()
