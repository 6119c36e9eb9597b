"""The `sandbox` command's place on the command line (kept free of heavy imports: main.py builds
its parser at every start; the sandbox itself is in sandbox/run.py)."""
from __future__ import annotations

import argparse

DESCRIPTION = (
    "Try the editor's loop without a token: the real bot (poller, sender, commands: the same "
    "code as `run`) against a local stand-in for Telegram, with a web chat in your browser. "
    "Send /push with a sample article (served locally, so it works offline), see the preview "
    "card with its buttons, press Publish, and watch the post land in the channel view. You are "
    "the bot's owner; there are two channels (Arabic and English). It uses a data dir and an "
    "embedded Redis of its own, never your data, config, TELEGRAM_BOT_TOKEN or REDIS_URL. "
    "Ctrl-C stops it.")


def add_sandbox_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]
                        ) -> argparse.ArgumentParser:
    """Add `sandbox` and its options to main.py's subcommands."""
    sandbox = commands.add_parser(
        "sandbox", help="try the bot in a web chat, against a local stand-in for Telegram",
        description=DESCRIPTION)
    sandbox.add_argument("--port", type=int, default=0,
                         help="port of the web chat on 127.0.0.1 (default: a free one; the "
                              "address is printed)")
    sandbox.add_argument("--telegram-port", type=int, default=0,
                         help="port of the Telegram stand-in on 127.0.0.1 (default: a free one)")
    sandbox.add_argument("--data-dir", default=None,
                         help="keep the sandbox's state here (default: a temporary folder, "
                              "removed at exit)")
    sandbox.add_argument("--lang", choices=("ar", "en"), default="ar",
                         help="your Telegram app's language, which the bot answers in "
                              "(default: ar; /lang changes it too)")
    sandbox.add_argument("--open", action="store_true",
                         help="open the web chat in your browser")
    return sandbox
