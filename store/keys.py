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


POST_TIMES_KEEP_S = 2 * 86_400


def post_times() -> str:
    """ZSET of every post sent in the last POST_TIMES_KEEP_S (member: its queue entry, score:
    unix time), for counts the capped posts log cannot give: posts today, posts per hour."""
    return f"{PREFIX}:posts:times"


def held() -> str:
    """STREAM of posts that could not be delivered (bot removed, chat gone): kept, not lost."""
    return f"{PREFIX}:deliveries:held"


# -- the bot (commands, roles, registry, subscriptions, review) --------------------------------
# User ids are ints and chats validated ids/@usernames before they reach these builders; feeds
# are named by feed_id (a hash), pending previews and review cards by random hex tokens.

AUDIT_KEEP = 1_000                # audit entries kept (newest first)
PENDING_TTL_S = 2 * 86_400        # an unanswered /push preview or /addfeed question lives this long
REVIEW_TTL_S = 30 * 86_400        # a decided review card's data lives this long (open: no expiry)


def bot_editors() -> str:
    """SET of user ids made editors by /addeditor (config editors are not stored)."""
    return f"{PREFIX}:bot:editors"


def bot_audit() -> str:
    """LIST of editor actions (JSON: who, what, when), newest first."""
    return f"{PREFIX}:bot:audit"


def bot_user_lang() -> str:
    """HASH user id -> language chosen with /lang (ar | en)."""
    return f"{PREFIX}:bot:lang"


def bot_rate(user_id: int, window: int) -> str:
    """STRING counter of one user's commands in one rate-limit window (expires with it)."""
    return f"{PREFIX}:bot:rate:{int(user_id)}:{int(window)}"


def bot_pending(token: str) -> str:
    """HASH of a pending /push preview or /addfeed question, by random token."""
    return f"{PREFIX}:bot:pending:{token}"


def bot_feeds() -> str:
    """HASH feed_id -> JSON feed config, for feeds added with /addfeed."""
    return f"{PREFIX}:bot:feeds"


def bot_channels() -> str:
    """HASH chat -> JSON channel config, for channels added with /channels add."""
    return f"{PREFIX}:bot:channels"


def bot_paused_feeds() -> str:
    """SET of feed ids paused with /pause."""
    return f"{PREFIX}:bot:paused:feeds"


def bot_paused_channels() -> str:
    """SET of chats paused with /pause."""
    return f"{PREFIX}:bot:paused:channels"


def bot_registry_version() -> str:
    """STRING counter bumped on every feed/channel/pause change, so pollers reload cheaply."""
    return f"{PREFIX}:bot:registry:version"


def bot_feed_subscribers(feed_id: str) -> str:
    """SET of private chat ids subscribed to a feed."""
    return f"{PREFIX}:bot:subs:feed:{feed_id}"


def bot_user_subscriptions(chat: str) -> str:
    """SET of feed ids a private chat is subscribed to."""
    return f"{PREFIX}:bot:subs:user:{chat}"


def bot_updates_lock() -> str:
    """STRING replica id of the one replica allowed to long-poll getUpdates (with expiry)."""
    return f"{PREFIX}:bot:updates:lock"


def bot_review_inbox() -> str:
    """ZSET review card -> time it may be (re)tried: pieces waiting for a card in review_chat
    (a replica leases an entry by pushing its score ahead while it posts the card)."""
    return f"{PREFIX}:bot:review:inbox"


def bot_review(card: str) -> str:
    """HASH of one review card: the article, its deliveries, state, who decided."""
    return f"{PREFIX}:bot:review:{card}"


def bot_review_schedule() -> str:
    """ZSET review card -> unix time it is to be published."""
    return f"{PREFIX}:bot:review:schedule"


# The indexes below sit beside, not under, `bot:review:` (whose keys are the cards and their
# queues), so a listing of the cards stays a listing of the cards.
def bot_review_open() -> str:
    """ZSET review card -> time it was made, for every piece still waiting for a decision (its
    age is what owners are told about)."""
    return f"{PREFIX}:bot:review_open"


