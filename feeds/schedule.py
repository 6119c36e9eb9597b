"""When to poll a feed next, and how healthy it is. Pure functions over the feed's state.

The interval starts at the feed's configured one (the shortest time between polls) and adapts to
how often the feed really publishes, within bounds; the feed server's own hints (Cache-Control
max-age, Retry-After, RSS <ttl>) are honoured; failures back off exponentially with jitter; a feed
failing for longer than `broken_after` is marked broken (and editors are told once); a feed
answering 404/410 for `gone_after` is marked gone. Both are then polled rarely, and announced
again when they recover.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from model.errors import FetchErrorKind


class FeedHealth(StrEnum):
    OK = "ok"
    FAILING = "failing"
    BROKEN = "broken"
    GONE = "gone"


class HealthEvent(StrEnum):
    BROKEN = "broken"
    GONE = "gone"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    max_interval_s: float = 6 * 3600.0      # the adaptive interval never grows past this
    max_backoff_s: float = 6 * 3600.0
    broken_after_s: float = 24 * 3600.0
    gone_after_s: float = 3 * 86400.0
    rare_poll_s: float = 12 * 3600.0        # how often a broken or gone feed is still tried
    max_server_hint_s: float = 24 * 3600.0  # a server's max-age/ttl is honoured up to this


@dataclass(frozen=True, slots=True)
class ScheduleDecision:
    delay_s: float
    fields: dict[str, str | float | int]    # feed state fields to write
    event: HealthEvent | None = None        # an announcement to make, once


def _f(state: dict[str, str], name: str) -> float:
    try:
        return float(state.get(name) or 0)
    except ValueError:
        return 0.0


def after_success(state: dict[str, str], *, now: float, base_interval_s: float,
                  new_items: int, max_age_s: float | None, ttl_s: float | None,
                  policy: SchedulePolicy = SchedulePolicy()) -> ScheduleDecision:
    """The feed answered (changed or not)."""
    fields: dict[str, str | float | int] = {"health": FeedHealth.OK.value, "failures": 0,
                                            "first_failure": 0, "last_ok": now}
    event = HealthEvent.RECOVERED if state.get("health") in (FeedHealth.BROKEN,
                                                             FeedHealth.GONE) else None
    gap = _f(state, "publish_gap")
    last_new = _f(state, "last_new")
    if new_items:
        if last_new:
            # Exponentially weighted mean of the time between new items.
            observed = max(1.0, (now - last_new) / new_items)
            gap = observed if not gap else 0.7 * gap + 0.3 * observed
        fields["last_new"] = now
        fields["publish_gap"] = round(gap, 1)
    # Poll about three times per typical gap between items, never faster than configured.
    interval = base_interval_s if not gap else min(max(base_interval_s, gap / 3),
                                                   max(base_interval_s, policy.max_interval_s))
    for hint in (max_age_s, ttl_s):
        if hint:
            interval = max(interval, min(hint, policy.max_server_hint_s))
    fields["interval"] = round(interval, 1)
    return ScheduleDecision(interval * random.uniform(0.95, 1.05), fields, event)


def after_failure(state: dict[str, str], *, now: float, base_interval_s: float,
                  kind: FetchErrorKind | None, retry_after_s: float | None,
                  policy: SchedulePolicy = SchedulePolicy()) -> ScheduleDecision:
    """The poll failed with an error of `kind`."""
    failures = int(_f(state, "failures")) + 1
    first_failure = _f(state, "first_failure") or now
    failing_for = now - first_failure
    health = FeedHealth(state.get("health") or FeedHealth.OK)
    event: HealthEvent | None = None
    gone_kind = kind in (FetchErrorKind.NOT_FOUND, FetchErrorKind.GONE)
    if gone_kind and failing_for >= policy.gone_after_s and health != FeedHealth.GONE:
        health, event = FeedHealth.GONE, HealthEvent.GONE
    elif failing_for >= policy.broken_after_s and health not in (FeedHealth.BROKEN,
                                                                 FeedHealth.GONE):
        health, event = FeedHealth.BROKEN, HealthEvent.BROKEN
    elif health == FeedHealth.OK:
        health = FeedHealth.FAILING
    if health in (FeedHealth.BROKEN, FeedHealth.GONE):
        delay = policy.rare_poll_s
    else:
        delay = min(policy.max_backoff_s, base_interval_s * 2 ** min(failures - 1, 12))
        delay *= random.uniform(0.5, 1.0) if failures > 1 else 1.0  # jitter spreads retries
    if retry_after_s:
        delay = max(delay, min(retry_after_s, policy.max_server_hint_s))
    fields: dict[str, str | float | int] = {"health": health.value, "failures": failures,
                                            "first_failure": first_failure}
    return ScheduleDecision(delay, fields, event)
