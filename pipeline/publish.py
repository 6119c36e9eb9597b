"""Publishing an article from the bot (an editor's /push or a review decision): render for each
channel, then the same queue and dedup as feed posts (`Store.queue_article`), or, when an editor
insists, past the dedup ("publish anyway")."""
from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from config.schema import ChannelConfig
from formatters.errors import UnrenderableArticle
from formatters.post import render_post
from formatters.rich import RichPost, build_rich
from model.article import Article
from model.delivery import Delivery
from model.post import RenderedPost, post_options
from pipeline.render import rich_json
from store import keys
from store.redis_store import Store

# Queues deliveries without the per-chat dedup check, still recording the identities as posted
# there (so feeds do not post the article again afterwards). Same stream as every other post.
FORCE_QUEUE_LUA = """
local stream = KEYS[1]
local now = tonumber(ARGV[1])
local posted_ttl = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
for c = 2, #KEYS do
  local posted = KEYS[c]
  for i = 1, n do redis.call('ZADD', posted, now, ARGV[3 + i]) end
  redis.call('EXPIRE', posted, posted_ttl)
  redis.call('XADD', stream, '*', 'd', ARGV[3 + n + (c - 1)])
end
return #KEYS - 1
"""

@dataclass(frozen=True, slots=True)
class PublishResult:
    queued: tuple[str, ...]          # chats the article was queued for
    duplicates: tuple[str, ...]      # chats that already had it
    failed: tuple[tuple[str, str], ...] = ()   # (chat, reason) it could not be rendered for


class Publisher:
    """Renders an article for channels and queues it with editors' priority."""

    def __init__(self, store: Store, *, timezone: str) -> None:
        self.store = store
        self.timezone = timezone
        self._force = store.redis.register_script(FORCE_QUEUE_LUA)

    def render(self, article: Article, channel: ChannelConfig,
               first_seen: datetime) -> RenderedPost:
        """The channel's post for the article (raises UnrenderableArticle)."""
        return render_post(article, post_options(channel), timezone=self.timezone,
                           first_seen=first_seen)

    def rich(self, article: Article, channel: ChannelConfig,
             first_seen: datetime) -> RichPost | None:
        """The channel's rich message for the article (None: the channel posts summaries, or
        no rich message can be made and the summary goes alone)."""
        if channel.format != "rich":
            return None
        try:
            return build_rich(article, post_options(channel), timezone=self.timezone,
                              first_seen=first_seen)
        except UnrenderableArticle:
            return None

    def deliveries(self, article: Article, channels: Sequence[ChannelConfig],
                   *, feed_id: str = "", topics: dict[str, int | None] | None = None,
                   ) -> tuple[list[Delivery], list[tuple[str, str]]]:
        now = time.time()
        first_seen = datetime.fromtimestamp(now, UTC)
        made, failed = [], []
        for channel in channels:
            try:
                post = self.render(article, channel, first_seen)
            except UnrenderableArticle as exc:
                failed.append((channel.chat, str(exc)))
                continue
            made.append(Delivery(
                chat=channel.chat, uid=article.uid, url=article.url, html=post.html,
                feed_id=feed_id, topic=(topics or {}).get(channel.chat),
                photo_url=post.photo_url, preview_url=post.preview_url, language=post.language,
                article_time=(article.published_at or first_seen).timestamp(), queued_at=now,
                priority=1, rich=rich_json(self.rich(article, channel, first_seen)),
            ))
        return made, failed

    async def publish(self, article: Article, channels: Sequence[ChannelConfig], *,
                      feed_id: str = "", topics: dict[str, int | None] | None = None,
                      ) -> PublishResult:
        """Queue for each channel that has not had the article; the others are duplicates."""
        made, failed = self.deliveries(article, channels, feed_id=feed_id, topics=topics)
        if not made:
            return PublishResult((), (), tuple(failed))
        identities = article.identity_keys or (article.uid,)
        outcome = await self.store.queue_article(None, identities, made)
        queued = outcome.queued_chats
        duplicates = tuple(d.chat for d in made if d.chat not in queued)
        return PublishResult(queued, duplicates, tuple(failed))

    async def publish_anyway(self, article: Article, channels: Sequence[ChannelConfig], *,
                             feed_id: str = "") -> PublishResult:
        """Queue past the dedup. The delivery gets its own uid, so the sender's "already sent"
        record of the first post does not swallow this one."""
        made, failed = self.deliveries(article, channels, feed_id=feed_id)
        if not made:
            return PublishResult((), (), tuple(failed))
        again = f"{article.uid}:again:{secrets.token_hex(5)}"
        made = [replace(d, uid=again) for d in made]
        identities = list(article.identity_keys or (article.uid,))
        await self._force(
            keys=[keys.deliveries(), *(keys.chat_posted(d.chat) for d in made)],
            args=[time.time(), keys.POSTED_TTL_S, len(identities), *identities,
                  *(d.to_fields()["d"] for d in made)],
        )
        return PublishResult(tuple(d.chat for d in made), (), tuple(failed))
