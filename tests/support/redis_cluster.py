"""Redis Cluster and Sentinel for the tests, from the machine's `redis-server` on loopback
ports: three masters in a cluster, or one master watched by one Sentinel."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_SECONDS = 20
CLUSTER_BUS_OFFSET = 10_000  # Redis 6 puts a node's cluster bus on its port + 10000


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Loopback ports free now whose cluster-bus ports are free too."""
    ports: list[int] = []
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        bus = port + CLUSTER_BUS_OFFSET
        if port not in ports and bus < 65536 and _port_is_free(bus):
            ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError("no free loopback ports for Redis")


def _executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is needed for the Redis Cluster and Sentinel tests: install Redis")
    return path


def _cli(port: int, *command: str) -> str:
    done = subprocess.run(
        [_executable("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *command],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout


def _wait_until(port: int, command: tuple[str, ...], expected: str, what: str) -> None:
    for _ in range(START_SECONDS * 10):
        if expected in _cli(port, *command):
            return
        time.sleep(0.1)
    raise RuntimeError(f"Redis on port {port}: {what} not within {START_SECONDS} s")


def _start(directory: Path, port: int, *options: str) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True)
    process = subprocess.Popen(
        [
            _executable("redis-server"),
            *options,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(directory / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_until(port, ("ping",), "PONG", "PING")
    return process


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


@contextlib.contextmanager
def redis_cluster(directory: Path, masters: int = 3) -> Iterator[str]:
    """A cluster of `masters` masters and no replicas; yields its `redis+cluster://` URL."""
    ports = free_ports(masters)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            processes.append(
                _start(
                    directory / str(port), port,
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(directory / str(port) / "nodes.conf"),
                )
            )  # fmt: skip
        created = subprocess.run(
            [
                _executable("redis-cli"), "--cluster", "create",
                *(f"127.0.0.1:{port}" for port in ports),
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}")
        for port in ports:
            _wait_until(port, ("cluster", "info"), "cluster_state:ok", "cluster_state:ok")
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports) + "/"
    finally:
        _stop(processes)


@contextlib.contextmanager
def redis_sentinel(directory: Path, service: str) -> Iterator[tuple[str, int]]:
    """One master watched by one Sentinel as `service`; yields (the `redis+sentinel://` URL,
    the master's port)."""
    master_port, sentinel_port = free_ports(2)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_start(directory / "master", master_port))
        config = directory / "sentinel.conf"  # Sentinel rewrites its configuration file
        config.write_text(
            f"sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {service} 60000\n"
        )
        processes.append(_start(directory / "sentinel", sentinel_port, str(config), "--sentinel"))
        _wait_until(
            sentinel_port,
            ("sentinel", "get-master-addr-by-name", service),
            str(master_port),
            f"Sentinel naming the master of {service}",
        )
        yield f"redis+sentinel://127.0.0.1:{sentinel_port}/{service}", master_port
    finally:
        _stop(processes)


BLOCKED_SECONDS = 0.2  # each BLPOP of `blocked_commands_take_turns`


async def blocked_commands_take_turns(redis: Any, empty_list: str, connections: int) -> None:
    """Four times as many BLPOPs as `redis` has connections (each holding one for
    BLOCKED_SECONDS on a list nobody pushes to) all answer, one batch after another: a burst
    past the pool waits its turn instead of failing."""
    started = time.monotonic()
    answers = await asyncio.wait_for(
        asyncio.gather(
            *(redis.blpop([empty_list], timeout=BLOCKED_SECONDS) for _ in range(4 * connections))
        ),
        10,
    )
    assert answers == [None] * 4 * connections
    assert time.monotonic() - started >= 4 * BLOCKED_SECONDS * 0.9, "they ran on more"
