"""Data and models versioned by DVC with the default local remote: the workflows a team relies on,
and the failures (a killed training, two `dvc repro` at once) that must lose nothing.

One default bake is reproduced, committed and pushed once per module; every test that changes
something works on a copy of that project (and of its remote directory, which sits beside it).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import BIN, commit, md5, run, scan_for_credentials, stages_run, tool_env, trained_default, wall_time

pytestmark = pytest.mark.slow

DVC = BIN / "dvc"
STAGES = ["validate", "prepare", "train", "evaluate"]
RAW = Path("data/raw/breast_cancer.csv")
MODEL = Path("models/model.joblib")
UP_TO_DATE = "Data and pipelines are up to date."
IN_SYNC = "Cache and remote 'storage' are in sync."
# Enough trees that fitting lasts several seconds even on a fast core: a kill, or a second
# `dvc repro`, lands while it runs.
SLOW_TREES = 3000


def fingerprint(project: Path) -> dict[str, str]:
    """md5 of the raw data, the prepared data and the model: what a version of this project is."""
    files = [RAW, MODEL, *sorted(p.relative_to(project) for p in (project / "data/prepared").glob("*.parquet"))]
    return {str(path): md5(project / path) for path in files}


def remote_of(project: Path) -> Path:
    return project.parent / f"{project.name}-dvc-storage"


def copy_with_remote(project: Path, parent: Path) -> Path:
    """A copy of the project and of its remote directory, side by side as the bake left them."""
    copy = shutil.copytree(project, parent / project.name, symlinks=True)
    if remote_of(project).exists():
        shutil.copytree(remote_of(project), remote_of(copy))
    return copy


def clone_beside(project: Path, name: str) -> Path:
    """`git clone` next to the project, so the relative remote path in .dvc/config finds the same remote."""
    clone = project.parent / name
    run("git", "clone", "--quiet", project, clone, cwd=project.parent)
    return clone


def lock_md5(project: Path, stage: str, path: Path) -> str:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    outs = lock["stages"][stage]["outs"]
    return next(out["md5"] for out in outs if out["path"] == str(path))


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """The default bake (local remote beside it) after `dvc repro`, a commit and `dvc push`."""
    project, _ = trained_default(tmp_path_factory)  # its remote: ../my-ml-project-dvc-storage, beside the copy
    with wall_time("dvc push to the local remote"):
        output = run(DVC, "push", cwd=project).stdout
    assert "files pushed" in output
    assert scan_for_credentials(project) == []
    return project


@pytest.fixture(scope="module")
def second_version(pushed, tmp_path_factory):
    """A copy where new data was added, reproduced, committed and pushed.

    A dict: the project, its fingerprints v1 (before) and v2 (after), and the output of `dvc repro`
    and `dvc push`.
    """
    project = copy_with_remote(pushed, tmp_path_factory.mktemp("second-version"))
    v1 = fingerprint(project)
    with wall_time("new data version: edit + dvc add + dvc repro + commit + dvc push"):
        lines = (project / RAW).read_text().splitlines(keepends=True)
        (project / RAW).write_text("".join(lines[:-80]))  # the same table with 80 fewer patients
        run(DVC, "add", RAW, cwd=project)
        repro = run(DVC, "repro", cwd=project).stdout
        commit(project, "Data version 2: 80 fewer rows", new_files=True)
        push = run(DVC, "push", cwd=project).stdout
    assert scan_for_credentials(project) == []
    return {"project": project, "v1": v1, "v2": fingerprint(project), "repro": repro, "push": push}


# --- the local remote itself ---------------------------------------------------------------------


def test_default_remote_is_a_directory_outside_the_project_that_holds_the_push(pushed):
    storage = remote_of(pushed)
    assert storage.is_dir() and not storage.resolve().is_relative_to(pushed.resolve())
    assert list((storage / "files" / "md5").rglob("*")), "the push left nothing in the remote directory"
    assert IN_SYNC in run(DVC, "status", "--cloud", cwd=pushed).stdout


# --- workflow: clone -> dvc pull -> dvc repro runs nothing ---------------------------------------


def test_fresh_clone_pulls_everything_and_repro_then_runs_nothing(pushed):
    clone = clone_beside(pushed, "teammate")
    assert not (clone / RAW).exists() and not (clone / MODEL).exists()
    with wall_time("clone + dvc pull (local remote)"):
        run(DVC, "pull", cwd=clone)
    assert fingerprint(clone) == fingerprint(pushed)
    with wall_time("dvc repro in the fresh clone (nothing to run)"):
        assert stages_run(run(DVC, "repro", cwd=clone).stdout) == []
    assert UP_TO_DATE in run(DVC, "status", cwd=clone).stdout
    assert run("git", "status", "--porcelain", cwd=clone).stdout == ""


def test_clone_elsewhere_fails_to_pull_until_local_config_points_at_the_remote(pushed, tmp_path):
    clone = tmp_path / "elsewhere" / pushed.name
    run("git", "clone", "--quiet", pushed, clone, cwd=tmp_path)
    failed = run(DVC, "pull", cwd=clone, check=False)
    assert failed.returncode != 0
    assert "do not exist neither locally nor on remote" in failed.stdout + failed.stderr
    page = (clone / "docs" / "data-and-remotes.md").read_text()
    assert "do not exist neither locally nor on remote" in page  # and the page says what to do
    run(DVC, "remote", "modify", "--local", "storage", "url", remote_of(pushed), cwd=clone)
    run(DVC, "pull", cwd=clone)
    assert fingerprint(clone) == fingerprint(pushed)
    # the override lives in .dvc/config.local, which git ignores: the tracked config is unchanged
    assert run("git", "status", "--porcelain", cwd=clone).stdout == ""


# --- workflow: new data -> dvc add -> dvc repro -> commit -> dvc push ----------------------------


def test_new_data_version_reruns_every_stage_and_push_sends_it(second_version):
    project, v1, v2 = second_version["project"], second_version["v1"], second_version["v2"]
    assert stages_run(second_version["repro"]) == STAGES
    assert v2[str(RAW)] != v1[str(RAW)] and v2[str(MODEL)] != v1[str(MODEL)]
    assert "files pushed" in second_version["push"]
    assert IN_SYNC in run(DVC, "status", "--cloud", cwd=project).stdout
    clone = clone_beside(project, "teammate")
    run(DVC, "pull", cwd=clone)
    assert fingerprint(clone) == v2
    assert stages_run(run(DVC, "repro", cwd=clone).stdout) == []


# --- workflow: git checkout <older commit> + dvc checkout ----------------------------------------


def test_checkout_of_the_older_commit_restores_its_data_and_model(second_version, tmp_path):
    project = shutil.copytree(second_version["project"], tmp_path / "history", symlinks=True)
    v1, v2 = second_version["v1"], second_version["v2"]
    with wall_time("git checkout HEAD~1 + dvc checkout"):
        run("git", "checkout", "--quiet", "HEAD~1", cwd=project)
        run(DVC, "checkout", cwd=project)
    assert fingerprint(project) == v1
    assert UP_TO_DATE in run(DVC, "status", cwd=project).stdout
    run("git", "checkout", "--quiet", "main", cwd=project)
    run(DVC, "checkout", cwd=project)
    assert fingerprint(project) == v2
    assert UP_TO_DATE in run(DVC, "status", cwd=project).stdout


# --- workflow: dvc exp run -S (twice), dvc exp show, dvc exp apply -------------------------------


def test_two_experiments_are_shown_and_one_is_applied(pushed, tmp_path):
    project = copy_with_remote(pushed, tmp_path)
    head = run("git", "rev-parse", "HEAD", cwd=project).stdout
    with wall_time("dvc exp run -S, twice"):
        for trees in (20, 50):
            result = run(DVC, "exp", "run", "-S", f"train.random_forest.n_estimators={trees}", cwd=project)
            assert stages_run(result.stdout) == ["train", "evaluate"]
    with wall_time("dvc exp show"):
        shown = json.loads(run(DVC, "exp", "show", "--json", cwd=project).stdout)
    baseline = next(row for row in shown if row["rev"] != "workspace")
    experiments = {}
    for experiment in baseline["experiments"] or []:
        data = experiment["revs"][0]["data"]
        trees = data["params"]["params.yaml"]["data"]["train"]["random_forest"]["n_estimators"]
        experiments[trees] = (experiment["name"], data["metrics"]["metrics/metrics.json"]["data"])
    assert sorted(experiments) == [20, 50], shown

    name, metrics = experiments[20]
    with wall_time("dvc exp apply"):
        run(DVC, "exp", "apply", name, cwd=project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["train"]["random_forest"]["n_estimators"] == 20
    assert json.loads((project / "metrics/metrics.json").read_text()) == pytest.approx(metrics)
    assert UP_TO_DATE in run(DVC, "status", cwd=project).stdout  # the model in place is that experiment's
    # experiments never moved the branch: applying one leaves a change to commit
    assert run("git", "rev-parse", "HEAD", cwd=project).stdout == head
    assert "params.yaml" in run("git", "status", "--porcelain", cwd=project).stdout
    assert scan_for_credentials(project) == []  # experiment refs included


# --- failures: SIGKILL during training; a second `dvc repro` while the first runs ----------------


def processes_in_group(group: int) -> list[str]:
    """Command lines of the live processes in a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == group:
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                pass
    return found


