"""How the tests' Spark JVMs start: in about a third of the CPU a default start takes.

Every Spark stage, Spark test and Spark CI job the suite runs starts a JVM, and a default start costs ~16
CPU-seconds on these 2 cores (its JIT compilers and garbage collector threads compete with the other worker for
classes used for a second). The client compiler only, the serial collector and an archive of the classes Spark
loads (class-data sharing, made once per checkout in build/) bring that to ~6. The archive is made in the
background while the first tests run (~30 s): a JVM that starts before it is there starts without it, since a
JVM ignores a missing archive. These options change how fast the JVM starts, not what Spark computes; a baked
project's own JVMs keep the defaults, right for data that outgrows one machine. `make bench` and
`make bench-spark` run outside pytest, with the defaults.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from helpers.baking import TEMPLATE

OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
ARCHIVES = TEMPLATE / "build" / "spark-jvm"
# A small job that loads what a stage loads: session, DataFrame, SQL, Parquet.
WARM_UP = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
spark.range(100).selectExpr("id % 3 AS key", "id AS value").groupBy("key").sum().collect()
spark.stop()
"""


def archive_path() -> Path | None:
    """Where the class-data archive for this venv's pyspark and this Java goes (None without them)."""
    java, spec = shutil.which("java"), importlib.util.find_spec("pyspark")
    if java is None or spec is None:
        return None  # the Spark tests say what is missing
    version = subprocess.run([java, "-version"], check=False, capture_output=True, text=True).stderr
    jars = Path(spec.origin).parent / "jars"  # the archive holds the classpath it was made with
    key = hashlib.sha256(f"{version}{jars}{sorted(os.listdir(jars))}".encode()).hexdigest()[:16]
    return ARCHIVES / f"{key}.jsa"


def make_archive(archive: Path) -> None:
    """Run a small Spark job whose JVM writes the classes it loaded into the archive at exit."""
    ARCHIVES.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(f".{os.getpid()}.partial")
    env = {**os.environ, "SPARK_SUBMIT_OPTS": f"{OPTIONS} -XX:ArchiveClassesAtExit={partial}"}
    subprocess.run([sys.executable, "-c", WARM_UP], check=False, env=env, capture_output=True, timeout=300)
    if partial.exists():
        partial.replace(archive)  # in one step: no JVM sees half an archive


def spark_submit_options() -> str:
    """SPARK_SUBMIT_OPTS for every Spark driver the tests start (spark-submit adds it to the JVM's options); when
    the archive is missing, a thread of this process makes it meanwhile."""
    archive = archive_path()
    if archive is None:
        return OPTIONS
    if not archive.exists():
        threading.Thread(target=make_archive, args=(archive,), name="spark-class-archive", daemon=True).start()
    return f"{OPTIONS} -XX:SharedArchiveFile={archive}"
