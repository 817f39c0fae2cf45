"""The documents the schema runs, each registered once by the sha256 of its text: parsed (under
the token limit), validated (the spec's rules and every limit) and planned (schema/prechecks.py)
then, never again per request.

A request names its document in one of three ways:
- its text, `query` (registered the first time it is seen);
- Automatic Persisted Queries: `extensions.persistedQuery = {version: 1, sha256Hash}`, the hash
  alone once the server knows it (else `PersistedQueryNotFound`, and the client sends the text
  with it), which is how mini-programs and CDN-cached GETs send queries;
- a trusted document's id, `documentId` (`sha256:` prefix optional), from the manifests loaded at
  start: the `{"<sha256>": "<text>"}` JSON that relay-compiler's `persistConfig` and GraphQL
  Codegen's `persistedDocuments` write.
`POINTSMALL_DOCUMENTS` says which are accepted: `any`; `persisted` (never a bare text without its
hash); `trusted` (only the manifests' documents). Manifest documents stay; the others are kept in
an LRU bounded by the bytes of their texts.

strawberry's own ParserCache and ValidationCache would cache too, but the latter keys on the
parsed document, whose nodes are frozen dataclasses: every lookup hashed the whole document.

Design: docs/architecture.md, "Work done once, not per request".
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    ValidationRule,
    get_operation_ast,
    parse,
    specified_rules,
)
from strawberry.types import ExecutionContext

from schema.execution import shares_events
from schema.plans import StreamPlan, Unplannable, stream_plan_of
from schema.prechecks import PrecheckPlan, plan_of
from schema.safety import build_validation_rules
from schema.strawberry_internals import graphql_schema_of, validate_document

DOCUMENT_CACHE_BYTES = 4 * 1024 * 1024
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_REQUIRED = "PERSISTED_QUERY_REQUIRED"
TRUSTED_DOCUMENT_REQUIRED = "TRUSTED_DOCUMENT_REQUIRED"


class DocumentsMode(StrEnum):
    ANY = "any"  # texts, persisted-query hashes and trusted documents' ids
    PERSISTED = "persisted"  # hashes (with the text to register one) and ids; no bare text
    TRUSTED = "trusted"  # only the manifests' documents, by id, hash or text


class DocumentRefused(Exception):
    """A request's document that this server will not run, as a GraphQL error's message and
    code (answered with HTTP 200 for PERSISTED_QUERY_NOT_FOUND, as APQ clients expect)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def error(self) -> GraphQLError:
        return GraphQLError(self.message, extensions={"code": self.code})


class ManifestError(RuntimeError):
    """A trusted-document manifest the server cannot start with; the message says why."""


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(eq=False, slots=True)
class Document:
    text: str
    sha256: str
    size: int  # of its text, in bytes
    parsed: DocumentNode
    pinned: bool  # a trusted document: never dropped
    valid: bool = False  # validated without errors; a document with errors is checked each time
    errors: list[GraphQLError] | None = None  # the registration's errors, for its own request
    plan: PrecheckPlan | None = None
    # Per operation name: whether its subscribers all get the same messages after their first.
    shares_events: dict[str | None, bool] = field(default_factory=dict)
    # Per operation name: how a socket renders its later events itself (None: it does not).
    stream_plans: dict[str | None, StreamPlan | None] = field(default_factory=dict)


