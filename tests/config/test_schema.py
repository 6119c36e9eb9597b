"""Config validation: every problem names the key, the value and the reason."""
from __future__ import annotations

from pathlib import Path

import pytest

from config.schema import ConfigError, load_config, parse_config
from config.settings import BUNDLED_EXAMPLE, Settings

BASE = {"channels": [{"chat": "@nashir_a"}],
        "feeds": [{"url": "https://example.org/f.xml", "channels": ["@nashir_a"]}]}


def test_bundled_example_is_valid_and_points_at_the_shipped_sample() -> None:
    """The example config loads as it is, and its sample feed file exists."""
    config = load_config(BUNDLED_EXAMPLE)
    sample = Path(config.feeds[0].url.removeprefix("file://"))
    assert sample.is_file() and sample.name == "feed-ar.xml"
    assert {c.chat for c in config.channels} >= {target.chat for target in config.feeds[0].channels}


@pytest.mark.parametrize(("patch", "fragments"), [
    ({"timezone": "Mars/Olympus"}, ["timezone", "'Mars/Olympus'", "unknown time zone"]),
    ({"owners": ["abc"]}, ["owners[0]", "'abc'", "integer"]),
    ({"channels": [{"chat": "nospaces allowed"}]}, ["channels[0].chat", "numeric chat id"]),
    ({"channels": [{"chat": "@nashir_a", "digits": "roman"}]}, ["channels[0].digits", "'roman'"]),
    ({"allow_networks": ["10.0.0.0/33"]}, ["allow_networks", "network"]),
])
def test_errors_name_key_value_and_reason(patch: dict, fragments: list[str]) -> None:
    """Each bad value is reported with its key path, its value and why."""
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, **patch})
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_review_mode_needs_a_review_chat() -> None:
    """A feed in review mode without a review_chat is refused with a reason."""
    feed = {**BASE["feeds"][0], "mode": "review"}
    with pytest.raises(ConfigError, match="review_chat"):
        parse_config({**BASE, "feeds": [feed]})


def test_feed_channels_accept_ids_usernames_and_topics() -> None:
    """Feed targets may be @names, numeric ids, or {chat, topic}; durations parse."""
    config = parse_config({
        "channels": [{"chat": "@nashir_a"}, {"chat": -1001234567890}],
        "feeds": [{"url": "https://example.org/f.xml", "interval": "2h",
                   "channels": ["@nashir_a", {"chat": -1001234567890, "topic": 42}]}],
    })
    targets = config.feeds[0].channels
    assert [(t.chat, t.topic) for t in targets] == [("@nashir_a", None), ("-1001234567890", 42)]
    assert config.feeds[0].interval == 7200.0


def test_feed_name_is_the_display_name_of_its_source() -> None:
    """A feed's `name` is kept with its spaces tidied; empty or overlong ones are refused by key."""
    feed = {**BASE["feeds"][0], "name": "  الحرة \n"}
    assert parse_config({**BASE, "feeds": [feed]}).feeds[0].name == "الحرة"
    assert parse_config(BASE).feeds[0].name is None
    for bad, reason in (("  ", "must not be empty"), ("س" * 81, "at most 80")):
        with pytest.raises(ConfigError) as caught:
            parse_config({**BASE, "feeds": [{**BASE["feeds"][0], "name": bad}]})
        assert "feeds[0].name" in str(caught.value) and reason in str(caught.value)


def test_not_yaml_and_missing_file_are_clear(tmp_path: Path) -> None:
    """Unreadable and unparsable files give a message naming the file."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("feeds: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_settings_from_env_defaults_and_errors() -> None:
    """Unset variables take the contract's defaults; a bad address is refused."""
    settings = Settings.from_env({"BOT_LOG_FORMAT": "json"})
    assert settings.dry_run and settings.api_url == "https://api.telegram.org"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    with pytest.raises(ConfigError, match="BOT_HTTP_ADDR"):
        Settings.from_env({"BOT_HTTP_ADDR": "nonsense"})
