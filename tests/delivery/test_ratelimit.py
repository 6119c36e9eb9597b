"""The shared rate limiter's Lua script against a real Redis: sliding windows, pacing, chat and
group limits, 429 bookkeeping, and two replicas drawing on the same logs."""
from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
import redis.asyncio as aioredis

from delivery.ratelimit import RateLimits, SharedRateLimiter, is_group_chat
from store import keys

ONLY_OVERALL = {"chat_burst": 0, "group_per_minute": 0, "slack": 0.0}


def test_limits_are_validated_and_windows_include_the_slack() -> None:
    """Impossible limits are refused at construction; the script gets count and window in ms."""
    with pytest.raises(ValueError):
        RateLimits(overall_per_second=-1)
    with pytest.raises(ValueError):
        RateLimits(group_window=0)
    assert RateLimits(slack=0.01).script_args() == [30, 1010, 3, 3010, 20, 60010]
    assert RateLimits.unlimited().script_args()[::2] == [0, 0, 0]


def test_groups_and_channels_are_told_from_private_chats() -> None:
    """Negative ids and @usernames are groups/channels; positive ids are private chats."""
    assert is_group_chat("-1001234") and is_group_chat("@news")
    assert not is_group_chat("12345")


async def test_overall_limit_paces_n_sends_per_window(redis: aioredis.Redis) -> None:
    """With 5 per second, slots are a fifth of a second apart, and the sixth comes one full
    window after the first."""
    limiter = SharedRateLimiter(redis, RateLimits(overall_per_second=5, **ONLY_OVERALL))
    waits = [(await limiter.reserve()).wait for _ in range(6)]
    gaps = [b - a for a, b in pairwise(waits)]
    assert waits[0] == pytest.approx(0.0, abs=0.01)
    assert all(gap == pytest.approx(0.2, abs=0.01) for gap in gaps)
    assert waits[5] - waits[0] == pytest.approx(1.0, abs=0.01)


async def test_chat_limit_allows_a_burst_then_waits_for_the_window(redis: aioredis.Redis) -> None:
    """A private chat may get 3 at once, then the 4th waits until the 1st left the 3 s window;
    another chat is not held up by it."""
    limiter = SharedRateLimiter(redis, RateLimits(overall_per_second=0, slack=0.0))
    waits = [(await limiter.reserve("42")).wait for _ in range(4)]
    assert waits[:3] == pytest.approx([0, 0, 0], abs=0.01)
    assert waits[3] == pytest.approx(3.0, abs=0.02)
    assert (await limiter.reserve("43")).wait == pytest.approx(0.0, abs=0.01)


async def test_group_limit_applies_to_channels_only(redis: aioredis.Redis) -> None:
    """A channel also has the per-minute limit (here 4 per 2 s); a private chat does not."""
    limits = RateLimits(overall_per_second=0, chat_per_second=100, chat_burst=100,
                        group_per_minute=4, group_window=2.0, slack=0.0)
    limiter = SharedRateLimiter(redis, limits)
    channel = [(await limiter.reserve("-1001")).wait for _ in range(5)]
    private = [(await limiter.reserve("7")).wait for _ in range(5)]
    assert channel[4] == pytest.approx(2.0, abs=0.02)
    assert max(private) == pytest.approx(0.0, abs=0.01)


async def test_two_replicas_draw_on_the_same_logs(redis_url: str, redis: aioredis.Redis) -> None:
    """Two limiters on two connections (two replicas) get interleaved, distinct slots: together
    they stay at 10 per second."""
    other = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        limits = RateLimits(overall_per_second=10, **ONLY_OVERALL)
        first, second = SharedRateLimiter(redis, limits), SharedRateLimiter(other, limits)
        results = await asyncio.gather(*(limiter.reserve() for _ in range(10)
                                         for limiter in (first, second)))
        assert len({r.member for r in results}) == 20
        slots = [score for _, score in await redis.zrange(keys.ratelimit_overall(), 0, -1,
                                                          withscores=True)]
        assert len(slots) == 20
        # Twenty sends at ten per second, a tenth of a second apart: the 11th comes a window
        # after the 1st.
        assert all(b - a >= 100 for a, b in pairwise(slots))
        assert slots[10] - slots[0] >= 1000
    finally:
        await other.aclose()


async def test_confirm_counts_a_send_when_telegram_answered(redis: aioredis.Redis) -> None:
    """A send confirmed after its slot moves to the confirmation time in the log (it may have
    reached Telegram that late), never earlier."""
    limiter = SharedRateLimiter(redis, RateLimits(overall_per_second=5, **ONLY_OVERALL))
    reservation = await limiter.reserve()
    before = await redis.zscore(keys.ratelimit_overall(), reservation.member)
    await asyncio.sleep(0.05)  # let Redis time move past the slot
    await limiter.confirm("", reservation)
    after = await redis.zscore(keys.ratelimit_overall(), reservation.member)
    assert after is not None and before is not None and after >= before + 45


async def test_a_429_in_one_chat_pauses_that_chat_and_two_pause_everyone(
        redis: aioredis.Redis) -> None:
    """A lone flood-wait is the chat's; a second chat's within the window means the bot's
    overall limit: every replica pauses for retry_after."""
    limiter = SharedRateLimiter(redis, RateLimits())
    assert await limiter.note_429("-1001", 2) is False
    assert await limiter.paused_for() == 0
    assert await limiter.note_429("-1002", 2) is True
    assert 1.5 < await limiter.paused_for() <= 2.0
    assert (await limiter.reserve("9")).wait >= 1.5
