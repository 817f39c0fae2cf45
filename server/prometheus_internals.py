"""Every use of prometheus_client's internals, in one place, for the versions below.

prometheus_client picks where metrics keep their values (in memory, or in files for a
multiprocess server) once, when it is imported. `pointsmall serve` sets the files' directory
after the settings imported it, and a single worker runs in the serving process itself, so the
choice is made again. `server/dependencies.py` refuses to start on a prometheus_client outside
WRITTEN_FOR.
"""

from __future__ import annotations

from prometheus_client import values

WRITTEN_FOR = "prometheus-client>=0.21,<0.27"


def choose_value_storage_again() -> None:
    """Metrics made from now on keep their values where PROMETHEUS_MULTIPROC_DIR says."""
    # prometheus_client leaves get_value_class unannotated.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
