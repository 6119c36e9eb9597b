"""Due feeds -> fetch -> parse: claiming feeds with a lease, polling each one, and planning its
next poll. What a changed feed's items become is `pipeline.articles`' part.

How a cycle spends its time, cheapest first:

* **Claim.** A worker claims a batch of due feeds with a lease in one script that also answers
  their states; several replicas never poll the same feed at once, and a dead replica's feeds
  come back when its leases run out.
* **Unchanged feed** (304, or the same body as last time): one request, no parse, and no Redis
  round trip of its own: its new state, next due time and lease release are written with many
  others in one script.
* **Changed body**: the body is cut into its items, and each item's bytes are hashed. Items
  whose bytes were there last time are known; only the new or edited ones are parsed (a small
  document of the feed's header and those items), falling back to a whole parse whenever the
  cut is not certain to give the same articles. A body whose items are all known costs no parse.
* **New items**: checked against the feed's seen set (one script), filtered, rendered per
  channel and queued oldest first (one script that marks them seen and deduplicates per chat by
  identity keys and, across feeds, by title fingerprint). Edited items become edits of the
  posted messages for channels with `edit_on_change`.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from config.schema import INTERVAL_FLOOR_S, BotConfig, FeedConfig, format_duration
from delivery.queue import DeliveryQueue
from feeds.fetcher import Fetcher
from feeds.items import DIGEST_CHARS, FeedRead, ParseFunction, read_feed
from feeds.parse_pool import DEFAULT_TIME_LIMIT_S, ParsePool
from feeds.parser import parse_feed
from feeds.schedule import SchedulePolicy, after_failure, after_success
from guards.urls import display_url
from model.article import feed_id_for
from model.errors import FeedError
from pipeline.articles import ArticleRouter
from pipeline.rich_pages import RichPages
from pipeline.types import (
    ConfigSource,
    EditQueue,
    HealthListener,
    PollListener,
    PollOutcome,
    ReviewInbox,
    SubscriberHook,
)
from pipeline.writer import StateWriter
from store import keys
from store.redis_store import StateWrite, Store
from store.rich_memory import forget_unless_rich

logger = logging.getLogger(__name__)


# The state fields a poll reads (claimed with the feed, or read in bulk for `poll_all`).
STATE_FIELDS = ("current_url", "etag", "last_modified", "body_hash", "items", "first_polled",
                "title", "ttl", "health", "failures", "first_failure", "publish_gap", "last_new",
                "interval", "interval_cause", "last_error")


@dataclass(slots=True)
class _Job:
    feed_id: str
    feed: FeedConfig | None               # None: claimed but not (or no longer) configured
    state: dict[str, str]
    claimed: bool                         # holds a lease to release


class Poller:
    """Polls the configured feeds and queues their new items.

    `parse` is the feed parser (injectable, e.g. to count parses); `edits` receives edits of
    posted messages (default: the delivery queue on the store's Redis); `concurrency` bounds the
    polls in flight; `parse_workers` > 0 parses in that many processes (`parse` must then be a
    module-level function; call `close()` at shutdown), else in threads;
    `fingerprint_window_s` is how long a title fingerprint marks a story as already posted to a
    chat by another feed; a parse that runs longer than `parse_time_limit_s` is abandoned and
    the poll fails with FeedParseError(PARSE_TIMEOUT)."""

    def __init__(self, config: BotConfig, store: Store, fetcher: Fetcher, *,
                 worker_id: str | None = None,
                 clock: Callable[[], float] = time.time,
                 policy: SchedulePolicy | None = None,
                 on_health: HealthListener | None = None,
                 on_poll: PollListener | None = None,
                 parse: ParseFunction = parse_feed,
                 edits: EditQueue | None = None,
                 concurrency: int = 100,
                 parse_workers: int = 0,
                 parse_time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                 fingerprint_window_s: float = keys.FINGERPRINT_WINDOW_S,
                 config_source: ConfigSource | None = None,
                 review: ReviewInbox | None = None,
                 subscribers: SubscriberHook | None = None) -> None:
        self.base_config = config
        self.config_source = config_source
        self._source_version: int | None = None
        self.store = store
        self.fetcher = fetcher
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self.clock = clock
        self.policy = policy or SchedulePolicy()
        self.on_health = on_health
        self.on_poll = on_poll
        self.parse = parse
        self.concurrency = max(1, concurrency)
        self.parse_workers = parse_workers
        self._parse_pool: ParsePool[FeedRead] = ParsePool(parse_workers,
                                                          time_limit_s=parse_time_limit_s)
        self.articles = ArticleRouter(config, store, clock=clock, worker_id=self.worker_id,
                                      review=review, subscribers=subscribers, edits=edits,
                                      fingerprint_window_s=fingerprint_window_s)
        self.articles.pages = RichPages(fetcher, allow_networks=config.allow_networks)
        self.feeds = {feed_id_for(f.url): f for f in config.feeds}
        self._writer = StateWriter(store, self.worker_id)

    @property
    def config(self) -> BotConfig:
        """The effective config: the file's, with feeds and channels added by command."""
        return self.articles.config

    @config.setter
    def config(self, config: BotConfig) -> None:
        self.articles.config = config

    # -- entry points ---------------------------------------------------------------------------
    async def refresh(self, *, force: bool = False) -> None:
        """Take in feeds added, removed or paused by command; cheap when nothing changed."""
        if self.config_source is None:
            if force:
                self.config = self.base_config
                self.feeds = {feed_id_for(f.url): f for f in self.config.feeds}
                await self.sync_schedule()
                await self.release_resumed()
                await self._forget_rich_refusals()
            return
        version = await self.config_source.version()
        if version == self._source_version and not force:
            return
        self.config = await self.config_source.effective(self.base_config)
        self.feeds = {feed_id_for(f.url): f for f in self.config.feeds}
        self._source_version = version
        await self.sync_schedule()
        await self.release_resumed()
        await self._forget_rich_refusals()

    async def _forget_rich_refusals(self) -> None:
        """A chat whose `format` is no longer rich forgets that Telegram refused a rich message
        there, so turning the option on again tries again (store.rich_memory)."""
        channels = self.config.channels
        await forget_unless_rich(self.store.redis, [c.chat for c in channels
                                                    if c.format == "rich"],
                                 [c.chat for c in channels])

    async def release_resumed(self) -> int:
        """Send the posts that waited while a channel was paused, once it no longer is."""
        released = 0
        for chat in await self.store.redis.smembers(keys.delivery_paused_held()):
            channel = self.config.channel(str(chat))
            if channel is not None and not channel.paused:
                count = await DeliveryQueue(self.store.redis, self.worker_id).release_paused(
                    str(chat))
                logger.info("channel %s resumed: %d posts that waited while it was paused "
                            "are queued", chat, count)
                released += count
        return released

    async def sync_schedule(self) -> None:
        """Put every configured feed on the schedule (due now if it is new there)."""
        await self.store.schedule_many(self.feeds, self.clock(), only_if_new=True)
        await self.store.unschedule_except(set(self.feeds))

    async def poll_all(self, concurrency: int | None = None) -> list[PollOutcome]:
        """Poll every feed now, whatever its schedule and leases (the `once` command)."""
        await self.refresh(force=True)
        feeds = [(fid, f) for fid, f in self.feeds.items() if not f.paused]
        states = await self.store.feed_states([fid for fid, _ in feeds], STATE_FIELDS)
        jobs = [_Job(fid, f, state, claimed=False) for (fid, f), state in zip(feeds, states,
                                                                           strict=True)]
        outcomes: list[PollOutcome | None] = [None] * len(jobs)
        position = iter(range(len(jobs)))

        async def work() -> None:
            for i in position:
                outcomes[i] = await self._poll_job(jobs[i])

        workers = min(concurrency or self.concurrency, len(jobs))
        await asyncio.gather(*(work() for _ in range(workers)))
        await self._writer.flush()
        return [o for o in outcomes if o is not None]

    async def poll_due(self, *, lease_s: float = 300.0,
                       batch: int | None = None) -> list[PollOutcome]:
        """One cycle: claim and poll every feed due now, then return what the polls did."""
        outcomes: list[PollOutcome] = []
        await self._cycle(None, lease_s=lease_s, batch=batch, outcomes=outcomes)
        return outcomes

    async def run(self, stop: asyncio.Event, *, lease_s: float = 300.0,
                  batch: int | None = None) -> None:
        """Poll feeds as they come due until `stop` is set."""
        await self.refresh(force=True)
        await self._cycle(stop, lease_s=lease_s, batch=batch, outcomes=None)

    # -- claiming -------------------------------------------------------------------------------
    async def _cycle(self, stop: asyncio.Event | None, *, lease_s: float, batch: int | None,
                     outcomes: list[PollOutcome] | None) -> None:
        """Claim due feeds and poll them with `concurrency` workers; with `stop`, keep going
        (waiting for the next due feed) until it is set, else return when none is due."""
        jobs: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=self.concurrency)
        limit = max(1, min(batch or self.concurrency, self.concurrency))

        async def work() -> None:
            while (job := await jobs.get()) is not None:
                outcome = await self._poll_job(job)
                if outcomes is not None:
                    outcomes.append(outcome)

        workers = [asyncio.create_task(work()) for _ in range(self.concurrency)]
        try:
            while stop is None or not stop.is_set():
                try:
                    await self.refresh()
                    claimed = await self.store.claim_due_states(
                        self.worker_id, STATE_FIELDS, limit=limit, lease_s=lease_s,
                        now=self.clock())
                except (RedisError, OSError) as exc:  # Redis away: wait, try again, never exit
                    logger.warning("cannot read the schedule (%s); retrying", exc)
                    if stop is None:
                        break
                    await _wait(stop, 1.0)
                    continue
                if not claimed:
                    if stop is None:
                        break
                    await self._idle(stop)
                    continue
                for feed_id, state in claimed:
                    if stop is not None and stop.is_set():  # not started: back, due now
                        self._writer.add(StateWrite(feed_id, {}, self.clock(), claimed=True))
                        continue
                    # Blocks while every worker is busy: at most `concurrency` feeds wait here.
                    await jobs.put(_Job(feed_id, self.feeds.get(feed_id), state, claimed=True))
        finally:
            # Stopping: feeds claimed but not started go back on the schedule, due now, lease
            # dropped, for another replica (or the next start) to poll.
            while stop is not None and stop.is_set() and not jobs.empty():
                job = jobs.get_nowait()
                if job is not None:
                    self._writer.add(StateWrite(job.feed_id, {}, self.clock(), claimed=True))
            for _ in workers:
                await jobs.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            await self._writer.flush()

    async def _idle(self, stop: asyncio.Event) -> None:
        """Wait for the next due feed (at most a second: feeds added meanwhile are seen)."""
        try:
            due = await self.store.next_due()
        except (RedisError, OSError):
            due = None
        delay = 1.0 if due is None else min(1.0, max(0.05, due - self.clock()))
        await _wait(stop, delay)

    # -- one feed -------------------------------------------------------------------------------
    async def _poll_job(self, job: _Job) -> PollOutcome:
        feed = job.feed
        if feed is None or feed.paused:
            # Paused here, or unknown to this replica's config (a reload elsewhere): later.
            delay = 3600.0 if feed is not None else 300.0
            self._writer.add(StateWrite(job.feed_id, {}, self.clock() + delay, job.claimed))
            return PollOutcome(feed.url if feed else job.feed_id, "unchanged")
        started = time.monotonic()
        fields: dict[str, str | int | float] = {}
        try:
            outcome, fields = await self._poll(feed, job.feed_id, job.state)
        except FeedError as exc:
            outcome = PollOutcome(feed.url, "error", error=exc.message, error_kind=exc.kind,
                                  retry_after=getattr(exc, "retry_after", None))
        except Exception as exc:  # one bad feed must never stop the others
            logger.exception("unexpected error polling feed", extra={"feed": feed.url})
            outcome = PollOutcome(feed.url, "error", error=f"internal error: {exc!r}")
        outcome.seconds = time.monotonic() - started
        next_due = self._plan(feed, job.state, outcome, fields)
        self._writer.add(StateWrite(job.feed_id, _changed_fields(fields, job.state), next_due,
                                    job.claimed))
        if outcome.event is not None and self.on_health:
            try:
                await self.on_health(feed, outcome.event, outcome.error)
            except Exception:
                logger.exception("could not announce the feed's health", extra={"feed": feed.url})
        if self.on_poll:
            self.on_poll(outcome)
        return outcome

    def _plan(self, feed: FeedConfig, state: dict[str, str], outcome: PollOutcome,
              fields: dict[str, str | int | float]) -> float:
        """The next due time, with the schedule's and health's fields added to `fields`."""
        now = self.clock()
        base = max(INTERVAL_FLOOR_S, feed.interval)
        if outcome.status == "error":
            decision = after_failure(state, now=now, base_interval_s=base,
                                     kind=outcome.error_kind, retry_after_s=outcome.retry_after,
                                     policy=self.policy)
            fields.update(last_error=outcome.error, last_poll=now)
            logger.warning("feed poll failed: %s; next attempt in %.0f s", outcome.error,
                           decision.delay_s, extra={"feed": feed.url})
        else:
            decision = after_success(state, now=now, base_interval_s=base,
                                     new_items=outcome.new_articles, max_age_s=outcome.max_age,
                                     ttl_s=outcome.ttl, policy=self.policy)
        fields.update(decision.fields)
        fields["next_poll"] = now + decision.delay_s
        cause = str(decision.fields.get("interval_cause") or "")
        interval = float(decision.fields.get("interval") or base)
        if (outcome.status != "error" and cause and interval > 2 * base
                and state.get("interval_cause") != cause):
            # Said once, when the cause appears: the server asks for longer than configured.
            logger.warning("the feed's server asks to be polled less often than configured "
                           "(%s: every %s instead of %s); honouring it", cause,
                           _duration(interval), _duration(base),
                           extra={"feed": display_url(feed.url)})
        if decision.event is not None:
            outcome.event = decision.event
            logger.warning("feed is now %s: %s", decision.event.value, outcome.error or "ok",
                           extra={"feed": feed.url})
        return now + decision.delay_s

    async def _poll(self, feed: FeedConfig, feed_id: str, state: dict[str, str]
                    ) -> tuple[PollOutcome, dict[str, str | int | float]]:
        result = await self.fetcher.fetch(
            state.get("current_url") or feed.url, etag=state.get("etag") or None,
            last_modified=state.get("last_modified") or None, trusted=feed.trusted,
            allow_networks=self.config.allow_networks, user_agent=feed.user_agent,
            headers=feed.headers or None, headers_for=feed.url, proxy=feed.proxy,
        )
        now = self.clock()
        # Written only after the items are queued: a crash before that polls the body again.
        fields: dict[str, str | int | float] = {
            "etag": result.etag or "", "last_modified": result.last_modified or "",
            "last_poll": now, "last_error": ""}
        if result.permanent_redirect_to:
            # A permanent redirect moves the feed for good; temporary ones are not stored.
            fields["current_url"] = result.permanent_redirect_to
            logger.info("feed moved permanently to %s", result.permanent_redirect_to,
                        extra={"feed": feed.url})
        first_run = not state.get("first_polled")
        ttl = _f(state.get("ttl"))
        if result.body is None or (result.body_hash and result.body_hash == state.get("body_hash")
                                   and not first_run):
            return PollOutcome(feed.url, "unchanged", max_age=result.max_age, ttl=ttl), fields
        body = result.body
        parsed, digests, how = await self._read(functools.partial(
            read_feed, self.parse, body, feed_url=result.url, content_type=result.content_type,
            known=None if first_run else state.get("items", "")))
        fields.update(body_hash=result.body_hash or "", items=digests)
        if parsed is None:  # a new body, but every item in it is one we had
            return PollOutcome(feed.url, "unchanged", max_age=result.max_age, ttl=ttl), fields
        outcome = await self.articles.route(feed, feed_id, parsed, first_run=first_run,
                                        items=len(digests) // DIGEST_CHARS or None,
                                        partial=how == "partial")
        outcome.parsed = how
        for note in parsed.skipped:   # what the parser left out of the feed (a bad field…)
            logger.warning("skipped while reading: %s", note, extra={"feed": feed.url})
            outcome.skipped.append(f"{feed.url}: {note}")
        fields.update(first_polled=1, title=parsed.title, ttl=parsed.ttl_seconds or "")
        outcome.max_age, outcome.ttl = result.max_age, parsed.ttl_seconds
        return outcome, fields

    async def _read(self, call: Callable[[], FeedRead]) -> FeedRead:
        """Run `read_feed` off the event loop, bounded in time: in the parse processes when
        there are any (they use other cores; feedparser holds the GIL), else in a thread."""
        return await self._parse_pool.run(call)

    async def close(self) -> None:
        """Stop the parse processes, if any (call at shutdown)."""
        await self._parse_pool.close()


# -- helpers -------------------------------------------------------------------------------------

async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _f(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _changed_fields(fields: dict[str, str | int | float], state: dict[str, str]
                    ) -> dict[str, str | int | float]:
    """The fields whose stored text would change (the store writes values as str())."""
    return {k: v for k, v in fields.items()
            if (old := state.get(k)) is None or old != ("" if v is None else str(v))}


def _duration(seconds: float) -> str:
    return format_duration(seconds)
