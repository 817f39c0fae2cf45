"""Answers a request by its field's pre-check, before GraphQL execution (schema/prechecks.py).

A single JSON POST whose document (by text, persisted-query hash or trusted id) has a plan:
its variables are coerced and its arguments converted as execution would; the caller is
authenticated (once: the context takes the principal over) and passes the
field's own permission classes; then the check runs. A refusal is the response, rendered from
the plan, and so is the value of a check that answers its field (the catalog's page); anything
else (a hold, variables execution would refuse, another caller, any doubt)
goes through execution, with the check's verdict handed to the resolver
(`context.flash_verdict`) when it was asked. A failure of the check (Redis, say) is logged and
counted, and execution asks again.

Design: docs/architecture.md, "Planned documents".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import DomainError
from schema.documents import DocumentRefused, DocumentRegistry
from schema.observability import OperationMetrics
from schema.prechecks import Unplannable
from server.logs import ACCESS

log = logging.getLogger(__name__)

# What a pre-check leaves for execution, in the request's scope (the lifespan's state, which
# `request.state` holds, may be shared by every request).
PRINCIPAL = "pointsmall.principal"  # authenticated once
CHARGED = "pointsmall.charged"  # a partner's key paid for the operation
VERDICT = "pointsmall.verdict"  # the check's verdict, for the resolver

# The members of a request object as GraphQL-over-HTTP types them (others: execution judges).
MEMBERS = {"query": str, "operationName": str, "variables": dict, "extensions": dict}


class Prechecks:
    """The endpoint's pre-check answers (see the module)."""

    def __init__(
        self,
        documents: DocumentRegistry,
        metrics: OperationMetrics | None,
        encode_json: Callable[[object], bytes],
        media_type_of: Callable[[str], str],
    ) -> None:
        self.documents = documents
        self._metrics = metrics
        self._encode_json = encode_json
        self._media_type_of = media_type_of  # of a response, by the request's Accept header
        self._answers: dict[str, Any] = {}  # the answers' counter of each field, made once

    async def answer(self, request: Request) -> Response | None:
        """The response a pre-check gives, or None: the request goes through execution."""
        if request.method != "POST" or "application/json" not in request.headers.get(
            "content-type", ""
        ):
            return None
        try:
            data = orjson.loads(await request.body())  # as the endpoint decodes it
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or any(
            not isinstance(data.get(name), kind | None) for name, kind in MEMBERS.items()
        ):
            return None
        try:
            text = self.documents.resolve(
                data.get("query"), data.get("extensions"), data.get("documentId")
            )
            plan = self.documents.document(text).plan if text is not None else None
        except (DocumentRefused, GraphQLError):
            return None  # execution answers with the error
        if plan is None or data.get("operationName") not in (None, plan.operation_name):
            return None
        arguments = plan.arguments(data.get("variables"))
        if arguments is None:
            return None
        authenticator = request.state.authenticator
        principal = await authenticator.authenticate(
            request.headers.get("authorization"),
            request.headers.get("x-brand"),
            request.headers.get("x-api-key"),
        )  # a bad credential: the 401 execution's context would give
        request.scope[PRINCIPAL] = principal
        if not plan.admits(_Caller(principal)):
            return None
        await authenticator.charge(principal, 1)
        request.scope[CHARGED] = True
        started = time.perf_counter()
        try:
            verdict = await plan.precheck.check(request.state.backends, principal, **arguments)
            if not plan.precheck.answers:
                request.scope[VERDICT] = verdict
                return None
            data = {"data": plan.answer(verdict)}
        except Unplannable:
            return None  # an answer the plan cannot render (a null for a non-null field, say)
        except DomainError as error:
            if plan.precheck.refusal is None:
                return None  # execution answers, with the error
            try:
                data = {"data": plan.refusal(error)}
            except Unplannable:
                self._failed("a refusal could not be rendered; execution answers")
                return None
        except Exception:
            self._failed("a pre-check failed; the request goes through execution")
            return None
        if self._metrics is not None:
            answers = self._answers.get(plan.field_name)
            if answers is None:
                answers = self._answers[plan.field_name] = self._metrics.precheck_answers.labels(
                    plan.field_name
                )
            answers.inc()
            self._metrics.observe(plan.operation_name, time.perf_counter() - started)
        note = request.scope.get(ACCESS)
        if note is not None:
            note.brand = principal.brand_code if principal is not None else None
            note.operation = plan.operation_name
        media_type = self._media_type_of(request.headers.get("accept", ""))
        return Response(self._encode_json(data), media_type=media_type)

    def _failed(self, what: str) -> None:
        log.warning(what, exc_info=True)
        if self._metrics is not None:
            self._metrics.precheck_failures.inc()


class _Caller:
    """The context a field's permission classes read: its caller."""

    __slots__ = ("principal",)

    def __init__(self, principal: Any) -> None:
        self.principal = principal