class DocumentRegistry:
    """The schema's documents (see the module). Shared by every request to one schema; an
    event loop's requests use it one at a time."""

    def __init__(
        self,
        max_tokens: int,
        rules: Iterable[type[ValidationRule]],
        max_bytes: int = DOCUMENT_CACHE_BYTES,
        mode: DocumentsMode = DocumentsMode.ANY,
    ) -> None:
        self.max_tokens = max_tokens
        self.rules = (*specified_rules, *rules)
        self.max_bytes = max_bytes
        self.mode = mode
        self.schema: strawberry.Schema | None = None  # once bound
        self.hits = self.misses = self.validations = 0
        self.bytes = 0  # of the texts in `_recent`
        self._pinned: dict[str, Document] = {}
        self._recent: OrderedDict[str, Document] = OrderedDict()  # least recently used first
        self._by_text: dict[str, Document] = {}

    def bind(self, schema: strawberry.Schema) -> None:
        self.schema = schema

    def _bound(self) -> strawberry.Schema:
        if self.schema is None:
            raise RuntimeError("bind the registry to its schema first")
        return self.schema

    def document(self, text: str) -> Document:
        """The text's document, registered the first time; a GraphQLError if it does not parse
        or has too many tokens."""
        document = self._by_text.get(text)
        if document is not None:
            self.hits += 1
            if not document.pinned:
                self._recent.move_to_end(document.sha256)
            return document
        self.misses += 1
        return self._register(text, sha256_of(text), pinned=False)

    def shares_events(self, text: str, operation_name: str | None) -> bool:
        """Whether the text's subscription sends every subscriber the same messages after its
        first (schema/execution.py `shares_events`); False for a text that is not valid."""
        try:
            document = self.document(text)
        except GraphQLError:
            return False
        known = document.shares_events.get(operation_name)
        if known is None:
            known = document.shares_events[operation_name] = document.valid and shares_events(
                graphql_schema_of(self._bound()), document.parsed, operation_name
            )
        return known

    def stream_plan(self, text: str, operation_name: str | None) -> StreamPlan | None:
        """How a socket renders the text's subscription's later events itself (schema/plans.py
        `stream_plan_of`); None for a text that is not valid or a selection that needs
        execution."""
        try:
            document = self.document(text)
        except GraphQLError:
            return None
        if operation_name in document.stream_plans:
            return document.stream_plans[operation_name]
        plan = None
        operation = get_operation_ast(document.parsed, operation_name) if document.valid else None
        if operation is not None:
            try:
                plan = stream_plan_of(graphql_schema_of(self._bound()), document.parsed, operation)
            except Unplannable:
                plan = None
        document.stream_plans[operation_name] = plan
        return plan

    def by_hash(self, digest: str) -> Document | None:
        document = self._pinned.get(digest)
        if document is None and self.mode is not DocumentsMode.TRUSTED:
            document = self._recent.get(digest)
            if document is not None:
                self._recent.move_to_end(digest)
        return document

    def resolve(self, query: object, extensions: object, document_id: object) -> str | None:
        """The text of the document a request names (None: it names none), or DocumentRefused:
        from the request's fields as it sent them (any JSON). An empty `query` beside an id or
        a hash is none: graphql-ws clients must send a string (its persisted-queries recipe
        sends "")."""
        if query is not None and not isinstance(query, str):
            raise DocumentRefused("`query` must be a string.", "BAD_REQUEST")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if query == "" and (document_id is not None or persisted is not None):
            query = None
        if document_id is not None:
            if not isinstance(document_id, str):
                raise DocumentRefused("`documentId` must be a string.", "BAD_REQUEST")
            document = self._pinned.get(document_id.removeprefix("sha256:"))
            if document is None:
                raise DocumentRefused("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
            if query is not None and query != document.text:
                raise DocumentRefused("`documentId` names another document.", "BAD_REQUEST")
            return document.text
        if persisted is not None:
            return self._persisted(query, persisted)
        if not isinstance(query, str) or self.mode is DocumentsMode.ANY:
            return query
        if self.mode is DocumentsMode.PERSISTED:
            raise DocumentRefused(
                "This server runs persisted documents only: send the document's sha256 in "
                "`extensions.persistedQuery`, or its `documentId`.",
                PERSISTED_QUERY_REQUIRED,
            )
        if query in self._by_text and self._by_text[query].pinned:
            return query
        raise _untrusted()

    def errors(self, context: ExecutionContext) -> list[GraphQLError]:
        """The validation errors of the context's document, under the spec's rules and ours."""
        assert context.graphql_document is not None
        document = self._by_text.get(context.query) if context.query else None
        if document is not None and document.parsed is not context.graphql_document:
            document = None  # the context's document did not come from this registry
        if document is not None:
            if document.valid:
                return []
            if document.errors is not None:
                errors, document.errors = document.errors, None
                return errors
        self.validations += 1
        return validate_document(
            graphql_schema_of(context.schema), context.graphql_document, self.rules
        )

    def load_manifest(self, path: Path) -> int:
        """Pin a manifest's documents (`{"<sha256>": "<text>"}`); ManifestError for a file that
        is not one, a hash that is not its text's, or a document that would not run."""
        try:
            manifest = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ManifestError(f"Trusted documents {path}: {error}") from error
        if not isinstance(manifest, dict):
            raise ManifestError(f"Trusted documents {path}: not a JSON object of hash: text.")
        for key, text in manifest.items():
            digest = key.removeprefix("sha256:")
            if not isinstance(text, str) or sha256_of(text) != digest:
                raise ManifestError(
                    f"Trusted documents {path}: the document under {key!r} is not the text of "
                    "that sha256 (the manifest must be written with SHA256 hashes of the texts)."
                )
            try:
                document = self._register(text, digest, pinned=True)
            except GraphQLError as error:
                raise ManifestError(f"Trusted documents {path}, {key}: {error.message}") from None
            if not document.valid:
                messages = "; ".join(error.message for error in document.errors or ())
                raise ManifestError(f"Trusted documents {path}, {key} does not run: {messages}")
        return len(manifest)

    def _persisted(self, query: object, persisted: object) -> str:
        version = persisted.get("version") if isinstance(persisted, dict) else None
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if version != 1 or not isinstance(digest, str):
            raise DocumentRefused(
                "`extensions.persistedQuery` must be {version: 1, sha256Hash}.", "BAD_REQUEST"
            )
        if query is None:
            document = self.by_hash(digest)
            if document is None:
                raise DocumentRefused("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
            return document.text
        if not isinstance(query, str) or sha256_of(query) != digest:
            raise DocumentRefused("provided sha does not match query", "BAD_REQUEST")
        if self.mode is DocumentsMode.TRUSTED and digest not in self._pinned:
            raise _untrusted()
        return query  # registered as it is parsed

    def _register(self, text: str, digest: str, *, pinned: bool) -> Document:
        known = self._pinned.get(digest) or self._recent.get(digest)
        if known is not None:
            if pinned and not known.pinned:
                self._forget(known)
            else:
                return known
        parsed = parse(text, max_tokens=self.max_tokens)
        document = Document(text, digest, len(text.encode()), parsed, pinned)
        self.validations += 1
        schema = self._bound()
        errors = validate_document(graphql_schema_of(schema), parsed, self.rules)
        if errors:
            document.errors = errors
        else:
            document.valid = True
            document.plan = plan_of(schema, parsed)
        self._by_text[text] = document
        if pinned:
            self._pinned[digest] = document
            return document
        self._recent[digest] = document
        self.bytes += document.size
        while self.bytes > self.max_bytes and self._recent:
            self._forget(next(iter(self._recent.values())))
        return document

    def _forget(self, document: Document) -> None:
        self._recent.pop(document.sha256, None)
        self._by_text.pop(document.text, None)
        self.bytes -= document.size

    @property
    def trusted(self) -> Mapping[str, Document]:
        """The manifests' documents, by sha256."""
        return self._pinned


def _untrusted() -> DocumentRefused:
    return DocumentRefused(
        "This server runs trusted documents only, and this one is not in its manifests.",
        TRUSTED_DOCUMENT_REQUIRED,
    )


def build_documents(
    *,
    max_depth: int,
    max_aliases: int,
    max_tokens: int,
    max_cost: int,
    introspection: bool = True,
    max_bytes: int = DOCUMENT_CACHE_BYTES,
    mode: DocumentsMode = DocumentsMode.ANY,
) -> DocumentRegistry:
    """A schema's document registry, checking every limit."""
    rules = build_validation_rules(max_depth, max_aliases, max_cost, introspection)
    return DocumentRegistry(max_tokens, rules, max_bytes, mode)
