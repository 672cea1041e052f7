"""coachd itself, run as users run it (``coachd run --config ...``) against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SANDBOX_CONFIG = REPO / "sandbox" / "coachd.toml"
ARTIFACTS = REPO / "test-artifacts"


class Daemon:
    def __init__(
        self, config: Path = SANDBOX_CONFIG, env: Mapping[str, str] | None = None, name: str = ""
    ) -> None:
        self.config = config
        # A topic prefix of its own, so that no other run's retained state shows up.
        self.mqtt_prefix = f"coachd-test-{uuid.uuid4().hex[:8]}"
        # Its own coaching log too, unless the test names one.
        tag = f"{name or 'coachd'}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        own_database = f"sqlite:///{ARTIFACTS / (tag + '.db')}"
        self.env = {
            "COACHD_MQTT__TOPIC_PREFIX": self.mqtt_prefix,
            # The broker allows one connection per client id.
            "COACHD_MQTT__CLIENT_ID": "coachd-" + tag,
            "COACHD_DATABASE__URL": own_database,
            "COACHD_DATABASE__SPOOL": str(ARTIFACTS / (tag + ".spool.jsonl")),
            **(env or {}),
        }
        self.database_url = self.env["COACHD_DATABASE__URL"]
        # Where coaching-log rows wait while the database is away (a restarted
        # coachd given the same log and spool picks up where this one stopped).
        self.spool_path = Path(self.env["COACHD_DATABASE__SPOOL"])
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"coachd{('-' + name) if name else ''}-{os.getpid()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0
        self._checkpoint = 0

    @staticmethod
    def monotonic_at(record: Mapping[str, Any]) -> float:
        """When a log record was written, on this process's monotonic clock."""
        wall = datetime.fromisoformat(str(record["timestamp"])).timestamp()
        return wall - (time.time() - time.monotonic())

    def checkpoint(self) -> None:
        """From now on, session_events() and wait_event() see only newer records."""
        self._checkpoint = self.log_path.stat().st_size

    def start(self, timeout: float = 15.0) -> None:
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._checkpoint = self._offset
        log = self.log_path.open("ab")
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coachd", "run", "--config", str(self.config)],
            stdout=log,
            stderr=log,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.get("event") == "coachd_ready" for r in self.records()):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"coachd exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.05)
        # Never leave a half-started coachd behind: it would take part in later tests.
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"coachd not ready within {timeout} s:\n{self.tail()}")

    @contextlib.contextmanager
    def running(self) -> Iterator[Daemon]:
        """Started here, stopped at the end: it must exit cleanly and log no error."""
        self.start()
        try:
            yield self
        finally:
            assert self.stop() == 0, self.tail()
        errors = self.errors()
        assert not errors, errors

    def stop(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("coachd did not stop on SIGTERM") from None
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def records(self, *, since_checkpoint: bool = False) -> list[dict[str, Any]]:
        """This run's JSON log lines (or those since the last checkpoint)."""
        out: list[dict[str, Any]] = []
        with self.log_path.open("rb") as f:
            f.seek(self._checkpoint if since_checkpoint else self._offset)
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def tail(self, n: int = 30) -> str:
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def session_events(self, **match: object) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records(since_checkpoint=True)
            if r.get("event") == "session_event" and all(r.get(k) == v for k, v in match.items())
        ]

    def errors(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("level") in ("error", "critical")]

    async def wait_record(
        self, where: Callable[[dict[str, Any]], bool], *, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` of this run's log records match ``where``; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.records() if where(r)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} matching records not logged in {timeout} s")
            await asyncio.sleep(0.05)  # the log is a file: poll it

    async def wait_event(
        self,
        event_type: str,
        *,
        timeout: float = 5.0,
        where: Callable[[dict[str, Any]], bool] = lambda r: True,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for r in self.session_events(event_type=event_type):
                if where(r):
                    return r
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event_type} event within {timeout} s:\n{self.tail()}")
            await asyncio.sleep(0.02)
