"""Bring the data to a CI job: what the pipeline and retrain jobs run first, on GitHub and GitLab alike.

Usage: python -m {{ cookiecutter.package }}.ci_data check|pull|push [--require-credentials]

The DVC remote's credentials are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (repository secrets on
GitHub, CI/CD variables on GitLab). Runs without them are normal: a pull request from a fork gets none,
nor does an unprotected branch when the GitLab variables are protected. Such a run reads what CI's DVC
cache holds (.dvc/cache, which both configs keep between runs: a run with the credentials fills it), and
stops, green, when that is not the data.

  check  Can this job get the data? It needs only Python's standard library, so a job runs it before it
         installs anything: no credentials and an empty CI cache give exit 3 at once.
  pull   The data and the outputs of earlier runs: `dvc pull --allow-missing` with the credentials, else
         `dvc checkout --allow-missing` from CI's cache (what is missing, `dvc repro` rebuilds). Then the
         data of every *.dvc file must be in the workspace: the pipeline starts from it.
  push   `dvc push` with the credentials; without them (the data came from CI's cache) it says that
         nothing was uploaded.
  --require-credentials  CI's cache does not count: the job pushes what it makes (retrain), and a push
         needs the credentials.

Exit status: 0 the data is here (push: uploaded, or nothing to upload it with); 1 an error to fix: the
credentials are given but the data is not in the remote (run `dvc push` where it was added), or DVC
failed (its error is above); 2 usage; 3 no data, and nothing the author of the change can fix from the
job: the configs end the job there, green. The reason is printed, and added to $GITHUB_STEP_SUMMARY when set.
(CI calls this module, not a make target: make reports every failed recipe as exit 2.)
"""

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
CACHE = Path(".dvc/cache")  # the folder both CI configs cache between runs
NO_DATA = 3
FROM = {"remote": "the DVC remote", "cache": "CI's DVC cache"}
# Where a project gives CI the credentials, by the platform that sets the variable to "true".
WHERE = {
    "GITHUB_ACTIONS": "add the repository secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Settings > Secrets "
    "and variables > Actions). Pull requests from forks never get secrets",
    "GITLAB_CI": "add the CI/CD variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Settings > CI/CD > "
    "Variables, masked). Protected variables reach only protected branches, and merge requests from forks get none",
}


class NoDataError(Exception):
    """No data, and nothing the author of the change can fix from the job: exit 3."""


class RemoteError(Exception):
    """The DVC remote lacks the data or refused DVC: the project must fix it, exit 1."""


def say(message: str, env: Mapping[str, str], error: bool = False) -> None:
    print(f"ci_data: {message}", file=sys.stderr if error else sys.stdout, flush=True)
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(message + "\n\n")


def dvc(*args: str, quiet: bool = False) -> int:
    """Run one DVC command, its output in the job's log (or kept out of it: quiet); its exit status."""
    if not quiet:
        print(f"ci_data: $ dvc {' '.join(args)}", flush=True)
    return subprocess.run(["dvc", *args], capture_output=quiet, check=False).returncode


def has_credentials(env: Mapping[str, str]) -> bool:
    return all(env.get(name) for name in CREDENTIALS)


def no_credentials(why: str, env: Mapping[str, str]) -> NoDataError:
    where = next((text for name, text in WHERE.items() if env.get(name) == "true"), None)
    where = where or "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the job's environment"
    return NoDataError(f"**Pipeline not run:** no credentials for the DVC remote, and {why}. To run it, {where}.")


def source(env: Mapping[str, str], require_credentials: bool) -> str:
    """Where the data comes from: 'remote' or 'cache'; NoDataError when the job can get none."""
    if has_credentials(env):
        return "remote"
    if require_credentials:
        raise no_credentials("this job uploads what it makes (dvc push), which CI's DVC cache cannot stand in for", env)
    if not any(path.is_file() for path in CACHE.rglob("*")):
        raise no_credentials("CI's DVC cache is empty (a run with the credentials fills it)", env)
    return "cache"


def check(env: Mapping[str, str], require_credentials: bool) -> None:
    print(f"ci_data: the data can come from {FROM[source(env, require_credentials)]}")


def pointers() -> list[str]:
    """The *.dvc files git tracks: the data the pipeline starts from."""
    listed = subprocess.run(["git", "ls-files", "-z", "--", "*.dvc"], capture_output=True, text=True, check=True)
    return [name for name in listed.stdout.split("\0") if name]


def pull(env: Mapping[str, str], require_credentials: bool) -> None:
    where = source(env, require_credentials)
    if where == "remote" and dvc("pull", "--allow-missing"):
        raise RemoteError("`dvc pull` failed (its error is above): check the credentials and the remote's URL")
    if where == "cache":
        dvc("checkout", "--allow-missing")  # what the cache lacks is checked below, or rebuilt by `dvc repro`
    missing = [pointer for pointer in pointers() if dvc("checkout", "--quiet", pointer, quiet=True)]
    if missing and where == "remote":
        names = ", ".join(missing)
        raise RemoteError(f"the data of {names} is not in the DVC remote: run `dvc push` where it was added")
    if missing:
        raise no_credentials(f"CI's DVC cache does not hold the data of {', '.join(missing)}", env)
    print(f"ci_data: the data is here, from {FROM[where]}")


def push(env: Mapping[str, str], require_credentials: bool) -> None:
    if not has_credentials(env):
        say("**Not uploaded:** no credentials for the DVC remote (this run's data came from CI's DVC cache).", env)
    elif dvc("push"):
        raise RemoteError("`dvc push` failed (its error is above): the credentials must be allowed to write the remote")


COMMANDS = {"check": check, "pull": pull, "push": push}


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    if not args or args[0] not in COMMANDS or not set(args[1:]) <= {"--require-credentials"}:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        COMMANDS[args[0]](env, "--require-credentials" in args)
    except NoDataError as error:
        say(str(error), env)
        return NO_DATA
    except RemoteError as error:
        say(str(error), env, error=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
