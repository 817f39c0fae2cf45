"""Writing migrations: Tortoise's autodetector, plus one repair of what it writes.

Tortoise's CreateModel keeps a model's named constraints in its options but does not create
them on PostgreSQL, so a new table would lack its CHECK and UNIQUE constraints. After
`makemigrations` writes a file, each such constraint is moved into an AddConstraint operation.

    DATABASE_URL=postgresql://... python -m db.migration_tools NAME
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"


def split_named_constraints(path: Path) -> int:
    """Move CreateModel option constraints of `path` into AddConstraint operations."""
    source = path.read_text()
    tree = ast.parse(source)
    moved: list[str] = []
    cuts: list[tuple[int, int]] = []
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))

    def position(node: ast.expr) -> int:
        return offsets[node.lineno - 1] + node.col_offset

    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "CreateModel"):
            continue
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        options = keywords.get("options")
        if not isinstance(options, ast.Dict):
            continue
        for index, (key, value) in enumerate(zip(options.keys, options.values, strict=True)):
            if not (isinstance(key, ast.Constant) and key.value == "constraints"):
                continue
            model = ast.literal_eval(keywords["name"])
            # Tortoise's writer spells the constraints as a list, followed by `pk_attr`.
            assert isinstance(value, ast.List)
            for constraint in value.elts:
                text = ast.get_source_segment(source, constraint)
                moved.append(
                    f"        ops.AddConstraint(model_name={model!r}, constraint={text}),\n"
                )
            following = options.keys[index + 1]
            assert following is not None
            cuts.append((position(key), position(following)))
    for start, end in sorted(cuts, reverse=True):
        source = source[:start] + source[end:]
    closing = source.rstrip().rfind("]")
    note = "        # Named constraints, which CreateModel leaves out on PostgreSQL.\n"
    source = source[:closing] + (note + "".join(moved) if moved else "") + "    ]\n"
    path.write_text(source)
    return len(moved)


def __getattr__(name: str) -> object:
    """`TORTOISE_ORM`, the configuration Tortoise's CLI reads, for the DATABASE_URL database."""
    if name == "TORTOISE_ORM":
        from db.database import tortoise_config

        return tortoise_config(os.environ["DATABASE_URL"])
    raise AttributeError(name)


def main() -> None:
    if len(sys.argv) != 2 or "DATABASE_URL" not in os.environ:
        sys.exit("usage: DATABASE_URL=... python -m db.migration_tools MIGRATION_NAME")
    before = set(MIGRATIONS.glob("[0-9]*.py"))
    config = "db.migration_tools.TORTOISE_ORM"
    subprocess.run(["tortoise", "-c", config, "makemigrations", "-n", sys.argv[1]], check=True)
    for path in sorted(set(MIGRATIONS.glob("[0-9]*.py")) - before):
        print(f"{path.name}: {split_named_constraints(path)} constraint(s) moved")


if __name__ == "__main__":
    main()
