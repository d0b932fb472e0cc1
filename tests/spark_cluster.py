"""A standalone Spark cluster on this machine: one master and two workers, for the tests.

Started with Spark's own daemon script (``sbin/spark-daemon.sh``, which ``start-master.sh``
and ``start-worker.sh`` call in a full Spark distribution; the PySpark wheel ships it but not
those two wrappers), as separate JVM processes talking over the network, unlike
``local[*]``, where driver and executors share one JVM. Each worker offers one core and
1 GB, so a job's tasks really run in two executors. Ports are free ones picked at start;
logs, pid files and work directories go under the given directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyspark

__all__ = ["standalone_cluster", "stop_spark"]

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
WORKERS = 2


def stop_spark() -> None:
    """Stop this process's Spark context, whichever thread started it.

    PySpark keeps one context per process, and ``SparkSession.getActiveSession()`` only sees a
    session made in the calling thread (the release starts its session in a background
    thread), so the context is found where PySpark keeps it.
    """
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is not None:
        context.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _daemon(env: dict[str, str], action: str, name: str, instance: int, *args: str) -> None:
    script = Path(pyspark.__file__).parent / "sbin" / "spark-daemon.sh"
    subprocess.run(
        ["bash", str(script), action, name, str(instance), *args],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as answer:
            state = json.load(answer)
    except OSError:
        return 0
    return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


@contextlib.contextmanager
def standalone_cluster(directory: Path, timeout_s: float = 90.0) -> Iterator[str]:
    """Start a master and two workers; yield the master URL; stop them all afterwards."""
    home = Path(pyspark.__file__).parent
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOG_DIR": str(directory / "logs"),
        "SPARK_PID_DIR": str(directory / "pids"),
        "SPARK_WORKER_DIR": str(directory / "work"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_IDENT_STRING": f"vru-test-{os.getpid()}",
        # executors run Python (the release scores in them) with this environment's packages
        "PYSPARK_PYTHON": sys.executable,
    }
    port, ui = _free_port(), _free_port()
    master = f"spark://127.0.0.1:{port}"
    started: list[tuple[str, int]] = []
    try:
        _daemon(env, "start", MASTER, 1, "--host", "127.0.0.1", "--port", str(port),
                "--webui-port", str(ui))  # fmt: skip
        started.append((MASTER, 1))
        for instance in range(1, WORKERS + 1):
            _daemon(env, "start", WORKER, instance, "--webui-port", str(_free_port()),
                    "--cores", "1", "--memory", "1g", master)  # fmt: skip
            started.append((WORKER, instance))
        deadline = time.monotonic() + timeout_s
        while _alive_workers(ui) < WORKERS:
            if time.monotonic() > deadline:
                logs = "\n".join(
                    p.read_text()[-2000:] for p in sorted((directory / "logs").glob("*.out"))
                )
                raise RuntimeError(f"the Spark cluster did not come up in {timeout_s} s:\n{logs}")
            time.sleep(0.5)
        yield master
    finally:
        for name, instance in reversed(started):
            with contextlib.suppress(subprocess.SubprocessError):
                _daemon(env, "stop", name, instance)
