"""The Dockerfile: hadolint, the runtime stage's shape, and the install .ci/run proves."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass

import dockerfile
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.deploy import ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"
CI_RUN = ROOT / ".ci" / "run"
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])

# Options that change what pip prints or caches, never what it installs.
COSMETIC_OPTIONS = {"--quiet", "--no-cache-dir", "--progress-bar", "--no-color"}
OPTION_NAMES = {"-q": "--quiet", "-c": "--constraint", "-r": "--requirement", "-U": "--upgrade"}
OPTIONS_WITH_VALUES = {
    "--constraint",
    "--requirement",
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--only-binary",
    "--no-binary",
    "--progress-bar",
    "--config-settings",
}
SHELL_OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}
PROJECT_TARGET = re.compile(r"^\.(?:\[(?P<extras>[^\]]*)\])?$")
# The image's platform, for the lock's markers: CPython on Linux (the Python version varies).
IMAGE_PLATFORM = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
}


@dataclass(frozen=True)
class PipInstall:
    """One `pip install`: the options that decide what it installs, its packages, and the
    project's extras when it installs the project (editable or not)."""

    options: frozenset[tuple[str, str | None]]
    packages: tuple[str, ...]
    project_extras: frozenset[str] | None


def parse_pip_install(arguments: list[str]) -> PipInstall:
    options: set[tuple[str, str | None]] = set()
    packages: list[str] = []
    project_extras: frozenset[str] | None = None
    remaining = iter(arguments)
    for argument in remaining:
        if argument in ("-e", "--editable"):
            argument = next(remaining)
        elif argument.startswith("-"):
            name, _, inline_value = argument.partition("=")
            name = OPTION_NAMES.get(name, name)
            value = inline_value or (next(remaining) if name in OPTIONS_WITH_VALUES else None)
            if name not in COSMETIC_OPTIONS:
                options.add((name, value))
            continue
        project = PROJECT_TARGET.match(argument)
        if project:
            extras = project["extras"] or ""
            project_extras = frozenset(e.strip() for e in extras.split(",") if e.strip())
        else:
            packages.append(argument)
    return PipInstall(frozenset(options), tuple(packages), project_extras)


def pip_installs(shell_lines: list[str]) -> list[PipInstall]:
    """Every `pip install` in these shell lines, in order (`pip`, `.../pip`, `python -m pip`)."""
    installs = []
    for line in shell_lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, ";"]:
            if token not in SHELL_OPERATORS:
                command.append(token)
                continue
            for at, word in enumerate(command[:-1]):
                if (word == "pip" or word.endswith("/pip")) and command[at + 1] == "install":
                    installs.append(parse_pip_install(command[at + 2 :]))
                    break
            command = []
    return installs


def shell_lines(script: str) -> list[str]:
    """The script's commands, one a line, continuation lines joined."""
    return script.replace("\\\n", " ").splitlines()


def stages() -> list[list[dockerfile.Command]]:
    found: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            found.append([])
        found[-1].append(command)
    return found


def instructions(stage: list[dockerfile.Command], name: str) -> list[dockerfile.Command]:
    return [command for command in stage if command.cmd == name]


def image_pip_installs() -> list[PipInstall]:
    return pip_installs([run.value[0] for stage in stages() for run in instructions(stage, "RUN")])


def with_included_extras(extras: frozenset[str]) -> set[str]:
    """These extras and those they pull in (`pointsmall[otel]` inside `test`, say)."""
    found, pending = set(), list(extras)
    while pending:
        extra = pending.pop()
        if extra in found:
            continue
        found.add(extra)
        for line in PYPROJECT["project"]["optional-dependencies"].get(extra, []):
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == PROJECT:
                pending.extend(requirement.extras)
    return found


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_installs_the_way_ci_does() -> None:
    """The same pip steps with the same constraints and options as .ci/run, in the same order;
    the image's extras are among those CI installs."""
    image = image_pip_installs()
    ci = pip_installs(shell_lines(CI_RUN.read_text()))
    assert [(step.options, step.packages) for step in image] == [
        (step.options, step.packages) for step in ci
    ]
    assert [step.project_extras is None for step in image] == [
        step.project_extras is None for step in ci
    ]
    for image_step, ci_step in zip(image, ci, strict=True):
        if image_step.project_extras is not None:
            assert image_step.project_extras <= with_included_extras(ci_step.project_extras)
    project_steps = [step for step in image if step.project_extras is not None]
    assert project_steps, "the Dockerfile installs no project"
    assert all(("--constraint", LOCK.name) in step.options for step in project_steps)


def image_python() -> str:
    """The Python of the image's stages (`python:3.12-slim-...`)."""
    (version,) = {re.match(r"python:(\d+\.\d+)", stage[0].value[0])[1] for stage in stages()}
    return version


