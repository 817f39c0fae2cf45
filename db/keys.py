"""Every Redis key and pub/sub channel name is built here, under the deployment's prefix."""

from __future__ import annotations


class RedisKeys:
    """Names in Redis for one deployment (or one test run): nothing escapes the prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, *parts: str | int) -> str:
        return ":".join((self.prefix, *(str(part) for part in parts)))

    def channel(self, *parts: str | int) -> str:
        # Pub/sub ignores database numbers, so channels need the prefix as much as keys do.
        return self.key("ch", *parts)

    def strip_channel(self, channel: str) -> str:
        """The channel's own name, without the deployment prefix."""
        return channel.removeprefix(self.key("ch", ""))
