"""`pointsmall serve` as an operator runs it: its own process on the test's backends, named by
the environment, its output collected line by line as it comes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from server.settings import Settings
from tests.support.commands import POINTSMALL
from tests.support.live import free_port, service_environment

START_TIMEOUT = 60
STOP_TIMEOUT = 30


class Served:
    """One `pointsmall serve --workers N` on the settings' backends."""

    def __init__(self, settings: Settings, *, workers: int = 1, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        # Development unless the test says otherwise, whatever the suite runs in.
        environment = service_environment(
            settings, {"POINTSMALL_ENV": "development", **(env or {})}
        )
        self.process = subprocess.Popen(
            [str(POINTSMALL), "serve", "--port", str(self.port), "--workers", str(workers)],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # signals reach it only when a test sends them
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        streams = ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in streams
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    def wait_ready(self) -> Served:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.wait_exit()
                pytest.fail(f"serve exited ({self.process.returncode}):\n{self.output}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        pytest.fail(f"serve was not ready within {START_TIMEOUT}s:\n{self.output}")

    def terminate(self) -> None:
        """SIGTERM to the serve process alone, as a container runtime sends it."""
        self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"serve did not exit within {timeout}s:\n{self.output}")
        for reader in self._readers:
            reader.join(5)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.terminate()
            self.wait_exit()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def serving(settings: Settings, *, workers: int = 1, env: dict | None = None) -> Iterator[Served]:
    """A ready `pointsmall serve`; killed on leaving if the test has not stopped it."""
    served = Served(settings, workers=workers, env=env)
    try:
        yield served.wait_ready()
    finally:
        served.kill()
