"""Every Redis key and TTL the bot uses, in one place.

All keys share the hash tag `{nashir}` so multi-key Lua scripts also run on Redis Cluster (they
land in one slot). User input never becomes a key directly: chats are validated ids/usernames and
feeds and articles are hashes.
"""
from __future__ import annotations

PREFIX = "{nashir}"

SEEN_TTL_S = 120 * 86_400        # a feed's seen set expires if the feed is gone this long
SEEN_WINDOW = 2_000              # per-feed seen items kept; larger than any real feed
POSTED_TTL_S = 180 * 86_400      # per-chat posted identities kept this long
SENT_TTL_S = 30 * 86_400         # "sent" records: long enough to cover any redelivery
CONSUMER_GROUP = "senders"


def feeds_due() -> str:
    """ZSET feed_id -> unix time the feed is next due."""
    return f"{PREFIX}:feeds:due"


def feed_state(feed_id: str) -> str:
    """HASH of a feed's polling state (validators, body hash, failures, …)."""
    return f"{PREFIX}:feed:{feed_id}"


def feed_seen(feed_id: str) -> str:
    """ZSET identity key -> first-seen time, for one feed."""
    return f"{PREFIX}:feed:{feed_id}:seen"


def feed_lease(feed_id: str) -> str:
    """STRING holding the worker id that polls the feed now (with expiry)."""
    return f"{PREFIX}:feed:{feed_id}:lease"


def chat_posted(chat: str) -> str:
    """ZSET identity key -> time queued, for one chat: what was already posted there."""
    return f"{PREFIX}:chat:{chat}:posted"


def deliveries() -> str:
    """STREAM of deliveries: one entry per post per chat."""
    return f"{PREFIX}:deliveries"


def sent(chat: str, uid: str) -> str:
    """STRING message id: written right after Telegram accepted the post, before the ack."""
    return f"{PREFIX}:sent:{chat}:{uid}"


def chat_stats(chat: str) -> str:
    """HASH with a chat's last post time and counts."""
    return f"{PREFIX}:chat:{chat}:stats"


def posts_log() -> str:
    """LIST of the latest posts (JSON), newest first, for status pages."""
    return f"{PREFIX}:posts:log"


def held() -> str:
    """STREAM of posts that could not be delivered (bot removed, chat gone): kept, not lost."""
    return f"{PREFIX}:deliveries:held"
