"""`python main.py release CHAT`: send a blocked chat's held posts again, now.

For an operator who knows the bot may post there again (it was made an admin again, the user
unblocked it) and does not want to wait for the probe (delivery/held.py). Posts held because the
channel is paused stay held (/resume releases them)."""
from __future__ import annotations

from delivery.held import release_chat
from store import keys
from store.redis_store import connect


async def cmd_release(redis_url: str, chat: str) -> int:
    """Release `chat`; prints how many posts went back to the queue; exit 0."""
    chat = chat.strip()
    redis = await connect(redis_url)
    try:
        moved = await release_chat(redis, chat, "released from the command line")
        blocked = await redis.hkeys(keys.delivery_blocked())
    finally:
        await redis.aclose()
    if moved:
        print(f"{chat}: {moved} held post(s) went back to the queue; a running sender posts "
              f"them in order.")
    else:
        print(f"{chat}: no post was held for this chat (blocked chats: "
              f"{', '.join(sorted(map(str, blocked))) or 'none'}).")
    return 0

