"""When to poll a feed next, and how healthy it is. Pure functions over the feed's state.

The interval is the feed's configured one, as written; the feed server's own hints (Cache-Control
max-age, Retry-After, RSS <ttl>) may make it longer, up to a cap, and the cause is recorded
(`interval_cause`) for /feeds and the status page; failures back off exponentially with jitter; a
feed failing for longer than `broken_after` is marked broken (and editors are told once); a feed
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
            # Exponentially weighted mean of the time between new items (shown to editors).
            observed = max(1.0, (now - last_new) / new_items)
            gap = observed if not gap else 0.7 * gap + 0.3 * observed
        fields["last_new"] = now
        fields["publish_gap"] = round(gap, 1)
    # The configured interval is honoured as written; only the server's own hints may make
    # it longer (up to a cap), and the cause is recorded so editors can see it.
    interval, cause = base_interval_s, ""
    for name, hint in (("max-age", max_age_s), ("ttl", ttl_s)):
        if hint and min(hint, policy.max_server_hint_s) > interval:
            interval, cause = min(hint, policy.max_server_hint_s), name
    fields["interval"] = round(interval, 1)
    fields["interval_cause"] = cause
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
    cause = "rare" if health in (FeedHealth.BROKEN, FeedHealth.GONE) else "backoff"
    if retry_after_s and min(retry_after_s, policy.max_server_hint_s) > delay:
        delay, cause = min(retry_after_s, policy.max_server_hint_s), "retry-after"
    fields: dict[str, str | float | int] = {"health": health.value, "failures": failures,
                                            "first_failure": first_failure,
                                            "interval": round(delay, 1), "interval_cause": cause}
    return ScheduleDecision(delay, fields, event)
