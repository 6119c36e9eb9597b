"""The YAML config file of the contract, as validated, frozen models.

Validation happens once at start; `load_config` turns every problem into a `ConfigError` that
names the key, the value and the reason, so an operator can fix the file without reading code.
"""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.languages import (
    CALENDARS,
    DIGITS,
    MONTH_NAMES,
    Calendar,
    Digits,
    Language,
    MonthNames,
    default_calendars,
    default_digits,
)


class ConfigError(Exception):
    """The config file cannot be used. The message is meant for the operator."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """`90`, `"30s"`, `"10m"`, `"2h"`, `"1d"` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s, 10m, 2h or 1d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("must be a duration like 30s, 10m, 2h or 1d")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]

# The shortest time between two polls of one feed. A configured interval is honoured as written
# or refused below this (being polite to publishers' servers; Telegram's channel limits make
# faster polling pointless too).
INTERVAL_FLOOR_S = 60.0


def parse_interval(value: Any) -> float:
    """A feed's `interval`: a duration no shorter than INTERVAL_FLOOR_S."""
    seconds = parse_duration(value)
    if seconds < INTERVAL_FLOOR_S:
        bare = isinstance(value, (int, float)) or (isinstance(value, str)
                                                    and value.strip().replace(".", "").isdigit())
        unit = " (a bare number is seconds: write 10m for ten minutes)" if bare else ""
        raise ValueError(f"is shorter than the floor of {format_duration(INTERVAL_FLOOR_S)} "
                         f"between polls{unit}; use {format_duration(INTERVAL_FLOOR_S)} or "
                         "more")
    return seconds


