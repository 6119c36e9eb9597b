"""Feeds in and out as OPML 2.0: `import-opml FILE --channel CH` and `export-opml`. The bot's
OPML file import and `/feeds export` (bot.opml) read and write OPML here too.

Imported feeds go where `/addfeed` puts them (`store.registry`, in Redis beside the declared
ones), so the bot polls them and `/feeds` lists them. They start with `first_run: none`: a
publisher importing two hundred feeds into a channel must not get two hundred "latest" posts at
once; items published after the import are posted.

The export holds every feed the bot polls (declared and added), one `<outline type="rss">` each;
the channels a feed posts to are in its `category` attribute (`/@channel,/-100123`) so an import
into another bot can tell them apart.
"""
from __future__ import annotations

import logging
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from defusedxml import ElementTree as SafeET
from pydantic import ValidationError

from config.schema import FeedConfig, normalise_chat
from guards.urls import display_url, has_masked_secret
from model.article import feed_id_for

logger = logging.getLogger(__name__)


class OpmlError(ValueError):
    """The file is not OPML we can read. The message is meant for the operator."""


@dataclass(slots=True)
class ImportResult:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)    # "url: reason"


def _feed_url(raw: str) -> str:
    url = raw.strip()
    # feed:// and feed:https:// are the old "subscribe" schemes some readers still write.
    if url.lower().startswith("feed:https://") or url.lower().startswith("feed:http://"):
        url = url[5:]
    elif url.lower().startswith("feed://"):
        url = "https://" + url[7:]
    return url


# Why an outline is refused, in the words the CLI prints (the bot shows its own translation).
NOT_WEB = "only http:// and https:// feeds are imported"
MASKED = ("its credentials were masked (***) by an export; export with `export-opml "
          "--with-secrets`, or add the feed with /addfeed")


def outline_refusal(url: str) -> str | None:
    """Why the feed address of an OPML outline cannot be imported, or None when it can.

    Only web feeds: the config file may name `file:` feeds (the operator's own files), but an
    OPML file comes from elsewhere, and a `file:` outline would make the poller read local
    files (`file:///dev/stdin` blocks a worker for good)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return NOT_WEB
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return NOT_WEB
    if has_masked_secret(url):
        return MASKED
    return None


def parse_opml(text: str | bytes) -> list[dict[str, Any]]:
    """Every outline with an xmlUrl, in document order, once per URL: {url, title,
    categories}. Raises OpmlError for what is not OPML."""
    try:
        root = SafeET.fromstring(text)
    except SafeET.ParseError as exc:
        raise OpmlError(f"not valid XML: {exc}") from None
    except Exception as exc:  # defusedxml refuses entities, DTDs and the like
        raise OpmlError(f"refused: {exc}") from None
    if _local(root.tag) != "opml":
        raise OpmlError(f"the root element is <{_local(root.tag)}>, not <opml>")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise OpmlError("the file has no <body>")
    found: list[dict[str, Any]] = []
    seen: set[str] = set()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        for outline in node:
            if _local(outline.tag) != "outline":
                continue
            attrs = {_local(k): v for k, v in outline.attrib.items()}
            xml_url = attrs.get("xmlUrl") or attrs.get("xmlurl") or attrs.get("url") \
                if attrs.get("type", "rss").lower() in ("rss", "atom", "") else None
            label = attrs.get("title") or attrs.get("text") or ""
            if xml_url:
                url = _feed_url(xml_url)
                if url not in seen:
                    seen.add(url)
                    categories = [c.strip().strip("/") for c in attrs.get("category", "").split(",")
                                  if c.strip().strip("/")]
                    found.append({"url": url, "title": label.strip(),
                                  "categories": list(path) + categories})
            walk(outline, path + ((label.strip(),) if not xml_url and label else ()))

    walk(body, ())
    return found


def import_opml(path: str | Path, channel: str, *, first_run: str = "none",
                refused: list[str] | None = None) -> list[dict[str, Any]]:
    """The feeds of an OPML file as FeedConfig-like dicts for one channel: {url, channels,
    first_run, title}. Outlines that are not web feeds (outline_refusal) or that the config
    would refuse are left out, logged, and listed in `refused` as "url: reason" (the URL as
    display_url shows it)."""
    try:
        chat = normalise_chat(channel)
    except ValueError as exc:
        raise OpmlError(f"--channel {channel!r}: {exc}") from None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OpmlError(f"{path}: cannot read: {exc.strerror or exc}") from None
    feeds = []
    for outline in parse_opml(data):
        candidate = {"url": outline["url"], "channels": [chat], "first_run": first_run}
        reason = outline_refusal(outline["url"])
        if reason is None:
            try:
                FeedConfig.model_validate(candidate)
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        if reason is not None:
            logger.warning("OPML: %s left out: %s", display_url(outline["url"]), reason)
            if refused is not None:
                refused.append(f"{display_url(outline['url'])}: {reason}")
            continue
        feeds.append({**candidate, "title": outline["title"]})
    return feeds


def export_opml(feeds: Iterable[Mapping[str, Any]], *, title: str = "Nashir feeds",
                now: float | None = None) -> str:
    """OPML 2.0 for feeds given as dicts (or FeedConfig-likes) with url, channels and an
    optional title."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = formatdate(now, usegmt=True)
    ET.SubElement(head, "docs").text = "https://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    for feed in feeds:
        url = str(_get(feed, "url"))
        name = str(_get(feed, "title") or "") or url
        chats = [_chat_of(target) for target in (_get(feed, "channels") or ())]
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": url}
        if chats:
            attrs["category"] = ",".join(f"/{chat}" for chat in chats)
        ET.SubElement(body, "outline", attrs)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def registry_feeds(config: Any, titles: Mapping[str, str], *,
                   with_secrets: bool = False) -> list[dict[str, Any]]:
    """The feeds of `config` (what the bot polls) as export_opml takes them, with the titles the
    registry keeps by feed id (none where that title is only the URL).

    Credentials in feed addresses (`user:pw@`, `?apikey=`…) are masked (guards.urls
    display_url) unless `with_secrets`: only the operator's `export-opml --with-secrets` keeps
    them, for moving feeds to another bot; the bot's `/feeds export` never does. A masked
    address read back by an import is refused with the reason (has_masked_secret)."""
    feeds = []
    for feed in config.feeds:
        title = titles.get(feed_id_for(feed.url), "")
        url = feed.url if with_secrets else display_url(feed.url)
        feeds.append({"url": url, "title": "" if title == feed.url else display_url(title),
                      "channels": [t.chat for t in feed.channels]})
    return feeds