def bot_review_unshown() -> str:
    """ZSET review card -> time it was decided, until its card in review_chat shows the
    decision (a card Telegram did not let us edit is tried again)."""
    return f"{PREFIX}:bot:review_unshown"


def bot_review_stale_notice() -> str:
    """STRING the card owners were last told about as too old (deleted when none is)."""
    return f"{PREFIX}:bot:review_stale_notice"


def bot_review_awaiting_edit(chat: str, message_id: int) -> str:
    """STRING review card whose new excerpt is expected as a reply to this prompt message."""
    return f"{PREFIX}:bot:review:edit:{chat}:{int(message_id)}"


# -- delivery: per-chat queues, leases, rate limits (delivery/queue.py, delivery/ratelimit.py) --
# The stream `deliveries()` is the intake; senders route its entries into one ordered queue per
# chat. Chats appear in these keys as validated ids/@usernames (see chat_posted above).

DELIVERY_BAND = 10_000_000_000   # added to a bulk post's score so editors' pushes sort first


def delivery_items() -> str:
    """HASH stream entry id -> delivery JSON, for every routed delivery not yet done."""
    return f"{PREFIX}:deliveries:items"


def delivery_attempts() -> str:
    """HASH entry id -> failed attempts (and `<id>:maybe` when a send may have gone out)."""
    return f"{PREFIX}:deliveries:attempts"


def delivery_chat_queue(chat: str) -> str:
    """ZSET entry id -> (band + article time): one chat's queued deliveries, in sending order.
    Lua scripts append the chat to `delivery_chat_queue("")`, so the chat must stay last."""
    return f"{PREFIX}:deliveries:chat:{chat}"


def delivery_ready(priority: int) -> str:
    """ZSET chat -> ms (Redis time) from which it may be claimed; 1: its head is a push."""
    return f"{PREFIX}:deliveries:ready:{1 if priority else 0}"


def delivery_leased() -> str:
    """ZSET chat -> ms when its sender's lease runs out (a chat being sent to now)."""
    return f"{PREFIX}:deliveries:leased"


def delivery_owners() -> str:
    """HASH chat -> token of the sender holding its lease."""
    return f"{PREFIX}:deliveries:owners"


def delivery_blocked() -> str:
    """HASH chat -> why the bot cannot post there (forbidden, not found): its posts are held."""
    return f"{PREFIX}:deliveries:blocked"


def delivery_migrated() -> str:
    """HASH old chat -> new chat id, for groups upgraded to supergroups."""
    return f"{PREFIX}:deliveries:migrated"


def ratelimit_overall() -> str:
    """ZSET send slots (ms, Redis time) of the whole bot: a sliding-window log."""
    return f"{PREFIX}:ratelimit:overall"


def ratelimit_chat(chat: str) -> str:
    """ZSET send slots of one chat (per-chat limit). Lua appends the chat to ratelimit_chat("")."""
    return f"{PREFIX}:ratelimit:chat:{chat}"


def ratelimit_group(chat: str) -> str:
    """ZSET send slots of one group/channel (per-minute limit). Lua appends the chat likewise."""
    return f"{PREFIX}:ratelimit:group:{chat}"


def ratelimit_seq() -> str:
    """STRING counter making the members of the rate-limit logs unique."""
    return f"{PREFIX}:ratelimit:seq"


def ratelimit_pause() -> str:
    """STRING ms (Redis time) until which no replica sends (a flood-wait on the whole bot)."""
    return f"{PREFIX}:ratelimit:pause"


def ratelimit_recent_429() -> str:
    """ZSET chat -> ms of its last 429, to tell a chat's flood-wait from the bot's."""
    return f"{PREFIX}:ratelimit:recent429"


def ratelimit_last() -> str:
    """STRING the newest slot (ms) handed out under the overall limit (pacing starts there)."""
    return f"{PREFIX}:ratelimit:overall:last"