def format_duration(seconds: float) -> str:
    """90 -> "90s", 600 -> "10m", 7200 -> "2h", 86400 -> "1d" (the config's own spelling)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.1f}m".replace(".0m", "m")
    return f"{seconds:g}s"


Interval = Annotated[float, BeforeValidator(parse_interval)]

REVIEW_STALE_AFTER_S = 3 * 86_400.0


def normalise_chat(value: Any) -> str:
    """Chats are kept as strings: `@username` or a numeric id like `-1001234567890`."""
    if isinstance(value, bool):
        raise ValueError("must be @username or a numeric chat id")
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    if re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,}", text) or re.fullmatch(r"-?\d+", text):
        return text
    raise ValueError("must be @username or a numeric chat id like -1001234567890")


Chat = Annotated[str, BeforeValidator(normalise_chat)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelConfig(_Strict):
    """A chat the bot posts to, and how its posts look."""

    chat: Chat
    language: Language = "ar"
    digits: Digits = "latin"             # default: the language's own (config.languages)
    calendars: tuple[Calendar, ...] = ("gregorian",)  # default: the language's own
    month_names: MonthNames = "standard"
    timezone: str | None = None          # overrides the top-level timezone for this channel
    template: str | None = None          # operator's own template; fields by name
    photo: bool = False                  # post the article's image with a caption
    link_preview: bool = True
    excerpt_chars: int = Field(default=450, ge=80, le=3500)
    hashtags: bool = True
    edit_on_change: bool = False         # edit the posted message when the article changes
    # summary: the HTML post | rich: the whole piece as one Telegram rich message (Bot API
    # 10.1+; docs/rich-messages.md), with the summary as the fallback
    format: Literal["summary", "rich"] = "summary"
    paused: bool = False

    @model_validator(mode="before")
    @classmethod
    def _language_defaults(cls, data: Any) -> Any:
        # `digits` and `calendars` left out mean the language's own (Persian: ۰۱۲۳, Solar Hijri).
        if isinstance(data, dict):
            language = str(data.get("language", "ar"))
            if "digits" not in data:
                data = {**data, "digits": default_digits(language)}
            if "calendars" not in data:
                data = {**data, "calendars": default_calendars(language)}
        return data

    @field_validator("digits")
    @classmethod
    def _digits_for_language(cls, value: str, info: ValidationInfo) -> str:
        language = info.data.get("language")
        allowed = DIGITS.get(language or "", ())
        if language and value not in allowed:
            raise ValueError(f"a channel in language {language} can write digits only as "
                             f"{' or '.join(allowed)}")
        return value

    @field_validator("calendars")
    @classmethod
    def _calendars_for_language(cls, value: tuple[str, ...],
                                info: ValidationInfo) -> tuple[str, ...]:
        language = info.data.get("language")
        allowed = CALENDARS.get(language or "", ())
        wrong = [c for c in value if c not in allowed]
        if language and wrong:
            raise ValueError(f"a channel in language {language} cannot show the {wrong[0]} "
                             f"calendar; it can show {', '.join(allowed)}")
        return value

    @field_validator("month_names")
    @classmethod
    def _month_names_for_language(cls, value: str, info: ValidationInfo) -> str:
        language = info.data.get("language")
        if language and value not in MONTH_NAMES.get(language, ()):
            raise ValueError(f"{value} month names are Arabic only (language is {language})")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            _check_timezone(value)
        return value


class FeedTarget(_Strict):
    """Where a feed posts: a chat, and optionally a forum topic in it."""

    chat: Chat
    topic: int | None = None


def _target(value: Any) -> Any:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return {"chat": value}
    return value


FEED_NAME_MAX = 80  # a post's source line is cut to this length anyway


class FeedConfig(_Strict):
    """A feed and the chats its new items go to. `name`: how its posts name their source
    (the feed's own title is often an aggregator's or a generator's boilerplate)."""

    url: str
    channels: tuple[Annotated[FeedTarget, BeforeValidator(_target)], ...]
    name: str | None = None              # the source line of its posts; default: the feed's title
    interval: Interval = 600.0
    mode: Literal["auto", "review"] = "auto"
    first_run: Literal["none", "latest", "all"] = "latest"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    user_agent: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    proxy: str | None = None
    paused: bool = False
    # Not a key of the file: set by the registry on feeds added by command or OPML. Only feeds
    # written in the config file are trusted; the others are fetched under the address guard
    # on every poll and every redirect hop (a later 301 or DNS change must not reach inside).
    _added_by_command: bool = PrivateAttr(default=False)

    @property
    def trusted(self) -> bool:
        """True for feeds written in the config file, False for feeds added by command."""
        return not self._added_by_command

    def added_by_command(self) -> FeedConfig:
        """This feed, marked as added by command or import (fetched untrusted)."""
        copy = self.model_copy()
        copy._added_by_command = True
        return copy

    @field_validator("url")
    @classmethod
    def _feed_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^(https?://|file:)", value, re.IGNORECASE):
            raise ValueError("must be an http://, https:// or file: URL")
        return value

    @field_validator("name")
    @classmethod
    def _display_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be empty (leave the key out to use the feed's title)")
        if len(value) > FEED_NAME_MAX:
            raise ValueError(f"must be at most {FEED_NAME_MAX} characters")
        return value

    @field_validator("channels")
    @classmethod
    def _some_channel(cls, value: tuple[FeedTarget, ...]) -> tuple[FeedTarget, ...]:
        if not value:
            raise ValueError("a feed needs at least one channel")
        return value


class BotConfig(_Strict):
    """The whole config file."""

    timezone: str = "UTC"
    owners: tuple[int, ...] = ()
    editors: tuple[int, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    review_chat: Chat | None = None
    # Owners are told (once) when a piece has waited this long for an editor's decision.
    review_stale_after: Duration = REVIEW_STALE_AFTER_S
    allow_networks: tuple[str, ...] = ()
    feeds: tuple[FeedConfig, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        _check_timezone(value)
        return value

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not a network like 10.0.0.0/8") from None
        return value

    @model_validator(mode="after")
    def _feeds_name_known_channels(self) -> BotConfig:
        known = {channel.chat for channel in self.channels}
        for index, feed in enumerate(self.feeds):
            for target in feed.channels:
                if target.chat not in known:
                    raise _KeyedError(
                        f"feeds[{index}].channels", target.chat,
                        "this channel is not declared under channels:",
                    )
        if any(feed.mode == "review" for feed in self.feeds) and self.review_chat is None:
            raise _KeyedError("review_chat", None, "a feed in mode: review needs a review_chat")
        return self

    def channel(self, chat: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.chat == chat), None)


class _KeyedError(ValueError):
    def __init__(self, key: str, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.key, self.value, self.reason = key, value, reason


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone (use a name like Asia/Damascus or UTC)") from None


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")) or part in (
            "str", "int", "FeedTarget",
        ):
            continue  # pydantic's names for union branches, not keys the operator wrote
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def parse_config(data: Any, source: str = "config") -> BotConfig:
    """Validate already-loaded YAML data."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the file must hold a mapping of keys, not {type(data).__name__}")
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            ctx_error = (error.get("ctx") or {}).get("error")
            if isinstance(ctx_error, _KeyedError):
                lines.append(f"{source}: {ctx_error.key} = {ctx_error.value!r}: {ctx_error.reason}")
                continue
            loc = tuple(error["loc"])
            reason = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                reason = "unknown key (check its spelling)"
            value = error.get("input", _lookup(data, loc))
            lines.append(f"{source}: {_key_path(loc)} = {value!r}: {reason}")
        raise ConfigError("\n".join(lines)) from None


def load_config(path: Path) -> BotConfig:
    """Read and validate the YAML config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    try:
        # libyaml's loader when the wheel has it: ten times faster on a config of 2,000 feeds.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(_resolve_file_urls(data, path.resolve().parent), str(path))


def _resolve_file_urls(data: Any, base: Path) -> Any:
    """`file:relative/path` feed URLs are relative to the config file's folder."""
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        return data
    feeds = []
    for feed in data["feeds"]:
        url = feed.get("url") if isinstance(feed, dict) else None
        if isinstance(url, str) and url.startswith("file:") and not url.startswith("file://"):
            feed = {**feed, "url": (base / url.removeprefix("file:")).resolve().as_uri()}
        feeds.append(feed)
    return {**data, "feeds": feeds}
