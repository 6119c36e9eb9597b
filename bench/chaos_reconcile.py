"""The reckoning of a chaos run: what the feeds published against what reached each chat.

Each (article, chat it belongs to) is delivered (once or more), held (the bot kept it because
it may not post in that chat now, e.g. it was kicked), or lost. A post of a known article in a
chat its feed does not name is in the wrong chat; a channel post of no known article is
unexpected. A post held in a chat the bot was never kicked from is held for another reason,
listed on its own.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bench.chaos_world import LINK_ROOT, Published
from sandbox.telegram_api import SentMessage

_LINK = re.compile(re.escape(LINK_ROOT) + r"[\w-]+/\d+")


@dataclass(frozen=True)
class HeldRecord:
    chat: str
    url: str
    reason: str


@dataclass
class Reconciliation:
    expected: int = 0
    delivered: int = 0                       # (article, chat) pairs that arrived
    copies: int = 0                          # messages carrying an article
    duplicates: list[tuple[str, int, int]] = field(default_factory=list)  # link, chat, copies
    held_kicked: list[tuple[str, int]] = field(default_factory=list)
    held_other: list[tuple[str, int, str]] = field(default_factory=list)
    lost: list[tuple[str, int]] = field(default_factory=list)
    wrong_chat: list[tuple[str, int]] = field(default_factory=list)
    unexpected: list[tuple[int, str]] = field(default_factory=list)
    optional_delivered: int = 0
    optional_total: int = 0
    notices: int = 0                         # private messages (owner notices)

    @property
    def duplicated(self) -> int:
        return sum(copies - 1 for _, _, copies in self.duplicates)

    @property
    def settled(self) -> bool:
        """Nothing is still on its way: every pair is delivered or held."""
        return not self.lost


def links_in(message: SentMessage) -> set[str]:
    blob = " ".join(filter(None, (message.html, message.text, message.caption)))
    if message.rich is not None:
        blob += json.dumps(message.rich, ensure_ascii=False)
    return set(_LINK.findall(blob))


def reconcile(published: Sequence[Published], messages: Iterable[SentMessage],
              held: Iterable[HeldRecord], kicked_chats: set[int]) -> Reconciliation:
    result = Reconciliation()
    targets: dict[str, tuple[tuple[int, ...], bool]] = {
        p.link: (p.chats, p.optional) for p in published}
    received: Counter[tuple[str, int]] = Counter()
    for message in messages:
        if message.deleted:
            continue
        if message.chat_id > 0:
            result.notices += 1
            continue
        found = links_in(message)
        if not found:
            result.unexpected.append((message.chat_id, (message.text or "")[:80]))
            continue
        for link in found:
            chats, _ = targets.get(link, ((), False))
            if message.chat_id not in chats:
                result.wrong_chat.append((link, message.chat_id))
            else:
                received[(link, message.chat_id)] += 1
                result.copies += 1
    held_pairs: dict[tuple[str, int], str] = {}
    for record in held:
        try:
            held_pairs[(record.url, int(record.chat))] = record.reason
        except ValueError:
            continue
    for link, (chats, optional) in targets.items():
        for chat in chats:
            copies = received.get((link, chat), 0)
            if optional:
                result.optional_total += 1
                result.optional_delivered += copies > 0
                continue
            result.expected += 1
            if copies:
                result.delivered += 1
                if copies > 1:
                    result.duplicates.append((link, chat, copies))
            elif (link, chat) in held_pairs:
                if chat in kicked_chats:
                    result.held_kicked.append((link, chat))
                else:
                    result.held_other.append((link, chat, held_pairs[(link, chat)]))
            else:
                result.lost.append((link, chat))
    return result


def table(rows: Sequence[tuple[str, object]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)