def start_repro(project: Path, log: Path) -> subprocess.Popen:
    """`dvc repro` in a process group of its own (so the group can be killed as a whole), output to `log`."""
    with log.open("w") as output:
        repro = subprocess.Popen(
            [str(DVC), "repro"], cwd=project, env=tool_env(), start_new_session=True, stdout=output, stderr=output
        )
    repro.log = log
    return repro


def wait_for_training(repro: subprocess.Popen, running_for: float, timeout: float = 300) -> None:
    """Return once the train stage's process has been running for `running_for` seconds."""
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if repro.poll() is not None:
            pytest.fail(
                f"dvc repro ended (exit {repro.returncode}) before training was caught:\n{repro.log.read_text()}"
            )
        if any(".stages.train " in command for command in processes_in_group(repro.pid)):
            seen = seen or time.monotonic()
            if time.monotonic() - seen >= running_for:
                return
        time.sleep(0.05)
    pytest.fail("the train stage did not start")


@pytest.fixture(scope="module")
def killed_then_contended(pushed, tmp_path_factory):
    """A training killed with SIGKILL; then the recovering `dvc repro`, and a second one during it.

    A hyper-parameter change makes train (and evaluate) run, slowly enough to be caught. Returns
    the project and what each step observed.
    """
    project = copy_with_remote(pushed, tmp_path_factory.mktemp("interrupted"))
    seen = {"committed_model": lock_md5(project, "train", MODEL)}
    params = project / "params.yaml"
    text = params.read_text()
    assert "n_estimators: 200" in text
    params.write_text(text.replace("n_estimators: 200", f"n_estimators: {SLOW_TREES}"))

    processes = []
    try:
        with wall_time("dvc repro until 2.5 s into training, then SIGKILL of its process group"):
            first = start_repro(project, project.parent / "killed-repro.log")
            processes.append(first)
            wait_for_training(first, running_for=2.5)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        seen["killed_returncode"] = first.returncode
        seen["status_after_kill"] = run(DVC, "status", cwd=project).stdout

        with wall_time("recovering dvc repro, with a second dvc repro started during its training"):
            recovering = start_repro(project, project.parent / "recovering-repro.log")
            processes.append(recovering)
            wait_for_training(recovering, running_for=0.2)
            seen["second"] = run(DVC, "repro", cwd=project, check=False)
            seen["recovering_running_after_second"] = recovering.poll() is None
            recovering.wait(timeout=900)
        seen["recovering_returncode"] = recovering.returncode
        seen["recovering_output"] = recovering.log.read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return project, seen


