"""What this test session goes by: its run's id (in its database's name and Redis prefix),
and the secret and issuer of the tokens it makes."""

from __future__ import annotations

import uuid

RUN_ID = uuid.uuid4().hex[:10]
JWT_SECRET = f"test-secret-{RUN_ID}-{RUN_ID}-{RUN_ID}"
ISSUER = "pointsmall"
