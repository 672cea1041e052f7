"""systemd/coachd.service as shipped, and coachd's side of it against a fake
NOTIFY_SOCKET: READY=1 only once coachd is ready, watchdog pings from the event
loop (none while the process is frozen), STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.sandbox.daemon import REPO, Daemon

UNIT = REPO / "systemd" / "coachd.service"


def test_the_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # The one change: ExecStart points at this checkout's coachd instead of
    # /opt/coachd (verify insists that the program exists).
    coachd = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "coachd"
    if not coachd.exists():
        coachd = REPO / ".venv" / "bin" / "coachd"
    text = UNIT.read_text().replace("ExecStart=/opt/coachd/bin/coachd", f"ExecStart={coachd}")
    assert text != UNIT.read_text()
    unit = tmp_path / "coachd.service"
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    for line in ("Type=notify", "WatchdogSec=", "Restart=always", "DynamicUser=yes"):
        assert line in text


def collect(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    out = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            out.append((time.monotonic(), sock.recv(4096).decode()))
        except TimeoutError:
            break
    return out


def test_coachd_tells_systemd_when_it_is_ready_alive_and_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    daemon = Daemon(name="systemd", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    try:
        daemon.start()  # returns once coachd logged coachd_ready
        texts = [m for _, m in collect(sock, 1.6)]
        assert [m for m in texts if m.startswith("READY=1")] == [
            "READY=1\nSTATUS=coaching on coachd"
        ], texts
        assert texts.count("WATCHDOG=1") >= 3, texts

        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGSTOP)  # as good as a wedged event loop
        frozen = collect(sock, 1.2)
        daemon.proc.send_signal(signal.SIGCONT)
        assert [m for _, m in frozen if m == "WATCHDOG=1"][1:] == [], frozen
        assert "WATCHDOG=1" in [m for _, m in collect(sock, 1.0)]

        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
        assert any(m.startswith("STOPPING=1") for _, m in collect(sock, 0.5)), daemon.tail()
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()
        sock.close()
