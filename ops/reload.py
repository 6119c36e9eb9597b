"""Config reload on SIGHUP, without dropping work.

The new file is read and validated first; if it is bad, the running config stays and the log
says why. If it is good, each part of the running process gets the new config through an
"applier" (the poller swaps its feed table and puts new feeds on the schedule; the status page
shows the new feeds), and one log line says what changed. Nothing is restarted: polls in flight
finish with the feed settings they started with, queued posts keep the text they were rendered
with, and the sender is not touched.

    reloader = Reloader(settings.config_path, config)
    reloader.add(apply_to_poller(poller))
    reloader.install(loop)                 # SIGHUP -> reload

Environment settings (token, REDIS_URL, BOT_HTTP_ADDR) are read once at start: changing them
needs a restart.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from config.schema import BotConfig, ConfigError
from pipeline.validate import load_checked_config

logger = logging.getLogger(__name__)

Applier = Callable[[BotConfig], Awaitable[None] | None]

# Values that may hold credentials: their changes are named, never shown.
_HIDDEN_FIELDS = {"headers"}


def _show(name: str, value: Any) -> str:
    if name == "proxy" and value:
        try:
            parts = urlsplit(str(value))
            if parts.password or parts.username:
                return f"{parts.scheme}://***@{parts.hostname}" + (f":{parts.port}"
                                                                     if parts.port else "")
        except ValueError:
            return "***"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_show(name, v) for v in value) + "]"
    if isinstance(value, dict) and "chat" in value:
        topic = value.get("topic")
        return str(value["chat"]) + (f"#{topic}" if topic is not None else "")
    return str(value)


def _field_changes(prefix: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if name in _HIDDEN_FIELDS:
            names = sorted(set(before or {}) ^ set(after or {}) |
                           {k for k in set(before or {}) & set(after or {})
                            if (before or {})[k] != (after or {})[k]})
            changes.append(f"{prefix}{name} changed ({', '.join(names)})")
        else:
            changes.append(f"{prefix}{name}: {_show(name, before)} → {_show(name, after)}")
    return changes


def describe_changes(old: BotConfig, new: BotConfig) -> list[str]:
    """What differs between two configs, one short line each, in a stable order; [] when they
    are the same. Header values and proxy passwords are never shown."""
    changes: list[str] = []
    old_data, new_data = old.model_dump(mode="json"), new.model_dump(mode="json")
    top = {k: v for k, v in old_data.items() if k not in ("feeds", "channels")}
    top_new = {k: v for k, v in new_data.items() if k not in ("feeds", "channels")}
    changes += _field_changes("", top, top_new)

    old_channels = {c["chat"]: c for c in old_data["channels"]}
    new_channels = {c["chat"]: c for c in new_data["channels"]}
    for chat in sorted(old_channels.keys() - new_channels.keys()):
        changes.append(f"channel removed: {chat}")
    for chat in sorted(new_channels.keys() - old_channels.keys()):
        changes.append(f"channel added: {chat}")
    for chat in sorted(old_channels.keys() & new_channels.keys()):
        changes += _field_changes(f"channel {chat}: ", old_channels[chat], new_channels[chat])

    old_feeds = {f["url"]: f for f in old_data["feeds"]}
    new_feeds = {f["url"]: f for f in new_data["feeds"]}
    for url in sorted(old_feeds.keys() - new_feeds.keys()):
        changes.append(f"feed removed: {url}")
    for url in sorted(new_feeds.keys() - old_feeds.keys()):
        targets = _show("channels", new_feeds[url]["channels"])
        changes.append(f"feed added: {url} → {targets}")
    for url in sorted(old_feeds.keys() & new_feeds.keys()):
        changes += _field_changes(f"feed {url}: ", old_feeds[url], new_feeds[url])
    return changes


class Reloader:
    """Re-reads the config file on demand (SIGHUP) and hands a valid new one to every applier."""

    def __init__(self, path: Path, config: BotConfig,
                 loader: Callable[[Path], BotConfig] = load_checked_config) -> None:
        self.path = path
        self.config = config
        self.loader = loader
        self.appliers: list[Applier] = []
        self.reloads = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, applier: Applier) -> None:
        self.appliers.append(applier)

    async def reload(self) -> list[str] | None:
        """Load and apply; the list of changes, or None when the new file was refused."""
        async with self._lock:  # two quick SIGHUPs apply one after the other, never interleaved
            try:
                new = await asyncio.to_thread(self.loader, self.path)
            except ConfigError as exc:
                logger.error("config reload refused, keeping the running config: %s",
                             str(exc).replace("\n", "; "))
                return None
            changes = describe_changes(self.config, new)
            if not changes:
                logger.info("config reloaded from %s: no changes", self.path)
                self.config = new
                return []
            for applier in self.appliers:
                try:
                    result = applier(new)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    logger.exception("applying the reloaded config failed in %r", applier)
            self.config = new
            self.reloads += 1
            logger.info("config reloaded from %s: %s", self.path, "; ".join(changes))
            return changes

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Reload on SIGHUP (the task is kept so it is not collected mid-way)."""
        loop = loop or asyncio.get_running_loop()

        def on_sighup() -> None:
            logger.info("SIGHUP: reloading %s", self.path)
            task = loop.create_task(self.reload(), name="config-reload")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)

    def uninstall(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        (loop or asyncio.get_running_loop()).remove_signal_handler(signal.SIGHUP)


def apply_to_poller(poller: Any) -> Applier:
    """Swap the poller's config and feed table, then schedule new feeds (due now) and drop
    removed ones from the schedule; its health notices go to the new owners and editors. Polls
    in flight finish as they started."""
    async def apply(config: BotConfig) -> None:
        poller.base_config = config
        on_health = getattr(poller, "on_health", None)
        if on_health is not None and hasattr(on_health, "set_config"):
            on_health.set_config(config)
        await poller.refresh(force=True)

    return apply


def apply_to_notices(notices: Any) -> Applier:
    """Owners' notices (ops.notices.OwnerNotices) go to the new owners and editors."""
    def apply(config: BotConfig) -> None:
        notices.set_config(config)

    return apply


def apply_to_transport(transport: Any) -> Applier:
    """The photo downloader of a live transport reaches the new `allow_networks` (the preview
    downloads nothing)."""
    def apply(config: BotConfig) -> None:
        set_networks = getattr(transport, "set_allow_networks", None)
        if set_networks is not None:
            set_networks(tuple(config.allow_networks))

    return apply


def apply_to_commands(app: Any) -> Applier:
    """Hand the new config to the command handlers' services (bot.app.BotData): owners and
    editors, the feed registry's declared feeds, allowed networks, the publishing time zone.
    Best kept next to BotData by its owner; this covers the fields BotData has today."""

    def apply(config: BotConfig) -> None:
        data = app.bot_data
        data.config = config
        if hasattr(data, "allow_networks"):
            data.allow_networks = tuple(config.allow_networks)
        registry = getattr(data, "registry", None)
        if registry is not None and hasattr(registry, "config"):
            registry.config = config
        roles = getattr(data, "roles", None)
        if roles is not None:
            if hasattr(roles, "owners"):
                roles.owners = frozenset(config.owners)
            if hasattr(roles, "config_editors"):
                roles.config_editors = frozenset(config.editors)
        publisher = getattr(data, "publisher", None)
        if publisher is not None and hasattr(publisher, "timezone"):
            publisher.timezone = config.timezone

    return apply
