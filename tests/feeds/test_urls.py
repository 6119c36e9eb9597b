"""Tests for guards.urls.canonical_url: one spelling per article address."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guards.urls import canonical_url


@pytest.mark.parametrize(("raw", "expected"), [
    ("HTTPS://Example.COM/Path", "https://example.com/Path"),           # path case is kept
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("https://example.com/a#comments", "https://example.com/a"),
    ("https://example.com", "https://example.com/"),
    ("https://e.com/a?utm_source=x&b=2&UTM_Medium=y&a=1&fbclid=z", "https://e.com/a?b=2&a=1"),
    ("https://e.com/a?gclid=1&mc_cid=2&mc_eid=3&ref=tw", "https://e.com/a"),
    ("https://e.com/a?referrer=keep&x=", "https://e.com/a?referrer=keep&x="),
    ("https://e.com/مقال/١", "https://e.com/%D9%85%D9%82%D8%A7%D9%84/%D9%A1"),
    ("https://e.com/%d9%85%d9%82", "https://e.com/%D9%85%D9%82"),
    ("  https://e.com/a  ", "https://e.com/a"),
    ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
    ("", ""),
])
def test_canonical_url(raw: str, expected: str) -> None:
    """Scheme/host lower-cased, default port, fragment and tracking parameters dropped, query
    order kept, non-ASCII paths percent-encoded in one spelling."""
    assert canonical_url(raw) == expected


def test_relative_links_resolve_against_the_feed() -> None:
    """Relative links resolve against the feed URL before canonicalisation."""
    assert canonical_url("../b?utm_id=1", "https://e.com/feeds/x/rss") == "https://e.com/feeds/b"
    assert canonical_url("//cdn.e.com/i.png", "https://e.com/rss") == "https://cdn.e.com/i.png"


@given(st.from_regex(r"https?://[A-Za-z0-9.-]{1,20}(:[0-9]{1,5})?(/[\w%.~-]{0,10}){0,3}"
                     r"(\?[\w=&%-]{0,20})?(#\w{0,5})?", fullmatch=True))
def test_canonical_url_is_idempotent(url: str) -> None:
    """Canonicalising a canonical URL changes nothing."""
    once = canonical_url(url)
    assert canonical_url(once) == once
