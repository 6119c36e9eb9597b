"""Scheduling and feed health: intervals, server hints, backoff, broken and gone feeds."""
from __future__ import annotations

from feeds.schedule import FeedHealth, HealthEvent, SchedulePolicy, after_failure, after_success
from model.errors import FetchErrorKind

POLICY = SchedulePolicy(broken_after_s=3600, gone_after_s=7200, rare_poll_s=43200)


def test_a_quiet_feed_is_polled_at_its_configured_interval() -> None:
    """With no history the configured interval is used (with a little jitter)."""
    decision = after_success({}, now=1000, base_interval_s=600, new_items=0, max_age_s=None,
                             ttl_s=None)
    assert 570 <= decision.delay_s <= 630 and decision.event is None


def test_a_slow_publisher_keeps_its_configured_interval() -> None:
    """A feed that publishes once a day is still polled at its configured interval (honoured
    as written); the observed gap between items is kept for editors to see."""
    state = {"last_new": str(1000.0), "publish_gap": str(86400.0)}
    decision = after_success(state, now=1000 + 86400, base_interval_s=600, new_items=1,
                             max_age_s=None, ttl_s=None, policy=POLICY)
    assert decision.fields["interval"] == 600 and decision.fields["interval_cause"] == ""
    assert decision.fields["publish_gap"] == 86400.0


def test_server_hints_are_honoured() -> None:
    """Cache-Control max-age and the feed's ttl push the next poll out."""
    decision = after_success({}, now=0, base_interval_s=600, new_items=0, max_age_s=3600,
                             ttl_s=None)
    assert decision.delay_s >= 3600 * 0.95 and decision.fields["interval_cause"] == "max-age"
    decision = after_success({}, now=0, base_interval_s=600, new_items=0, max_age_s=None,
                             ttl_s=7200)
    assert decision.delay_s >= 7200 * 0.95


def test_failures_back_off_and_retry_after_wins() -> None:
    """Each failure roughly doubles the wait; a server's Retry-After is never undercut."""
    state: dict[str, str] = {}
    delays = []
    for n in range(4):
        decision = after_failure(state, now=100 + n, base_interval_s=60,
                                 kind=FetchErrorKind.TIMEOUT, retry_after_s=None, policy=POLICY)
        state = {k: str(v) for k, v in decision.fields.items()}
        delays.append(decision.delay_s)
    assert delays[0] == 60 and delays[3] >= 60 * 2 ** 3 * 0.5
    assert state["health"] == FeedHealth.FAILING
    limited = after_failure({}, now=0, base_interval_s=60, kind=FetchErrorKind.RATE_LIMITED,
                            retry_after_s=900, policy=POLICY)
    assert limited.delay_s >= 900 and limited.fields["interval_cause"] == "retry-after"


def test_broken_is_announced_once_then_recovery_is_announced() -> None:
    """Past broken_after the feed turns broken with one event; later failures add none; the
    first success after that announces the recovery."""
    state = {"failures": "3", "first_failure": "1", "health": "failing"}
    broken = after_failure(state, now=3602, base_interval_s=60, kind=FetchErrorKind.TIMEOUT,
                           retry_after_s=None, policy=POLICY)
    assert broken.event == HealthEvent.BROKEN and broken.delay_s == POLICY.rare_poll_s
    state = {k: str(v) for k, v in broken.fields.items()}
    again = after_failure(state, now=9000, base_interval_s=60, kind=FetchErrorKind.TIMEOUT,
                          retry_after_s=None, policy=POLICY)
    assert again.event is None
    recovered = after_success({k: str(v) for k, v in again.fields.items()}, now=9999,
                              base_interval_s=60, new_items=0, max_age_s=None, ttl_s=None)
    assert recovered.event == HealthEvent.RECOVERED and recovered.fields["health"] == "ok"


def test_404_for_days_means_gone() -> None:
    """A feed answering 404 past gone_after is marked gone, once."""
    state = {"failures": "9", "first_failure": "1", "health": "broken"}
    gone = after_failure(state, now=7302, base_interval_s=60, kind=FetchErrorKind.NOT_FOUND,
                         retry_after_s=None, policy=POLICY)
    assert gone.event == HealthEvent.GONE and gone.fields["health"] == "gone"
