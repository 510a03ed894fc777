"""engine=spark on a real cluster: the baked pipeline runs on a standalone master and worker (from the pyspark
wheel, on 127.0.0.1) when SPARK_MASTER names it, and computes what local mode computes.

The shared Spark bake, two runs (module fixture): `dvc repro` in local mode (helpers.trained_spark), then
`dvc repro --force` with SPARK_MASTER=spark://127.0.0.1:<port>. The evidence that the stages ran on the
worker comes from the cluster itself: the master's /json/ lists each stage's application as finished, the worker's /json/ its
executors, and each executor's log in the worker's work dir the tasks it ran."""

import importlib.util
import json
import re

import pytest
import yaml
from helpers import run, spark_cluster, stages_run, tool_env, trained_spark, wall_time

pytestmark = pytest.mark.slow

STAGES = ["validate", "prepare", "train", "evaluate"]


def untracked(project) -> list[str]:
    status = run("git", "status", "--porcelain", "--untracked-files=all", cwd=project).stdout
    return sorted(line[3:] for line in status.splitlines() if line.startswith("??"))


def outs_md5(project) -> dict[str, str]:
    """Every stage output's md5 in dvc.lock (a directory's is the md5 of its listing)."""
    stages = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return {out["path"]: out["md5"] for stage in stages.values() for out in stage.get("outs", [])}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The bake, and what its local-mode run and its cluster run left: metrics, dvc.lock md5s, output,
    and the cluster's state after the run (master and worker JSON, executor logs)."""
    assert importlib.util.find_spec("pyspark"), "pyspark is not in the test venv: `make test` installs it"
    # The local-mode run is the other Spark tests' too: helpers.trained_spark runs it once per `make test`.
    project, local_output = trained_spark(tmp_path_factory)
    env = tool_env()
    env.pop("SPARK_MASTER", None)
    result = {
        "project": project,
        "local": {"output": local_output, "metrics": (project / "metrics" / "metrics.json").read_text(),
                  "md5": outs_md5(project), "untracked": untracked(project)},
    }  # fmt: skip
    with spark_cluster(tmp_path_factory.mktemp("spark-cluster")) as cluster:
        with wall_time("engine=spark: dvc repro --force on the standalone cluster"):
            # Loopback for the driver too, as the docs' single-machine recipe (with a cluster master the session
            # leaves SPARK_LOCAL_IP to the environment: the executors must reach the driver).
            cluster_env = {**env, "SPARK_MASTER": cluster.url, "SPARK_LOCAL_IP": "127.0.0.1"}
            remote = run("dvc", "repro", "--force", cwd=project, env=cluster_env)
        executor_logs = {
            app.name: {executor.name: (executor / "stderr").read_text() for executor in app.iterdir()}
            for app in cluster.work_dir.iterdir()
        }
        result["cluster"] = {
            "url": cluster.url,
            "output": remote.stdout,
            "metrics": (project / "metrics" / "metrics.json").read_text(),
            "md5": outs_md5(project),
            "untracked": untracked(project),
            "master": cluster.master_state(),
            "worker": cluster.worker_state(),
            "executor_logs": executor_logs,
        }
    for app in result["cluster"]["master"]["completedapps"]:  # the evidence, for `pytest -s` and closing notes
        tasks = sum(text.count("Executor: Finished task") for text in executor_logs.get(app["id"], {}).values())
        print(f"[cluster] {app['id']} {app['name']}: {app['state']}, {app['cores']} cores, {tasks} tasks on the worker")
    return result


def test_every_stage_ran_in_both_modes(runs):
    assert stages_run(runs["local"]["output"]) == STAGES, runs["local"]["output"]
    assert stages_run(runs["cluster"]["output"]) == STAGES, runs["cluster"]["output"]


def test_the_master_ran_one_application_per_stage_to_the_end(runs):
    master = runs["cluster"]["master"]
    project = runs["project"].name
    summary = json.dumps({key: master[key] for key in ("workers", "activeapps", "completedapps")}, indent=1)
    assert master["aliveworkers"] == 1 and master["workers"][0]["host"] == "127.0.0.1", summary
    assert master["activeapps"] == [], summary
    apps = master["completedapps"]
    assert sorted(app["name"] for app in apps) == sorted(f"{project}-{stage}" for stage in STAGES), summary
    for app in apps:
        assert app["state"] == "FINISHED" and app["cores"] > 0, summary


def test_the_worker_ran_the_executors_and_they_ran_the_tasks(runs):
    """Each application had an executor on the worker, and that executor's own log shows tasks finished."""
    apps = {app["id"]: app["name"] for app in runs["cluster"]["master"]["completedapps"]}
    finished = runs["cluster"]["worker"]["finishedexecutors"]
    assert {executor["appid"] for executor in finished} == set(apps), runs["cluster"]["worker"]
    logs = runs["cluster"]["executor_logs"]
    assert set(logs) == set(apps), f"executor dirs {sorted(logs)} vs apps {apps}"
    for app_id, executors in logs.items():
        tasks = sum(len(re.findall(r"Executor: Finished task", text)) for text in executors.values())
        assert tasks > 0, f"{apps[app_id]}: no finished task in its executor logs\n{executors}"


def test_the_cluster_computes_what_local_mode_computes(runs):
    """Same metrics (to the last digit) and the same prepared data bytes: where the job runs changes nothing
    it computes (the deterministic Parquet writer sorts rows by a hash of their values, whatever the partitions)."""
    assert runs["cluster"]["metrics"] == runs["local"]["metrics"]
    local, cluster = runs["local"]["md5"], runs["cluster"]["md5"]
    data = [path for path in local if path.startswith("data/")]
    assert data, local
    assert {path: cluster[path] for path in data} == {path: local[path] for path in data}


def test_the_cluster_run_leaves_nothing_new_in_the_workspace(runs):
    """No executor work dir, warehouse or Derby files in the project: the same untracked files as after the
    local run (the pipeline's own outputs, not committed in this test)."""
    assert runs["cluster"]["untracked"] == runs["local"]["untracked"]
