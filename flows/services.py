"""Start and stop a local Prefect server, worker or serve process, tracked by PID files.

Used by the Makefile (``make server``, ``make worker``, ``make serve``, ``make stop``) and by the
end-to-end test, so both run the very same commands::

    python -m flows.services server            # prefect server on 127.0.0.1:$LCZ_PREFECT_PORT
    python -m flows.services worker --pool lcz # a process worker polling the pool
    python -m flows.services serve             # deployments served from one process (no pool)
    python -m flows.services stop              # stop all of the above, by PID
    python -m flows.services status

State lives under ``$PREFECT_HOME`` (default ``./.prefect``): the server's SQLite database
(``prefect.db``; set ``PREFECT_API_DATABASE_CONNECTION_URL`` for PostgreSQL), ``run/NAME.pid`` and
``logs/NAME.log``. Each process starts in a session of its own and is stopped through its
process group (the group id is the recorded PID), so the flow runs it spawned stop with it; SIGINT
first, since a worker ignores SIGTERM while it has runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalPrefect", "main"]

DEFAULT_PORT = 4200
SERVICES = ("server", "worker", "serve")  # stop order is the reverse: clients before the server


@dataclass(frozen=True)
class LocalPrefect:
    """Where a local Prefect installation keeps its state and listens.

    Attributes:
        home: ``PREFECT_HOME`` (database, PID files, logs, task result cache).
        port: API port on 127.0.0.1.
    """

    home: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalPrefect:
        env = os.environ if environ is None else environ
        home = Path(env.get("PREFECT_HOME") or ".prefect").absolute()
        return cls(home=home, port=int(env.get("LCZ_PREFECT_PORT") or DEFAULT_PORT))

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for every process: this home and API, no analytics, bound to 127.0.0.1."""
        env = dict(os.environ if base is None else base)
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_API_HOST=self.host,
            PREFECT_SERVER_API_PORT=str(self.port),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_UI_API_URL=self.api_url,
        )
        return env

    def pid_file(self, name: str) -> Path:
        return self.home / "run" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    # -- processes ---------------------------------------------------------------------------

    def running_pid(self, name: str) -> int | None:
        """The PID recorded for ``name`` if that process is still alive, else None (and a stale
        PID file is removed)."""
        f = self.pid_file(name)
        try:
            pid = int(f.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _alive(pid):
            return pid
        f.unlink(missing_ok=True)
        return None

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
        """Start ``argv`` in the background as service ``name``; returns its PID.

        Idempotent: if ``name`` is already running its PID is returned and nothing is started.
        """
        if (pid := self.running_pid(name)) is not None:
            return pid
        for f in (self.pid_file(name), self.log_file(name)):
            f.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file(name), "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() reaches its children too
            )
        self.pid_file(name).write_text(f"{proc.pid}\n")
        return proc.pid

    def stop(self, name: str, timeout: float = 30.0) -> bool:
        """Stop service ``name`` and its process group: SIGINT, then SIGTERM, then SIGKILL.

        Returns True if a running process was stopped.
        """
        pid = self.running_pid(name)
        if pid is None:
            return False
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            if _wait_gone(pid, wait):
                break
        self.pid_file(name).unlink(missing_ok=True)
        return True

    # -- the server --------------------------------------------------------------------------

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start_server(self, timeout: float = 90.0) -> int:
        """Start ``prefect server start`` on 127.0.0.1 and wait until ``/api/health`` answers."""
        pid = self.start(
            "server",
            [_prefect(), "server", "start", "--host", self.host, "--port", str(self.port)],
        )
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.running_pid("server") is None:
                raise RuntimeError(
                    f"prefect server exited during start-up; see {self.log_file('server')}:\n"
                    + _tail(self.log_file("server"))
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"prefect server not healthy after {timeout:.0f} s ({self.api_url})"
                )
            time.sleep(0.5)
        return pid

    def start_worker(self, pool: str, env: Mapping[str, str] | None = None) -> int:
        """Start a process worker polling ``pool`` (flow runs are its child processes)."""
        argv = [_prefect(), "worker", "start", "--pool", pool, "--type", "process"]
        return self.start("worker", argv, env)

    def start_serve(self, env: Mapping[str, str] | None = None) -> int:
        """Start ``python -m flows.deployments serve`` (deployments run in its child processes)."""
        return self.start("serve", [sys.executable, "-m", "flows.deployments", "serve"], env)


def _prefect() -> str:
    # The prefect next to this interpreter, so a venv need not be activated.
    candidate = Path(sys.executable).with_name("prefect")
    return str(candidate) if candidate.exists() else "prefect"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this very process still answers kill(0); reap it if it is one.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return not _alive(pid)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.services", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("server", help="start a Prefect server on 127.0.0.1 (port: LCZ_PREFECT_PORT)")
    worker = sub.add_parser("worker", help="start a process worker")
    worker.add_argument("--pool", default="lcz", help="work pool name (default: lcz)")
    sub.add_parser("serve", help="serve the deployments from one process (no work pool)")
    stop = sub.add_parser("stop", help="stop services by PID (default: all)")
    stop.add_argument("names", nargs="*", help=f"any of {', '.join(SERVICES)}")
    sub.add_parser("status", help="show which services run")
    args = parser.parse_args(argv)

    local = LocalPrefect.from_env()
    unknown = set(getattr(args, "names", [])) - set(SERVICES)
    if unknown:
        parser.error(f"unknown service(s) {sorted(unknown)}; expected {', '.join(SERVICES)}")
    if args.command == "server":
        pid = local.start_server()
        print(f"prefect server: pid {pid}, {local.api_url} (home {local.home})")
    elif args.command == "worker":
        print(f"worker: pid {local.start_worker(args.pool)}, log {local.log_file('worker')}")
    elif args.command == "serve":
        print(f"serve: pid {local.start_serve()}, log {local.log_file('serve')}")
    elif args.command == "stop":
        for name in reversed(SERVICES):
            if args.names and name not in args.names:
                continue
            if local.stop(name):
                print(f"{name}: stopped")
    else:
        for name in SERVICES:
            running = local.running_pid(name)
            print(f"{name}: {'pid ' + str(running) if running else 'not running'}")
        print(f"api {local.api_url}: {'healthy' if local.healthy() else 'not answering'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
