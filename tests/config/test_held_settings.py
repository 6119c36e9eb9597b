"""The held posts' settings: read from the environment with sane defaults, and a value the bot
cannot honour refused at start, naming the variable."""
from __future__ import annotations

import pytest

from config.schema import ConfigError
from config.settings import Settings


def test_defaults_and_durations() -> None:
    """Unset: 10,000 posts, a first probe after a minute, backing off to six hours; set: read
    as a count and durations."""
    plain = Settings.from_env({})
    assert (plain.held_cap, plain.probe_first_s, plain.probe_max_s) == (10_000, 60.0, 21_600.0)
    tuned = Settings.from_env({"BOT_HELD_CAP": "500", "BOT_PROBE_FIRST": "30s",
                               "BOT_PROBE_MAX": "2h"})
    assert (tuned.held_cap, tuned.probe_first_s, tuned.probe_max_s) == (500, 30.0, 7200.0)


@pytest.mark.parametrize(("env", "named"), [
    ({"BOT_HELD_CAP": "0"}, "BOT_HELD_CAP"),
    ({"BOT_HELD_CAP": "lots"}, "BOT_HELD_CAP"),
    ({"BOT_PROBE_FIRST": "soon"}, "BOT_PROBE_FIRST"),
    ({"BOT_PROBE_FIRST": "2h", "BOT_PROBE_MAX": "1h"}, "BOT_PROBE_MAX"),
])
def test_a_value_it_cannot_honour_is_refused_by_name(env: dict[str, str], named: str) -> None:
    """A cap below 1, a duration it cannot read, or a longest interval shorter than the first
    stop the bot at start with the variable's name."""
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)
