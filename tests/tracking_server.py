"""A throwaway PostgreSQL cluster and MLflow tracking server on loopback, for tests.

``postgres_mlflow_server`` proves the path a data scientist uses for shared tracking:
``mlflow server --backend-store-uri postgresql://...`` with artifacts proxied through the
server. Everything it starts listens on 127.0.0.1 only, lives in temporary directories and is
stopped when the context exits, whether or not the body raised.

PostgreSQL's server binaries must be installed (``scripts/ensure-postgres.sh`` does that).
``initdb`` refuses to run as root, so under root the cluster is created and run as the
``postgres`` system user (created if missing) through ``runuser``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg2

__all__ = ["TrackingServer", "find_postgres_bin_dir", "postgres_mlflow_server"]

PG_USER = "postgres"
DATABASE = "mlflow"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
_START_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class TrackingServer:
    """Addresses of a running throwaway tracking stack.

    Attributes
    ----------
    tracking_uri : str
        MLflow tracking (and registry) URI, ``http://127.0.0.1:<port>``.
    postgres_dsn : str
        libpq connection string of the ``mlflow`` database backing the server (trust auth, no
        password).
    postgres_port : int
        TCP port PostgreSQL listens on, on 127.0.0.1.
    artifacts_dir : Path
        Where the server stores artifacts uploaded through it.
    """

    tracking_uri: str
    postgres_dsn: str
    postgres_port: int
    artifacts_dir: Path


def find_postgres_bin_dir() -> Path:
    """Return the directory holding PostgreSQL's ``initdb`` and ``pg_ctl``.

    ``PATH`` is searched first (symlinks resolved, so the ``postgres`` binary sits alongside),
    then ``/usr/lib/postgresql/*/bin``, newest major version first.

    Returns
    -------
    Path
        A directory containing executable ``initdb`` and ``pg_ctl``.

    Raises
    ------
    RuntimeError
        If the binaries are not installed.
    """
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("pg_ctl") is not None:
        candidates.append(Path(initdb).resolve().parent)

    def major(path: Path) -> tuple[int, str]:
        version = path.parent.name
        return (int(version), version) if version.isdigit() else (-1, version)

    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True))
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return directory
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; run scripts/ensure-postgres.sh (as root it installs them "
        "with apt-get)."
    )


def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, chars: int = 3000) -> str:
    """Return the end of a log file, or a note that it is missing."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"<no log at {path}>"


class _Postgres:
    """A throwaway PostgreSQL cluster in its own temporary directory.

    Parameters
    ----------
    bin_dir : Path
        Directory of ``initdb``, ``pg_ctl`` and ``postgres``.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        if self.as_root:
            _ensure_system_user(PG_USER)
        # Not under pytest's tmp_path: as root that sits in a 0700 directory the ``postgres``
        # user cannot traverse. A short /tmp path also keeps the unix socket path legal.
        self.root = Path(tempfile.mkdtemp(prefix="vru-pg-"))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "postgres.log"
        self.port = 0
        self.started = False
        if self.as_root:
            account = pwd.getpwnam(PG_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.root.chmod(0o700)

    @property
    def dsn(self) -> str:
        """libpq connection string of the ``mlflow`` database."""
        return f"host={HOST} port={self.port} user={PG_USER} dbname={DATABASE}"

    @property
    def sqlalchemy_uri(self) -> str:
        """SQLAlchemy URI of the ``mlflow`` database, as ``mlflow server`` takes it.

        The driver is explicit: SQLAlchemy 2.1 made plain ``postgresql://`` mean psycopg 3,
        while the project locks psycopg2 (``psycopg2-binary``).
        """
        return f"postgresql+psycopg2://{PG_USER}@{HOST}:{self.port}/{DATABASE}"

    def _run(self, args: Sequence[str], timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Run a PostgreSQL tool, as the ``postgres`` user when we are root."""
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        for name in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"):
            env.pop(name, None)
        done = subprocess.run(
            command,
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed with exit code {done.returncode}:\n"
                f"{(done.stdout + done.stderr)[-3000:]}"
            )

    def start(self) -> None:
        """Create the cluster, start it on a free loopback port and create the database."""
        self._run(
            [
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                PG_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ]
        )
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = _free_port()
            settings = {
                "listen_addresses": f"'{HOST}'",
                "port": str(self.port),
                "unix_socket_directories": f"'{self.root}'",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "30",
            }
            # Appending keeps the file's owner; the last setting of a name wins.
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write("\n# vru-risk tests\n")
                conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
            self.started = True  # from here on, always try to stop it
            try:
                self._run(
                    [
                        "pg_ctl",
                        "start",
                        "--pgdata",
                        str(self.data_dir),
                        "--log",
                        str(self.log_file),
                        "--wait",
                        "--timeout",
                        str(int(STARTUP_TIMEOUT_S)),
                    ],
                    timeout=STARTUP_TIMEOUT_S + 10,
                )
                break
            except RuntimeError as error:
                self.stop()
                if attempt == _START_ATTEMPTS:
                    raise RuntimeError(f"{error}\npostgres log:\n{_tail(self.log_file)}") from None
        with contextlib.closing(
            psycopg2.connect(host=HOST, port=self.port, user=PG_USER, dbname="postgres")
        ) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) if it may be running; never raises."""
        if not self.started:
            return
        try:
            self._run(
                ["pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", "fast", "--wait"],
                timeout=STOP_TIMEOUT_S + 30,
            )
        except (RuntimeError, subprocess.TimeoutExpired):
            _kill_postmaster(self.data_dir)
        self.started = False

    def remove(self) -> None:
        """Delete the cluster's directory."""
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_postmaster(data_dir: Path) -> None:
    """Last resort after a failed ``pg_ctl stop``: SIGKILL the postmaster named in its pid file."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        # Children notice the postmaster is gone and exit on their own.
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # raises ProcessLookupError once it is gone
            time.sleep(0.1)


def _ensure_system_user(name: str) -> None:
    """Create system user ``name`` (as root) if it does not exist."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", name],
            check=True,
            capture_output=True,
        )


def _start_mlflow(
    postgres: _Postgres, artifacts_dir: Path, log_file: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``mlflow server`` on a free port; return it once ``/health`` answers 200.

    The server runs in its own session so that it and its workers form one process group.
    """
    last_error = ""
    for _attempt in range(_START_ATTEMPTS):
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            postgres.sqlalchemy_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            str(artifacts_dir),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        # No background job runner (GenAI jobs; 7 huey consumers that slow startup and leave a
        # directory in /dev/shm): tracking and the registry do not use it.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=artifacts_dir.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            if _wait_healthy(process, f"http://{HOST}:{port}/health"):
                return process, port
        except BaseException:
            _stop_process_group(process)
            raise
        _stop_process_group(process)
        last_error = _tail(log_file)
    raise RuntimeError(f"mlflow server did not become healthy; its log:\n{last_error}")


def _wait_healthy(process: subprocess.Popen[bytes], url: str) -> bool:
    """Poll ``url`` until it answers 200 (True) or the process exits or time runs out (False)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        # URLError, HTTPError and timeouts are all OSErrors: not up yet.
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return True
        time.sleep(0.2)
    return False


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group led by ``process``, then SIGKILL whatever is left."""
    pgid = process.pid  # start_new_session made it the group leader
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    # Workers may outlive the leader briefly (or ignore SIGTERM): give them a moment, then kill.
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def postgres_mlflow_server(tmp: Path) -> Iterator[TrackingServer]:
    """Run a throwaway PostgreSQL and an ``mlflow server`` backed by it, on 127.0.0.1.

    Parameters
    ----------
    tmp : Path
        Directory for the server's artifacts (``tmp/artifacts``) and log
        (``tmp/mlflow-server.log``). The PostgreSQL cluster lives in its own temporary
        directory, removed on exit.

    Yields
    ------
    TrackingServer
        ``tracking_uri`` (``http://127.0.0.1:<port>``) and ``postgres_dsn`` of the backing
        database, among others.

    Raises
    ------
    RuntimeError
        If PostgreSQL is not installed (run ``scripts/ensure-postgres.sh``), or if either
        server fails to start; the message carries the end of the relevant log.

    Notes
    -----
    On exit, normal or not, the MLflow server's whole process group is terminated and the
    cluster is stopped with ``pg_ctl stop -m fast``; no process outlives the context.
    """
    bin_dir = find_postgres_bin_dir()
    artifacts_dir = tmp / "artifacts"
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    postgres = _Postgres(bin_dir)
    process: subprocess.Popen[bytes] | None = None
    try:
        postgres.start()
        process, port = _start_mlflow(postgres, artifacts_dir, tmp / "mlflow-server.log")
        yield TrackingServer(
            tracking_uri=f"http://{HOST}:{port}",
            postgres_dsn=postgres.dsn,
            postgres_port=postgres.port,
            artifacts_dir=artifacts_dir,
        )
    finally:
        try:
            if process is not None:
                _stop_process_group(process)
        finally:
            postgres.stop()
            postgres.remove()
