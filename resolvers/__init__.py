"""Thin resolvers: decode ids, call one domain service, map its result or DomainError."""
