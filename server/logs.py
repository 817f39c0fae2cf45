"""Structured logs: JSON lines in production, readable lines in development, with request ids.

One configuration for our loggers and uvicorn's (`logging_config`, handed to uvicorn so that its
workers use it too); uvicorn's access log is off, `AccessLog` writes ours, which knows the
request id, the brand and the operation.
"""

from __future__ import annotations

import itertools
import json
import logging
import logging.config
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.runtime import request_id_var

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
ACCESS = "pointsmall.access"  # the request's AccessNote, in its ASGI scope
REQUEST_ID = "pointsmall.request_id"  # the request's id, in its ASGI scope once decided
access_log = logging.getLogger("pointsmall.access")
# A client's X-Request-Id goes into our logs and back in a header: only a plain token is kept.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# Request ids: this process's random tag, then a count (32 hex digits, as a uuid's). Cheaper
# than a uuid4, which reads the system's random source for every request.
_PROCESS_TAG = secrets.token_hex(8)
_request_numbers = itertools.count()


def new_request_id() -> str:
    return f"{_PROCESS_TAG}{next(_request_numbers):016x}"


def request_id_of(scope: Scope) -> str:
    """The request's id, decided by whoever asks first (AccessLog, when installed) and kept in
    its scope: the client's X-Request-Id when it is a plain token, else a new one."""
    decided = scope.get(REQUEST_ID)
    if decided is None:
        header = next((value for name, value in scope["headers"] if name == b"x-request-id"), b"")
        given = header.decode("latin-1")
        decided = scope[REQUEST_ID] = (
            given if CLIENT_REQUEST_ID.fullmatch(given) else new_request_id()
        )
    return decided


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's `fields` (extra={"fields": {...}}) are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def logging_config(*, json_lines: bool, level: int = logging.INFO) -> dict[str, Any]:
    """The `logging.config.dictConfig` of every process: one stderr stream, uvicorn's included."""
    formatter = {"()": JsonFormatter} if json_lines else {"format": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["request_id"],
                "formatter": "default",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's loggers write through the root's handler, but for its access log:
            # AccessLog writes ours, which knows more.
            **{
                name: {"handlers": [], "propagate": True, "level": level}
                for name in ("uvicorn", "uvicorn.error", "py.warnings")
            },
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def configure_logging(*, json_lines: bool, level: int = logging.INFO) -> None:
    logging.config.dictConfig(logging_config(json_lines=json_lines, level=level))
    logging.captureWarnings(True)  # a library's warning is a log line too, not raw stderr
    # strawberry logs every GraphQL error itself; GuardedSchema logs the internal ones.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)


@dataclass(slots=True)
class AccessNote:
    """What the endpoint tells the access log about a request it served."""

    brand: str | None = None
    operation: str | None = None


class AccessLog:
    """ASGI middleware: one line per HTTP request once its response is sent, with its request
    id (which every response carries as X-Request-Id), brand and operation (noted by the
    GraphQL endpoint), status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        note = scope[ACCESS] = AccessNote()
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        status = 500  # what the client gets if the app fails before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(raw=list(message.get("headers", ())))
                headers.setdefault("X-Request-Id", request_id)
                message = {**message, "headers": headers.raw}
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            request_id_var.reset(token)
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            access_log.info(
                "%s %s %d %.1fms brand=%s operation=%s",
                scope["method"],
                scope["path"],
                status,
                duration_ms,
                note.brand or "-",
                note.operation or "-",
                extra={
                    "request_id": request_id,
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": duration_ms,
                        "brand": note.brand,
                        "operation": note.operation,
                    },
                },
            )
