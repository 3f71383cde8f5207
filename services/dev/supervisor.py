"""Starting, watching and stopping the parts of the development stack.

A ``Part`` is anything the stack runs: PostgreSQL, the broker, each service process. The
``Supervisor`` starts parts in order, each only once the one before is ready; then it watches
them: a part that dies is said in one line and started again after a backoff (1 s, doubling up
to 30 s; back to 1 s once a part has stayed up for a minute). ``stop`` stops them in reverse
order, the embedded servers last.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
BACKOFF_FIRST, BACKOFF_CAP, STABLE_AFTER = 1.0, 30.0, 60.0


class Part:
    """One thing the stack runs."""

    name: str

    def start(self) -> None:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        """The processes it runs now (for the caller to check that none is left)."""
        return []

    def exit_reason(self) -> str:
        return "stopped"

    def stopped(self) -> str:
        """What to say once `stop` returned."""
        return f"{self.name} stopped"


def _die_with_parent() -> None:
    """In the child: SIGTERM when the supervisor dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    os.setsid()  # a terminal's Ctrl-C reaches the supervisor only, which stops everything in order
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class ServiceProcess(Part):
    """``customer-timeline <args>`` as a child process, its output in a log file of its own."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    probe_url: str | None = None  # ready once this answers 200; None: once it runs
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"---- {time.strftime('%Y-%m-%d %H:%M:%S')} start\n".encode())
            out.flush()
            self.process = subprocess.Popen([sys.executable, "-m", "services.cli", *self.args], env=self.env,
                                            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            preexec_fn=_die_with_parent)

    def ready(self) -> bool:
        if not self.alive():
            return False
        if self.probe_url is None:
            return True
        try:
            return httpx.get(self.probe_url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def pids(self) -> list[int]:
        return [self.process.pid] if self.alive() else []

    def exit_reason(self) -> str:
        code = self.process.returncode if self.process is not None else None
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"


@dataclass
class Watched:
    part: Part
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    say: Callable[[str], None]
    parts: list[Watched] = field(default_factory=list)

    def start(self, part: Part, timeout: float = 120.0) -> None:
        """Start a part and wait until it is ready (raise TimeoutError naming it, else)."""
        watched = Watched(part)
        self.parts.append(watched)
        part.start()
        watched.started_at = time.monotonic()
        deadline = time.monotonic() + timeout
        while not part.ready():
            if not part.alive():
                raise RuntimeError(f"{part.name} {part.exit_reason()} while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{part.name} not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def watch(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Until stop is set: restart whatever died, with backoff, saying so in one line."""
        while not stop.wait(interval):
            now = time.monotonic()
            for w in self.parts:
                if w.restart_at is not None:
                    if now >= w.restart_at:
                        w.restart_at, w.restarts = None, w.restarts + 1
                        w.part.start()
                        w.started_at = now
                        self.say(f"{w.part.name} started again (restart {w.restarts})")
                    continue
                if w.part.alive():
                    if now - w.started_at > STABLE_AFTER:
                        w.backoff = BACKOFF_FIRST
                    continue
                self.say(f"{w.part.name} {w.part.exit_reason()}; starting it again in {w.backoff:.0f} s")
                w.restart_at = now + w.backoff
                w.backoff = min(w.backoff * 2, BACKOFF_CAP)

    def pids(self) -> list[int]:
        return [pid for w in self.parts for pid in w.part.pids()]

    def stop(self) -> None:
        """Stop every part, the last started first; services in parallel, then the servers under them."""
        services = [w.part for w in self.parts if isinstance(w.part, ServiceProcess)]
        for part in services:
            if part.process is not None and part.process.poll() is None:
                part.process.terminate()
        for part in reversed(services):
            part.stop()
            self.say(part.stopped())
        for w in reversed(self.parts):
            if not isinstance(w.part, ServiceProcess):
                w.part.stop()
                self.say(w.part.stopped())