def test_sigkill_during_training_then_repro_recovers_outputs_matching_dvc_lock(killed_then_contended):
    project, seen = killed_then_contended
    assert seen["killed_returncode"] == -signal.SIGKILL
    # the kill left train unfinished: DVC sees it, rather than a half-written model passing for done
    assert "train:" in seen["status_after_kill"] and str(MODEL) in seen["status_after_kill"]

    assert seen["recovering_returncode"] == 0, seen["recovering_output"]
    assert stages_run(seen["recovering_output"]) == ["train", "evaluate"]
    assert UP_TO_DATE in run(DVC, "status", cwd=project).stdout
    assert md5(project / MODEL) == lock_md5(project, "train", MODEL)
    assert md5(project / "metrics/metrics.json") == lock_md5(project, "evaluate", Path("metrics/metrics.json"))
    # nothing lost: the committed model is still in the cache, so `git checkout . && dvc checkout` brings it back
    committed = seen["committed_model"]
    assert (project / ".dvc/cache/files/md5" / committed[:2] / committed[2:]).is_file()


def test_second_concurrent_repro_gets_dvc_lock_error_and_first_finishes(killed_then_contended):
    project, seen = killed_then_contended
    second = seen["second"]
    output = second.stdout + second.stderr
    assert second.returncode != 0, output
    lock_error = re.search(r"is busy, it is being blocked by|Unable to acquire lock", output)
    assert lock_error, output
    print(f"\n[second dvc repro] exit {second.returncode}: ...{lock_error.group(0)}...")
    assert stages_run(output) == []
    assert seen["recovering_running_after_second"], "the first repro had already ended: nothing was contended"
    assert seen["recovering_returncode"] == 0, seen["recovering_output"]
    assert UP_TO_DATE in run(DVC, "status", cwd=project).stdout


# --- the credential scan itself can fail ---------------------------------------------------------


def test_credential_scan_finds_keys_written_to_the_tracked_dvc_config(pushed, tmp_path):
    project = shutil.copytree(pushed, tmp_path / "leaky", symlinks=True)
    run(DVC, "remote", "add", "backup", "s3://team-backup/dvc", cwd=project)
    commit(project, "A second remote, on S3", new_files=True)
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzKEYzzzz"
    run(DVC, "remote", "modify", "--local", "backup", "secret_access_key", secret, cwd=project)
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""  # --local: untracked, as documented
    assert scan_for_credentials(project, (secret,)) == []

    run(DVC, "remote", "modify", "backup", "access_key_id", "AKIA" + "Z" * 16, cwd=project)
    run(DVC, "remote", "modify", "backup", "secret_access_key", secret, cwd=project)
    commit(project, "Oops", new_files=True)
    run(DVC, "remote", "modify", "--unset", "backup", "secret_access_key", cwd=project)
    run(DVC, "remote", "modify", "--unset", "backup", "access_key_id", cwd=project)
    commit(project, "Remove the keys again", new_files=True)  # still in history
    findings = scan_for_credentials(project, (secret,))
    assert findings and all(".dvc/config (in history" in finding for finding in findings), findings
    # Both settings of the one committed config, each line on its own: none hides another.
    kinds = sorted(finding.split(": ", 1)[1].split(" (")[0] for finding in findings)
    assert kinds == ["a credential setting", "a credential setting", "an AWS access key id", "holds the secret wJal..."]
