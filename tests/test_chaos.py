"""The chaos run in short (bench/chaos.py): two workers on one append-only Redis, a worker
SIGKILLed and restarted, Redis restarted, the Bot API failing (5xx, 429 storm, answers lost
after the work was done), the bot kicked from a channel and re-added, feeds that are always
broken, and articles published throughout. The same reckoning as the long run."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import SENDS_IN_FLIGHT, Options, run_chaos

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")]


async def test_a_short_chaos_run_loses_nothing_and_posts_nothing_in_the_wrong_chat(
        tmp_path: Path) -> None:
    """Nothing is lost (each article reaches each of its chats, or is held for the channel
    the bot was kicked from), nothing lands in a chat its feed does not name, second copies
    stay within the sends in flight at each kill plus the answers the fake dropped, no worker
    crashes or leaves children behind, and each stops cleanly at the end."""
    options = Options(
        minutes=0.6, workers=2, seed=20261205, feeds=2, initial=8, publish_every=5.0,
        publish_for=25.0,
        drain=150.0, kill_every=14.0, fault_gap=(2.0, 4.0), fault_length=(4.0, 8.0),
        faults=("redis restart", "api 5xx", "api 429 storm", "api dropped connections",
                "kick and re-add"),
        root=tmp_path / "chaos", echo=False)
    report = await run_chaos(options)
    result = report.result
    summary = report.render() + "\n" + "\n".join(report.fault_lines)
    print("\n" + summary)
    assert report.kills >= 1, summary
    assert len(report.faults) >= 3, summary
    assert result.expected >= 32 and result.delivered >= 16, summary
    assert result.lost == [], summary
    assert result.wrong_chat == [] and result.unexpected == [], summary
    assert result.held_other == [], summary
    assert result.duplicated <= report.kills * SENDS_IN_FLIGHT + report.dropped_sends, summary
    assert report.crashes == [] and report.not_alive == [] and report.orphans == [], summary
    assert report.exit_codes == [0, 0], summary
    assert 0 < report.max_rss_mib < 1024, summary
