"""Every Redis key and pub/sub channel name is built here, under the deployment's prefix."""

from __future__ import annotations

CHANNEL_TAG = "{ch}"


class RedisKeys:
    """Names in Redis for one deployment (or one test run): nothing escapes the prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, *parts: str | int) -> str:
        return ":".join((self.prefix, *(str(part) for part in parts)))

    def channel(self, *parts: str | int) -> str:
        # Pub/sub ignores database numbers, so channels need the prefix as much as keys do.
        # On a Redis Cluster, a channel's hash tag picks the node its PUBLISH goes to: one tag
        # for all sends every event to one node, the one the bus listens on (its own channel
        # has the tag too), so they arrive in the order they were published.
        return self.key(CHANNEL_TAG, *parts)

    def strip_channel(self, channel: str) -> str:
        """The channel's own name, without the deployment prefix."""
        return channel.removeprefix(self.key(CHANNEL_TAG, ""))
