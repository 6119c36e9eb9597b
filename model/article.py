"""Values that move through the feed pipeline. No I/O here."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime


def feed_id_for(url: str) -> str:
    """A short stable id for a feed URL, safe to put in Redis keys and logs."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one HTTP poll of a feed gave back."""

    url: str                       # the URL finally answered (after redirects)
    status: int                    # HTTP status of the final answer; 0 for file:// feeds
    body: bytes | None             # None when the server said 304 Not Modified
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect_to: str | None = None   # set only when every hop was 301/308
    body_hash: str | None = None       # sha256 hex of the body: skip parsing when unchanged
    max_age: int | None = None         # seconds, from Cache-Control max-age (or Expires)
    retry_after: float | None = None   # seconds, from Retry-After (seconds or an HTTP date)

    @property
    def not_modified(self) -> bool:
        return self.body is None


@dataclass(frozen=True, slots=True)
class Article:
    """One feed item, normalised. `uid` is its stable identity; `identity_keys` every key that
    names the same article (guid hash, canonical-link hash) so a changed guid with the same link
    is still recognised."""

    uid: str
    feed_url: str
    url: str                                # canonical link to the article ('' if none)
    title: str
    published_at: datetime | None           # timezone-aware (UTC); None when the feed had none
    author: str = ""
    categories: tuple[str, ...] = ()
    content_html: str = ""                  # full content if the feed has it, else the summary
    image_url: str | None = None
    source_name: str = ""                   # the feed's title
    identity_keys: tuple[str, ...] = field(default=())
    content_hash: str = ""                  # hash of title + text, to notice edits after posting
    # The uid names the item only within its feed (a bare guid, or a hash of title and date):
    # the pipeline scopes it to the feed before dedup. `legacy_keys` are identities earlier
    # versions gave the item, checked against the feed's own seen set only.
    scoped: bool = False
    legacy_keys: tuple[str, ...] = field(default=())


def article_to_json(article: Article) -> str:
    """The article as JSON (for review cards and pending previews kept in Redis)."""
    data = asdict(article)
    data["published_at"] = article.published_at.isoformat() if article.published_at else None
    return json.dumps(data, ensure_ascii=False)


def article_from_json(raw: str) -> Article:
    """The article `article_to_json` wrote (fields it does not know are left out)."""
    data = json.loads(raw)
    known = {f.name for f in fields(Article)}
    data = {k: v for k, v in data.items() if k in known}
    if data.get("published_at"):
        data["published_at"] = datetime.fromisoformat(data["published_at"])
    for name in ("categories", "identity_keys", "legacy_keys"):
        data[name] = tuple(data.get(name) or ())
    return Article(**data)
