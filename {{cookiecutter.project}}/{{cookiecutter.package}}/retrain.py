"""Retrain when the data has drifted: what the scheduled retrain job of CI runs, on GitHub and GitLab alike.

Usage: python -m {{ cookiecutter.package }}.retrain [--force]      (make retrain, make retrain FORCE=true)

Run it from the project root, with the data in place (`dvc pull`). Each step is one of the project's own
commands, and the first that fails ends the run:
1. `dvc update` of the data brought in with `dvc import-url`: it gets its newest version. Data added with
   `dvc add` stays as committed (put your own refresh here if new data arrives otherwise);
2. the drift check (drift.py; with PREDICTION_LOG set, the inputs the served model saw): no drift ends the
   run here, successfully, unless --force;
3. `dvc repro`, which registers the new model as the `candidate` in the MLflow store;
4. the regression gate against the last commit (report.py HEAD): a drop fails the run (exit 1);
5. promote (registry.py): the new model becomes the champion only if it beats it; a refusal keeps the
   champion and is no failure. In CI a store that is a file (no tracking server in MLFLOW_TRACKING_URI)
   vanishes with the job, so nothing is promoted there, and this says so;
6. `dvc push`, then the files the run changed (dvc.lock, metrics, plots, the data's *.dvc pointers) are
   committed to a new branch retrain/<UTC date and time>, which is checked out and pushed to `origin`.
   Nothing is opened or merged: open its pull/merge request, where CI reports against the default branch.

The push authenticates with RETRAIN_PUSH_TOKEN when it is set (GitHub: the job's github.token; GitLab: a
project access token with the write_repository scope, as a masked CI/CD variable), else with git's own
credentials; in CI without the token nothing is pushed, and this says so.
Exit status: 0 done or nothing to do, 1 the gate failed, 2 a step failed. What happened is printed, and
added to $GITHUB_STEP_SUMMARY when set.
"""

import base64
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import yaml

from {{ cookiecutter.package }} import params, tracking

PACKAGE = "{{ cookiecutter.package }}"
BRANCH_PREFIX = "retrain/"
# Who commits when git has no identity (a CI job): GitHub's bot, else the user GitLab ran the job for.
GITHUB_BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")


def say(message: str, env: Mapping[str, str]) -> None:
    print(f"retrain: {message}", flush=True)
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(message + "\n\n")


def step(*command: str) -> int:
    """Run one command, its output straight into the log; its exit status."""
    print(f"retrain: $ {' '.join(command)}", flush=True)
    return subprocess.run(command, check=False).returncode


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


def push_url(url: str) -> str:
    """The remote's URL without a user or password in it (GitLab's checkout puts its job token there)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))


def identity(env: Mapping[str, str]) -> list[str]:
    """`git -c` options naming the committer when git has none configured."""
    if subprocess.run(["git", "config", "user.email"], capture_output=True, check=False).returncode == 0:
        return []
    name, email = GITHUB_BOT if env.get("GITHUB_ACTIONS") == "true" else (None, None)
    name = name or env.get("GITLAB_USER_NAME") or "retrain"
    email = email or env.get("GITLAB_USER_EMAIL") or "retrain@localhost"
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]


def review_link(branch: str, env: Mapping[str, str]) -> str:
    """Where to open the branch's pull/merge request; empty outside CI."""
    if env.get("GITHUB_REPOSITORY"):
        server, base = env.get("GITHUB_SERVER_URL", "https://github.com"), env.get("GITHUB_REF_NAME", "main")
        return f": [open its pull request]({server}/{env['GITHUB_REPOSITORY']}/compare/{base}...{branch}?expand=1)"
    if env.get("CI_PROJECT_URL"):
        query = urllib.parse.urlencode({"merge_request[source_branch]": branch})
        return f": [open its merge request]({env['CI_PROJECT_URL']}/-/merge_requests/new?{query})"
    return ""


def imported(pointer: str) -> bool:
    """Whether a *.dvc file comes from `dvc import-url` (it names its source under deps; `dvc add`'s do not)."""
    return bool((yaml.safe_load(Path(pointer).read_text(encoding="utf-8")) or {}).get("deps"))


def commit_and_push(env: Mapping[str, str]) -> int:
    """Commit what the run changed in tracked files to a new branch and push it to origin."""
    git("add", "--update")  # tracked files only: caches and logs in the work tree stay out
    if subprocess.run(["git", "diff", "--cached", "--quiet"], check=False).returncode == 0:
        say("Retrained: no file git tracks changed, so there is no branch to push.", env)
        return 0
    token = env.get("RETRAIN_PUSH_TOKEN")
    if not token and env.get("CI") == "true":
        missing = "GitLab: add a project access token with the write_repository scope of that name"
        say(f"**Not pushed:** no RETRAIN_PUSH_TOKEN ({missing}); this job's dvc.lock is in its artifacts.", env)
        return 0
    branch = BRANCH_PREFIX + datetime.now(UTC).strftime("%Y-%m-%d-%H%M")
    message = f"Retrain: data drifted, dvc repro ({branch})"
    # On a branch of its own, also on a laptop: the branch checked out before stays as it was.
    if step("git", "switch", "--quiet", "--create", branch):
        return 2
    if step("git", *identity(env), "commit", "--quiet", "--message", message):
        return 2
    url, auth = push_url(git("remote", "get-url", "origin")), []
    if token:
        user = "oauth2" if env.get("GITLAB_CI") == "true" else "x-access-token"
        basic = base64.b64encode(f"{user}:{token}".encode()).decode()
        auth = ["-c", f"http.extraheader=AUTHORIZATION: basic {basic}"]
    # Not step(): its echo of the command would print the token.
    print(f"retrain: $ git push {url} HEAD:refs/heads/{branch}", flush=True)
    pushed = subprocess.run(
        ["git", *auth, "push", "--quiet", url, f"HEAD:refs/heads/{branch}"],
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # fail, not wait, when git has no credentials
        check=False,
    )
    if pushed.returncode:
        say(f"could not push `{branch}` to {url} (is RETRAIN_PUSH_TOKEN set, and may it push?).", env)
        return 2
    say(f"Pushed `{branch}`{review_link(branch, env)}.", env)
    return 0


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    if not set(args) <= {"--force"}:
        print(__doc__, file=sys.stderr)
        return 2
    imports = [pointer for pointer in git("ls-files", "*.dvc").split() if imported(pointer)]
    if imports and step("dvc", "update", *imports):
        return 2
    drift = step(sys.executable, "-m", f"{PACKAGE}.drift")
    if drift > 1:
        return 2
    if drift == 0 and "--force" not in args:
        report = params.load().paths.drift_report
        say(f"**No drift:** the data matches the data the model was trained on ({report}).", env)
        return 0
    if step("dvc", "repro"):
        return 2
    gate = step(sys.executable, "-m", f"{PACKAGE}.report", "HEAD")
    if gate:
        return gate
    uri = tracking.tracking_uri()
    if env.get("CI") == "true" and not uri.startswith(("http://", "https://")):
        server = "set the secret or CI/CD variable MLFLOW_TRACKING_URI to the team's tracking server"
        say(f"**Not promoted:** the MLflow store is {uri}, a file that vanishes with this job: {server}.", env)
    else:
        promoted = step(sys.executable, "-m", f"{PACKAGE}.registry", "promote")
        if promoted == 1:
            say("**The champion stays:** promote refused the new model (the log says why).", env)
        elif promoted:
            return 2
    if step("dvc", "push"):
        return 2
    return commit_and_push(env)


if __name__ == "__main__":
    sys.exit(main())
