"""A real Spark standalone cluster on 127.0.0.1: one master and one worker, started from the pyspark wheel.

The wheel ships `bin/spark-class` but no sbin/start-master.sh or start-worker.sh (notes/spark.md), so both
daemons run `spark-class` directly, each in a session of its own, and are stopped by process group.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from helpers.processes import free_port, tool_env

LEADER = "I have been elected leader"
REGISTERED = "Successfully registered with master"


class SparkCluster:
    """A running master and worker: the URL to give SPARK_MASTER, their web UIs' JSON, the worker's dirs."""

    def __init__(self, master_port: int, master_ui_port: int, worker_ui_port: int, home: Path):
        self.url = f"spark://127.0.0.1:{master_port}"
        self.master_ui = f"http://127.0.0.1:{master_ui_port}"
        self.worker_ui = f"http://127.0.0.1:{worker_ui_port}"
        self.home = home
        self.work_dir = home / "worker-work"  # one app-<id>/<executor>/ directory per application, with its logs
        self.master_log, self.worker_log = home / "master.log", home / "worker.log"

    def master_state(self) -> dict:
        """The master's /json/: workers, activeapps and completedapps (each with id, name, state, cores)."""
        with urllib.request.urlopen(f"{self.master_ui}/json/", timeout=10) as answer:
            return json.load(answer)

    def worker_state(self) -> dict:
        """The worker's /json/: executors and finishedexecutors (each with its appid)."""
        with urllib.request.urlopen(f"{self.worker_ui}/json/", timeout=10) as answer:
            return json.load(answer)

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for log in (self.master_log, self.worker_log))


def spark_class() -> Path:
    """bin/spark-class of the installed pyspark (its jars/ are the cluster's classpath)."""
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _wait_for(line: str, log: Path, process: subprocess.Popen, cluster: SparkCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while line not in log.read_text():
        assert process.poll() is None, f"{log.name}: exited {process.returncode} before '{line}'\n{cluster.logs()}"
        assert time.monotonic() < deadline, f"no '{line}' in {log.name} within {timeout:.0f} s\n{cluster.logs()}"
        time.sleep(0.25)


def _stop(process: subprocess.Popen) -> None:
    """TERM the daemon's whole process group, KILL it if it lingers (the worker's executors are in it too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def spark_cluster(home: Path, cores: int = 2, memory: str = "2g", timeout: float = 180):
    """Start a master and a worker (`cores` and `memory` for executors) on free loopback ports; yield a
    SparkCluster; stop both on exit, also when starting failed. Both were up in 6 s at load 4."""
    home.mkdir(parents=True, exist_ok=True)
    master_port, master_ui_port, worker_ui_port = free_port(), free_port(), free_port()
    cluster = SparkCluster(master_port, master_ui_port, worker_ui_port, home)
    cluster.work_dir.mkdir(exist_ok=True)
    (home / "local").mkdir(exist_ok=True)
    env = tool_env(
        SPARK_LOCAL_IP="127.0.0.1",  # bind loopback only, and no "resolves to a loopback address" warning
        SPARK_LOCAL_DIRS=str(home / "local"),  # the executors' shuffle and block files
        # The master's REST submission server would take port 6066, shared by every worker under xdist.
        SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
        # The master's and worker's JVMs start as the tests' drivers do (helpers/jvm.py).
        SPARK_DAEMON_JAVA_OPTS=os.environ.get("SPARK_SUBMIT_OPTS", ""),
    )
    env.pop("SPARK_MASTER", None)
    master = [
        "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(master_port),
        "--webui-port", str(master_ui_port),
    ]  # fmt: skip
    worker = [
        "org.apache.spark.deploy.worker.Worker", cluster.url, "--host", "127.0.0.1",
        "--cores", str(cores), "--memory", memory, "--webui-port", str(worker_ui_port),
        "--work-dir", str(cluster.work_dir),  # else it writes into site-packages/pyspark/work
    ]  # fmt: skip
    daemons = [(master, cluster.master_log, LEADER), (worker, cluster.worker_log, REGISTERED)]
    started: list[subprocess.Popen] = []
    try:
        for arguments, log, ready in daemons:
            command = [str(spark_class()), *arguments]
            with open(log, "w") as output:  # start_new_session: setsid, a process group of its own
                daemon = subprocess.Popen(command, cwd=home, env=env, stdout=output, stderr=subprocess.STDOUT,
                                          start_new_session=True)  # fmt: skip
            started.append(daemon)
            _wait_for(ready, log, started[-1], cluster, timeout)
        yield cluster
    finally:
        for daemon in reversed(started):  # the worker first, so the master does not log it as lost
            _stop(daemon)