def ci_pythons() -> set[str]:
    """The Pythons .ci/run may build its venv with (`python3.11`, then `python3.12`)."""
    return set(re.findall(r"\bpython(3\.\d+)\b", CI_RUN.read_text()))


def installed_extras() -> set[str]:
    """The project's extras CI or the image installs, with those they include."""
    steps = image_pip_installs() + pip_installs(shell_lines(CI_RUN.read_text()))
    extras: set[str] = set()
    for step in steps:
        if step.project_extras is not None:
            extras |= with_included_extras(step.project_extras)
    return extras


def lock_pins() -> list[Requirement]:
    """The lock's `name==version` lines, with the marker of where each applies."""
    return [
        Requirement(line)
        for line in LOCK.read_text().splitlines()
        if line and not line.startswith(("#", " "))
    ]


def test_the_lock_is_universal_over_the_extras_ci_and_the_image_install() -> None:
    """One lock for every Python and platform (`--universal`: pins carry markers), resolved
    with every extra that CI and the image install."""
    command = next(line for line in LOCK.read_text().splitlines() if " pip compile " in line)
    arguments = shlex.split(command.lstrip("# "))
    assert "--universal" in arguments, command
    locked = {arguments[at + 1] for at, argument in enumerate(arguments) if argument == "--extra"}
    assert installed_extras() <= locked, command


@pytest.mark.parametrize("python", sorted({image_python(), *ci_pythons()}))
def test_the_lock_pins_every_requirement_on_each_python_that_installs_it(python) -> None:
    """On the image's Python and on CI's, every requirement of the project and of the extras
    installed has exactly one pin that applies there, at a version the requirement allows: a
    dependency added to pyproject.toml without re-locking fails here."""
    assert python in SpecifierSet(PYPROJECT["project"]["requires-python"])
    environment = {
        **default_environment(),
        **IMAGE_PLATFORM,
        "python_version": python,
        "python_full_version": f"{python}.0",
    }
    pinned: dict[str, list[str]] = {}
    for pin in lock_pins():
        if pin.marker is None or pin.marker.evaluate(environment):
            (exact,) = pin.specifier
            pinned.setdefault(canonicalize_name(pin.name), []).append(exact.version)
    assert not {name: pins for name, pins in pinned.items() if len(pins) > 1}, "pinned twice"
    optional = PYPROJECT["project"]["optional-dependencies"]
    lines = PYPROJECT["project"]["dependencies"] + [
        line for extra in installed_extras() for line in optional[extra]
    ]
    wrong = []
    for requirement in map(Requirement, lines):
        name = canonicalize_name(requirement.name)
        if name == PROJECT or not (
            requirement.marker is None or requirement.marker.evaluate(environment)
        ):
            continue
        (version,) = pinned.get(name, [None])
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{requirement} (locked: {version or 'nothing'})")
    assert not wrong, f"{LOCK.name} on Python {python} does not pin: {wrong}"


def test_the_image_builds_from_the_packages_pyproject_names() -> None:
    """The build stage copies pyproject.toml, README.md, the lock and every package the
    project installs; .dockerignore lets exactly those into the build context."""
    packages = {
        name.rstrip("*") for name in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    build = stages()[0]
    copied = {
        source.rstrip("/")
        for copy in instructions(build, "COPY")
        if not copy.flags
        for source in copy.value[:-1]
    }
    needed = {"pyproject.toml", "README.md", LOCK.name} | packages
    assert copied == needed
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert allowed == needed


def test_the_runtime_stage_serves_as_a_non_root_user_with_a_health_check() -> None:
    build, runtime = stages()
    for stage in (build, runtime):
        assert re.fullmatch(r"python:3\.12-slim(-\w+)?", stage[0].value[0])
    assert instructions(runtime, "COPY")[0].flags == ("--from=build",)
    (user,) = instructions(runtime, "USER")
    assert user.value[0].split(":")[0] not in ("root", "0")
    environment = {
        name: value
        for env in instructions(runtime, "ENV")
        for name, value in zip(env.value[::2], env.value[1::2], strict=True)
    }
    assert environment["POINTSMALL_ENV"] == "production"
    (healthcheck,) = instructions(runtime, "HEALTHCHECK")
    assert healthcheck.value[0] == "CMD" and "/healthz" in " ".join(healthcheck.value)
    # Exec form: the server is PID 1 and receives SIGTERM itself, then drains.
    (entrypoint,) = instructions(runtime, "ENTRYPOINT")
    (command,) = instructions(runtime, "CMD")
    assert entrypoint.json and entrypoint.value == ("pointsmall",)
    assert command.json and command.value[0] == "serve"
    arguments = shlex.join(command.value)
    assert "--host 0.0.0.0" in arguments
