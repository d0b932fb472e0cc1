"""Shared by the benchmarks: run a command in a child process and measure it; write results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Json = dict[str, Any]
MIB = 1024 * 1024

#: A script running one `vru` command (its arguments after the script's path) in its own
#: process; if the command started Spark, its JVM is stopped and waited for, so that the
#: JVM's time and memory count in the measurement too.
VRU_LAUNCHER = """
import sys
from vru.cli import app
sys.argv[0] = "vru"
try:
    app()
finally:
    if "pyspark" in sys.modules:
        from pyspark import SparkContext
        sc = SparkContext._active_spark_context
        if sc is not None:
            proc = getattr(sc._gateway, "proc", None)
            sc.stop()
            sc._gateway.shutdown()
            if proc is not None:
                proc.stdin.close()
                proc.wait()
"""


def log(message: str) -> None:
    """Write one progress line to stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(function: Callable[[], Any]) -> tuple[Any, Json]:
    """Call ``function`` in this process; its result and its wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
    }


def measure(cmd: list[str], cwd: Path) -> Json:
    """Run ``cmd``; return its wall time, CPU time (user + system) and peak RSS, and exit code.

    The child's stdout goes to our stderr so that stdout holds only the JSON result.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=sys.stderr, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall_s = time.perf_counter() - start
    return {
        "wall_s": round(wall_s, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "cpu_user_s": round(usage.ru_utime, 2),
        "cpu_sys_s": round(usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is KiB on Linux
        "exit_code": os.waitstatus_to_exitcode(status),
    }


def machine() -> Json:
    """Where the benchmark ran."""
    info: Json = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        with open("/proc/meminfo") as fh:
            kib = int(fh.readline().split()[1])
        info["memory_gib"] = round(kib / MIB, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def write_result(out_dir: Path, name: str, report: Json) -> Path:
    """Write ``report`` to ``<out>/<date>-<name>.json`` via a temporary file and a rename."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{report['date']}-{name}.json"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".json.tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(report, indent=2) + "\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_launcher(path: Path) -> Path:
    """Write :data:`VRU_LAUNCHER` to ``path`` and return it, for running `vru` commands with."""
    path.write_text(VRU_LAUNCHER)
    return path


def wall_ratio(numerator: Json, denominator: Json) -> float:
    """The ratio of two measured steps' wall times, rounded to two decimals.

    Every comparison in the reports (Spark over DuckDB, ours over a bare baseline) is this one
    figure, so it is computed, and rounded, in one place.
    """
    return float(round(numerator["wall_s"] / denominator["wall_s"], 2))


def report_head(benchmark: str) -> Json:
    """The first keys of every report: the benchmark's name, today's date and the machine."""
    return {"benchmark": benchmark, "date": dt.date.today().isoformat(), "machine": machine()}


def publish(out_dir: Path, name: str, report: Json) -> None:
    """Print ``report`` as JSON on stdout, write it under ``out_dir`` and log where it went."""
    print(json.dumps(report, indent=2))
    log(f"wrote {write_result(out_dir, name, report)}")


def clean_up(work: Path, *, keep: bool) -> None:
    """Delete the work directory, or with ``keep`` (the scripts' ``--keep``) say where it is."""
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
