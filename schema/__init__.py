"""The GraphQL schema: a module of types per area, assembled in schema/build.py (light to
import: the command line reads its settings' defaults from schema/documents.py)."""
