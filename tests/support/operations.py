"""What the service shows its operators: samples of /metrics, and the request ids it makes."""

from __future__ import annotations

import re

OUR_ID = re.compile(r"[0-9a-f]{32}")  # a request id the service made, not the client's


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of the metric `name` with exactly these labels in /metrics' text (0 if none)."""
    label_text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    match = re.search(rf"^{name}\{{{label_text}\}} (\S+)$", metrics_text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0