def _get(feed: Any, name: str) -> Any:
    return feed.get(name) if isinstance(feed, Mapping) else getattr(feed, name, None)


def _chat_of(target: Any) -> str:
    if isinstance(target, Mapping):
        return str(target.get("chat"))
    return str(getattr(target, "chat", target))


def _local(tag: Any) -> str:
    return re.sub(r"^\{.*\}", "", str(tag))


# -- the commands ------------------------------------------------------------------------------

async def store_imported(redis: Any, config: Any, feeds: list[dict[str, Any]], *,
                         added_by: int = 0, progress: Any = None) -> ImportResult:
    """Add the feeds to the command registry, skipping those the bot already polls."""
    from guards.urls import canonical_url
    from store.registry import FeedRegistry

    registry = FeedRegistry(redis, config)
    current = await registry.current()
    known = {canonical_url(f.url) for f in current.feeds} | {f.url for f in current.feeds}
    result = ImportResult()
    for feed in feeds:
        url = feed["url"]
        if url in known or canonical_url(url) in known:
            result.already.append(url)
        else:
            try:
                made = await registry.add_feed(url, feed["channels"][0],
                                               first_run=feed["first_run"],
                                               title=feed.get("title") or "", user_id=added_by)
            except ValidationError as exc:
                result.refused.append(f"{display_url(url)}: {exc.errors()[0]['msg']}")
            except ValueError as exc:  # store.registry.NotAWebFeed
                result.refused.append(f"{display_url(url)}: {exc}")
            else:
                known.add(url)
                if made is None:  # another import added it meanwhile
                    result.already.append(url)
                else:
                    result.added.append(url)
                    logger.info("feed added from OPML", extra={"feed": display_url(url)})
        if progress is not None:
            progress.advance(item=display_url(url))
    return result


async def cmd_import_opml(config: Any, redis_url: str, path: str, channel: str) -> int:
    """`python main.py import-opml FILE --channel CH`: 0 when the file was read and every feed
    is now polled (added now or before), 1 when some were refused or the channel is unknown."""
    from ops.progress import Progress
    from store.redis_store import connect

    refused: list[str] = []
    try:
        feeds = import_opml(path, channel, refused=refused)
    except OpmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    chat = normalise_chat(channel)
    redis = await connect(redis_url)
    try:
        from store.registry import FeedRegistry

        if await FeedRegistry(redis, config).find_channel(chat) is None:
            print(f"error: {chat} is not a configured channel (declare it under channels: or "
                  "add it with /channels first)", file=sys.stderr)
            return 1
        with Progress(len(feeds), f"importing {Path(path).name}") as progress:
            result = await store_imported(redis, config, feeds, progress=progress)
    finally:
        await redis.aclose()
    refused += result.refused
    print(f"{len(result.added)} feeds added to {chat}, {len(result.already)} already there, "
          f"{len(refused)} refused")
    for line in refused:
        print(f"refused: {line}", file=sys.stderr)
    return 0 if not refused else 1


async def cmd_export_opml(config: Any, redis_url: str, out: Any = None, *,
                          with_secrets: bool = False) -> int:
    """`python main.py export-opml [--with-secrets]`: every feed the bot polls, as OPML on
    stdout; credentials in feed addresses masked unless `with_secrets`."""

    from store.redis_store import connect
    from store.registry import FeedRegistry

    redis = await connect(redis_url)
    try:
        registry = FeedRegistry(redis, config)
        current = await registry.current()
        titles = await registry.feed_titles()
    finally:
        await redis.aclose()
    (out or sys.stdout).write(export_opml(registry_feeds(current, titles,
                                                         with_secrets=with_secrets)))
    return 0
