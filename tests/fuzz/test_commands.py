"""Fuzzing the command parsers through the real handlers: editors', owners' and everyone's
commands with hostile arguments (bidi controls, combining marks, zero-width, lone surrogates,
mixed scripts, huge runs, markup), and button presses with hostile callback data. Every one
gets an answer Telegram accepts (the fake Bot API refuses anything invalid), never the error
apology, and never echoes a spoofing character."""
from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from bot.handlers.common import check_url
from tests.bot.conftest import EDITOR, OWNER, READER, STRANGER
from tests.fuzz.strategies import FUZZ_BOT, hostile_text

COMMANDS = ["start", "help", "lang", "subscribe", "unsubscribe", "list", "push", "feeds",
            "addfeed", "removefeed", "pause", "resume", "channels", "status", "why", "editors",
            "addeditor", "removeeditor", "nosuchcommand"]
WORDS = ["export", "add", "remove", "ar", "en", "@nashir_news", "@nashir_world", "@nobody_here",
         "-1001001", "-100", "0", "2000", "99999999999999999999", "t.me/nashir_news",
         "https://example.org/declared.xml", "example.org/declared.xml", "@", "--", "/push"]
# What a reply may never contain: bidi embeddings and overrides, zero-width and BOM, C0/C1
# controls other than the line break, lone surrogates (ours are RLM, LRM, LRI/RLI…PDI).
SPOOF = re.compile("[\u202a-\u202e\u200b\u2060\ufeff\x00-\x09\x0b-\x1f\x7f-\x9f"
                   "\ud800-\udfff]")
APOLOGY = ("Something went wrong", "حدث خطأ")


def as_telegram_sends(text: str) -> str:
    """Telegram delivers valid UTF-8 only: surrogate pairs become their character and a lone
    surrogate the replacement character, as a decoder makes of it."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _no_remote_fetch(argument: str, local: str) -> str:
    """Arguments that are web addresses point at the local server (the bot would otherwise
    look up hosts on the internet); everything else is left as drawn."""
    return argument if check_url(argument) is None else local + "?" + argument[:40]


@st.composite
def command_lines(draw: st.DrawFn, local: str) -> str:
    name = draw(st.sampled_from(COMMANDS))
    arguments = draw(st.lists(st.one_of(st.sampled_from(WORDS), hostile_text(6),
                                        hostile_text(6).map(lambda t: local + "/" + t)),
                              max_size=3))
    arguments = [_no_remote_fetch(a, local) for a in arguments]
    separator = draw(st.sampled_from([" ", " ", "  ", "\n", "\u00a0", "\t"]))
    return as_telegram_sends(f"/{name}" + "".join(separator + a for a in arguments))


def check_answer(text: str | None, what: str) -> None:
    assert text is not None, what
    assert not text.startswith(APOLOGY), (what, text)
    assert SPOOF.search(text) is None, (what, ascii(text[:200]))


def refused_requests(bot, since: int) -> list[str]:
    """Calls the fake Bot API refused (a reply Telegram would not have accepted)."""
    return [f"{r.method} {r.status} {r.description}" for r in bot.tg.requests[since:]
            if r.status >= 400 and r.method != "getUpdates"
            and "message is not modified" not in (r.description or "")]


@FUZZ_BOT
@given(data=st.data())
@example(data=None)
async def test_any_command_line_gets_a_valid_answer(fuzz_bot, data) -> None:
    """A command with hostile arguments, from an editor, an owner, a subscriber or a stranger,
    in Arabic or English: exactly the answer Telegram accepts, no apology, no spoofing."""
    bot = fuzz_bot
    local = bot.pages.url("/missing")
    if data is None:  # the worst of everything at once, as an explicit case
        line, actor, lang = ("/addfeed \u202e" + "\u0651" * 3000 + " @\ufffd" + "\u200b" * 50,
                             EDITOR, "ar")
    else:
        line = data.draw(command_lines(local), label="line")
        actor = data.draw(st.sampled_from([EDITOR, OWNER, READER, STRANGER]), label="actor")
        lang = data.draw(st.sampled_from(["ar", "en", None]), label="lang")
    since = len(bot.tg.requests)
    [reply] = await bot.say(actor, line, lang=lang, within=30)
    check_answer(reply.text if reply.method == "sendMessage" else reply.caption or "-", line)
    assert refused_requests(bot, since) == [], line


callback_data = st.one_of(
    st.text(min_size=1, max_size=64),
    hostile_text(4),
    st.builds(lambda p, t, a: f"{p}:{t}:{a}", st.sampled_from(["p", "r", "a", "f", "s", "lang"]),
              st.one_of(st.text(alphabet="0123456789abcdef", min_size=10, max_size=10),
                        hostile_text(2)),
              st.one_of(st.sampled_from(["a", "c", "f", "t:0", "t:-1", "p", "x", "s:60", "+",
                                         "-", "n", "none", "all"]), hostile_text(2))),
).map(as_telegram_sends).filter(lambda d: 1 <= len(d.encode("utf-8")) <= 64)


@FUZZ_BOT
@given(data=callback_data, actor=st.sampled_from([EDITOR, OWNER, STRANGER]))
async def test_any_button_data_gets_an_answer(fuzz_bot, data: str, actor: int) -> None:
    """A press with any callback data (Telegram allows 1-64 bytes) on a message of the bot is
    answered, without the apology, and every call the bot makes is accepted."""
    bot = fuzz_bot
    if not bot.tg.messages_to(actor):
        await bot.say(actor, "/help")
    message = bot.tg.messages_to(actor)[-1]
    since = len(bot.tg.requests)
    notice = await bot.press(actor, message, data, within=30)
    check_answer(notice.get("text", ""), data)
    assert refused_requests(bot, since) == [], data
