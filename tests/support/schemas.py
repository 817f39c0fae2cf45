"""Small strawberry schemas for tests of the GraphQL machinery itself."""

from __future__ import annotations

import strawberry


@strawberry.type
class FaultyQuery:
    """A query whose `broken` field fails with a secret in its message, which clients must
    never see."""

    @strawberry.field
    def broken(self) -> int:
        raise RuntimeError("database password is hunter2")
