"""Each item of the public contract, with whether a schema honours it.

The rules are the shared reference checker's: types compare as printed (nullability included),
defaults as written (numbers by value), and an extra required argument or input field breaks
clients. A type the schema lacks, or has as another kind, is one item; its members are listed
once it exists.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    print_ast,
)

OK = "ok"
MISSING = "missing"
ROOTS = {"query": "query_type", "mutation": "mutation_type", "subscription": "subscription_type"}

Value = GraphQLArgument | GraphQLInputField


def default_of(value: Value) -> str | None:
    """The default as written in the SDL, or None."""
    node = value.ast_node
    if node is not None and node.default_value is not None:
        return print_ast(node.default_value)
    return None if value.default_value is Undefined else repr(value.default_value)


def same_default(have: Value, want: Value) -> bool:
    """Defaults match when the contract sets none, or both print the same value."""
    wanted, had = default_of(want), default_of(have)
    if wanted is None:
        return True
    if had is None:
        return False
    try:
        return Decimal(had.strip('"')) == Decimal(wanted.strip('"'))
    except (InvalidOperation, ValueError):
        return had == wanted


def breaks_clients(value: Value) -> bool:
    """A non-null argument or input field without a default, which old clients do not send."""
    written = getattr(value.ast_node, "default_value", None)  # custom scalars parse to Undefined
    return str(value.type).endswith("!") and value.default_value is Undefined and written is None


def value_verdict(have: Value | None, want: Value) -> str:
    if have is None:
        return MISSING
    if str(have.type) != str(want.type):
        return f"type {have.type}, contract says {want.type}"
    if not same_default(have, want):
        return f"default {default_of(have)}, contract says {default_of(want)}"
    return OK


def field_verdict(have: GraphQLField | None, want: GraphQLField) -> str:
    if have is None:
        return MISSING
    problems = (
        [] if str(have.type) == str(want.type) else [f"type {have.type}, contract says {want.type}"]
    )
    for name, argument in want.args.items():
        if (verdict := value_verdict(have.args.get(name), argument)) != OK:
            problems.append(f"argument {name}: {verdict}")
    for name, argument in have.args.items():
        if name not in want.args and breaks_clients(argument):
            problems.append(f"extra required argument {name} breaks clients")
    return "; ".join(problems) or OK


def type_verdict(have: GraphQLNamedType | None, want: GraphQLNamedType) -> str:
    if have is None:
        return MISSING
    if type(have) is not type(want):
        return f"is {type(have).__name__}, contract says {type(want).__name__}"
    if isinstance(have, GraphQLInputObjectType):
        extra = [n for n, f in have.fields.items() if n not in want.fields and breaks_clients(f)]
        if extra:
            return f"extra required input fields {', '.join(extra)} break clients"
    return OK


def member_verdicts(name: str, have: GraphQLNamedType, want: GraphQLNamedType) -> dict[str, str]:
    """The items inside a type both sides have, of the same kind."""
    items: dict[str, str] = {}
    if isinstance(want, GraphQLObjectType | GraphQLInterfaceType):
        present = {interface.name for interface in have.interfaces}
        for interface in want.interfaces:
            items[f"{name} implements {interface.name}"] = (
                OK if interface.name in present else MISSING
            )
        for field_name, field in want.fields.items():
            items[f"{name}.{field_name}"] = field_verdict(have.fields.get(field_name), field)
    elif isinstance(want, GraphQLInputObjectType):
        for field_name, field in want.fields.items():
            items[f"{name}.{field_name}"] = value_verdict(have.fields.get(field_name), field)
    elif isinstance(want, GraphQLEnumType):
        for value in want.values:
            items[f"enum {name}.{value}"] = OK if value in have.values else MISSING
    elif isinstance(want, GraphQLUnionType):
        present = {member.name for member in have.types}
        for member in want.types:
            items[f"union {name}.{member.name}"] = OK if member.name in present else MISSING
    return items


def verdicts(contract: GraphQLSchema, schema: GraphQLSchema) -> dict[str, str]:
    """Contract item key -> OK, MISSING, or what is wrong with it in schema."""
    items: dict[str, str] = {}
    for name, want in contract.type_map.items():
        if name.startswith("__"):
            continue
        have = schema.type_map.get(name)
        items[f"type {name}"] = type_verdict(have, want)
        if have is not None and type(have) is type(want):
            items.update(member_verdicts(name, have, want))
    for operation, attribute in ROOTS.items():
        want_root, have_root = getattr(contract, attribute), getattr(schema, attribute)
        if want_root is None:
            continue
        if have_root is None:
            items[f"schema {operation}"] = MISSING
        elif have_root.name != want_root.name:
            items[f"schema {operation}"] = f"is {have_root.name}, contract uses {want_root.name}"
        else:
            items[f"schema {operation}"] = OK
    return items
