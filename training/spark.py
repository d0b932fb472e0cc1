"""The Spark engine: its sessions, with the settings of :mod:`training.spark_config`.

``vru link`` and ``vru features`` run on DuckDB by default (one machine, nothing to set up).
With ``engine: spark`` in their section, or ``--engine spark``, they run the same definitions
on Spark: Splink's Spark backend for linkage, Spark SQL transpiled from the one feature SQL for
features. The master comes from here: ``local[*]`` uses this machine's cores; a cluster's URL
(``spark://...``, ``yarn``, ``k8s://...``) runs the same code there.

PySpark is an optional extra and Spark needs a Java 17 runtime. Both are checked before a
session starts, and a missing one gets an error that names the fix.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.contracts.errors import VruError
from training.spark_config import ENGINES, Engine, SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "ENGINES",
    "Engine",
    "EngineUnavailableError",
    "SparkConfig",
    "spark_session",
    "start_spark_session",
]

MIN_JAVA = 17

_NO_PYSPARK = (
    "engine 'spark' needs PySpark, which is not installed: "
    "install the spark extra: pip install -e .[spark]"
)
_NO_JAVA = (
    "engine 'spark' needs Java {need} or newer ({found}): "
    "Java 17 is needed: scripts/ensure-java.sh installs it (and prints a JAVA_HOME to set if it "
    "had to unpack one)"
)
_SESSION_FAILED = "engine 'spark': the Spark session did not start on master {master!r} ({err})"


class EngineUnavailableError(VruError, RuntimeError):
    """The configured engine cannot run here (a missing package or runtime)."""


def spark_session(config: SparkConfig) -> SparkSession:
    """Start (or reuse) the Spark session that ``config`` describes.

    Raises
    ------
    EngineUnavailableError
        PySpark is not installed, no Java 17+ runtime is found, or the session fails to start.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineUnavailableError(_NO_PYSPARK) from None
    _ensure_java()
    from splink.backends.spark import similarity_jar_location

    settings: dict[str, str] = {
        "spark.driver.memory": config.driver_memory,
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        # Splink's string-similarity functions (Jaro-Winkler, Damerau-Levenshtein) for Spark
        "spark.jars": similarity_jar_location(),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.useLargeVarTypes": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
        # Spark runs one task per core: Python work in a task (LightGBM in the release's
        # scoring) uses one thread, rather than every task spreading over every core
        "spark.executorEnv.OMP_NUM_THREADS": "1",
        **config.conf,
    }
    if python := config.conf.get("spark.pyspark.python"):
        # the executors' Python on a cluster (an environment with this project's packages on
        # every node): PySpark reads it from the environment when the context starts, and
        # does not read this setting itself unless launched through spark-submit
        os.environ["PYSPARK_PYTHON"] = python
    elif config.master.startswith("local"):
        # Python work (the release's scoring) runs in workers this machine starts: this
        # interpreter, with this environment's packages, rather than whatever python3 is on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder: Any = SparkSession.builder.master(config.master).appName(config.app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as err:  # py4j and JVM start-up errors have no common base class
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise EngineUnavailableError(
            _SESSION_FAILED.format(master=config.master, err=first)
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    # Splink breaks the lineage of its iterative steps (EM, clustering) by writing Parquet here
    checkpoint = config.checkpoint_dir or Path(tempfile.mkdtemp(prefix="vru-spark-"))
    if config.checkpoint_dir is None:
        atexit.register(shutil.rmtree, checkpoint, ignore_errors=True)
    session.sparkContext.setCheckpointDir(str(checkpoint))
    return session


def start_spark_session(config: SparkConfig) -> threading.Thread:
    """Start the session of :func:`spark_session` in the background; the thread starting it.

    The JVM takes seconds to start; a command that knows it will need Spark starts it first
    and meanwhile does its own work (imports, checks, reading the model). Its later
    :func:`spark_session` call returns this session, waiting for it if need be, or raises
    the error that starting it met (so the thread itself drops that error).
    """

    def start() -> None:
        try:
            spark_session(config)
        except EngineUnavailableError:
            return  # the caller's own spark_session() raises it again, with its message

    thread = threading.Thread(target=start, name="vru-spark-start", daemon=True)
    thread.start()
    return thread


def _ensure_java() -> None:
    """Find a Java 17+ runtime for PySpark, or raise an error that names the fix.

    Order: ``JAVA_HOME``; ``java`` on ``PATH``; the JRE that ``scripts/ensure-java.sh``
    unpacks into the virtual environment (``<venv>/jre``), which is then used via JAVA_HOME.
    """
    local = Path(sys.prefix) / "jre"
    candidates: list[tuple[str, Path | None]] = []
    if home := os.environ.get("JAVA_HOME"):
        candidates.append((str(Path(home) / "bin" / "java"), None))
    if found := shutil.which("java"):
        candidates.append((found, None))
    if (local / "bin" / "java").is_file():
        candidates.append((str(local / "bin" / "java"), local))
    seen: list[str] = []
    for java, home_to_set in candidates:
        version = _java_version(java)
        seen.append(f"{java}: {version if version else 'does not run'}")
        if version is not None and version >= MIN_JAVA:
            if home_to_set is not None:
                os.environ["JAVA_HOME"] = str(home_to_set)
            return
    found_text = "; ".join(seen) if seen else "no java on PATH and JAVA_HOME is not set"
    raise EngineUnavailableError(_NO_JAVA.format(need=MIN_JAVA, found=found_text))


def _java_version(java: str) -> int | None:
    """The major version that ``java -version`` reports (8 for 1.8), or None."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major
