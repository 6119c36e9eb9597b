"""A local stand-in for Telegram: the strict fake Bot API (HTTP, Telegram's limits and errors)
that the tests drive the real python-telegram-bot client against, and that `main.py sandbox`
runs for editors who want to try the bot without a token."""
