"""The credential scan the other tests rely on to prove no secret was committed: it must see every
finding, in the work tree and in history, or their `== []` proves nothing."""

from helpers import commit, run, scan_for_credentials

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
# Built at run time, so that no tracked file looks like it holds a credential (secret scanners read this one too).
OTHER_SECRET = "glpat-" + "not-a-real-token-0123"
FIRST_KEY, SECOND_KEY = "AKIA" + "A" * 16, "AKIA" + "B" * 16


def repository(path):
    path.mkdir()
    run("git", "init", "--quiet", "--initial-branch", "main", cwd=path)
    (path / "README.md").write_text("Nothing to see.\n")
    commit(path, "First", new_files=True)
    return path


def test_a_clean_repository_has_no_findings(tmp_path):
    assert scan_for_credentials(repository(tmp_path / "clean"), (SECRET, OTHER_SECRET)) == []


def test_two_secrets_of_each_kind_in_one_file_are_two_findings_each(tmp_path):
    project = repository(tmp_path / "leaky")
    (project / "settings.ini").write_text(
        "[first]\n"
        f"access_key_id = {FIRST_KEY}\n"
        f"token = {SECRET} {SECRET}\n"
        "[second]\n"
        f"access_key_id = {SECOND_KEY}\n"
        f"token = {OTHER_SECRET}\n"
    )
    commit(project, "Two keys", new_files=True)
    findings = [
        finding for finding in scan_for_credentials(project, (SECRET, OTHER_SECRET)) if "history" not in finding
    ]
    assert sorted(findings) == sorted(
        [
            "settings.ini, line 2: a credential setting (access_key_id =...)",
            f"settings.ini, line 2: an AWS access key id ({FIRST_KEY}...)",
            "settings.ini, line 3: holds the secret wJal...",
            "settings.ini, line 3: holds the secret wJal...",
            "settings.ini, line 5: a credential setting (access_key_id =...)",
            f"settings.ini, line 5: an AWS access key id ({SECOND_KEY}...)",
            "settings.ini, line 6: holds the secret glpa...",
        ]
    ), findings


def test_secrets_removed_later_are_still_found_in_history_with_the_machine_local_file(tmp_path):
    project = repository(tmp_path / "history")
    (project / ".env").write_text(f"PASSWORD={SECRET}\n")
    (project / "deploy.sh").write_text(f"curl https://ci:{OTHER_SECRET}@example.com/x\n")
    commit(project, "Oops", new_files=True)
    run("git", "rm", "--quiet", ".env", "deploy.sh", cwd=project)
    commit(project, "Remove them again")
    assert run("git", "ls-files", cwd=project).stdout.split() == ["README.md"]
    findings = scan_for_credentials(project, (SECRET, OTHER_SECRET))
    # A blob's hash is that of its content, so these names are the same on every run.
    assert sorted(findings) == [
        ".env (in history): a machine-local file is tracked",
        ".env (in history, blob 5617fb6a), line 1: a credential setting (PASSWORD=...)",
        ".env (in history, blob 5617fb6a), line 1: holds the secret wJal...",
        "deploy.sh (in history, blob 8d29c995), line 1: a user and password in a URL (https://ci:glpat-not-a-r...)",
        "deploy.sh (in history, blob 8d29c995), line 1: holds the secret glpa...",
    ], findings