# -- feeds: adaptive seen windows, content hashes, cross-feed title fingerprints (feeds/poller.py)
# A feed's seen set holds its identity keys cut to 12 hex characters; its window follows the
# feed's size (twice the keys of its current items, at least SEEN_MIN_WINDOW, at most
# SEEN_WINDOW), so a typical feed's set stays in Redis' compact encoding (128 entries or fewer).

SEEN_MIN_WINDOW = 120            # identity keys a feed's seen set keeps at least
FINGERPRINT_WINDOW_S = 48 * 3600  # the same title from another feed within this is a duplicate


def feed_content(feed_id: str) -> str:
    """HASH article uid (cut like the seen set) -> its content hash as last seen, for one feed:
    trimmed with the seen set; a changed hash is an edited article."""
    return f"{PREFIX}:feed:{feed_id}:content"


def chat_fingerprints(chat: str) -> str:
    """ZSET title fingerprint -> time posted, and `<fingerprint>@<feed_id>` -> time that feed
    posted it, for one chat; trimmed to the fingerprint window."""
    return f"{PREFIX}:chat:{chat}:fingerprints"


# -- fates: what became of each article in each chat (store/fates.py) --------------------------

def article_fates(article_key: str) -> str:
    """HASH chat -> JSON fate of one article (by the hash of its canonical link, else uid)."""
    return f"{PREFIX}:fate:{article_key}"


def fate_counts(hour: str) -> str:
    """HASH `fate:reason` -> count of fates recorded in one hour (unix time // 3600)."""
    return f"{PREFIX}:fates:hour:{hour}"


def fates_skipped() -> str:
    """LIST of the latest skipped items (JSON), newest first, capped."""
    return f"{PREFIX}:fates:skipped"


def chat_origins(chat: str) -> str:
    """HASH identity key -> "link<US>feed url" of what a chat got, trimmed with its posted set:
    a duplicate can name what the chat already had."""
    return f"{PREFIX}:chat:{chat}:origins"


def chat_stories(chat: str) -> str:
    """HASH title fingerprint -> JSON list of the chat's latest stories under that title (time,
    text sketch, link, feed id, feed url), trimmed with the fingerprints ZSET."""
    return f"{PREFIX}:chat:{chat}:stories"


def delivery_paused_held() -> str:
    """SET of chats whose posts wait in the held stream because the channel is paused."""
    return f"{PREFIX}:deliveries:paused"


# -- held posts' way out (delivery/held.py) ----------------------------------------------------

def delivery_fate_keys() -> str:
    """HASH queued entry id -> its article's fates key, so a script moving the entry (held,
    posted) records the fate where the pipeline recorded it."""
    return f"{PREFIX}:deliveries:fatekeys"


def delivery_probes() -> str:
    """ZSET blocked chat -> ms (Redis time) of its next probe (can the bot post there again?)."""
    return f"{PREFIX}:deliveries:probes"


def delivery_probe_tries() -> str:
    """HASH chat -> failed probes since it last took a post: the probe's backoff step."""
    return f"{PREFIX}:deliveries:probe_tries"


def delivery_held_over() -> str:
    """STRING set while the held stream is past its cap (one owners' notice per crossing)."""
    return f"{PREFIX}:deliveries:held_over"
RICH_OFF_TTL_S = 86_400          # a chat that refused a rich message is tried again after this
RICH_TOLD_TTL_S = 30 * 86_400    # owners are told of a chat's refusal once in this long


def rich_off(chat: str) -> str:
    """STRING (JSON: kind, reason, server, at): Telegram refused a rich message in this chat;
    its posts go as HTML summaries until the key expires, the server or the option changes."""
    return f"{PREFIX}:rich:off:{chat}"


def rich_told(chat: str) -> str:
    """STRING "server|kind": the owners were told of this chat's rich-message refusal."""
    return f"{PREFIX}:rich:told:{chat}"
