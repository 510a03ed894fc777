"""Find credentials that git tracks in a project, now or anywhere in its history."""

import re
import subprocess
from pathlib import Path

from helpers.processes import run

# What a credential looks like in a file; the values a test used are searched for verbatim as well.
CREDENTIAL_PATTERNS = {
    "an AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a credential setting": re.compile(
        r"^\s*(aws_)?(access_key_id|secret_access_key|session_token|password|key_secret|client_secret)\s*=",
        re.IGNORECASE | re.MULTILINE,
    ),
    "a user and password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@", re.IGNORECASE),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
MACHINE_LOCAL_FILES = {".dvc/config.local", ".env", ".aws/credentials", ".aws/config"}


def scan_for_credentials(project: Path, secrets: tuple[str, ...] = ()) -> list[str]:
    """Every place git tracks a credential: files in the work tree and every blob of every ref.

    Returns one line per finding, each occurrence on its own ("<where>, line <n>: <what>"); empty means
    clean. History counts because a secret committed once and removed later is still in every clone.
    """
    findings = []

    def check(where: str, text: str) -> None:
        for number, line in enumerate(text.splitlines(), start=1):
            findings.extend(
                f"{where}, line {number}: holds the secret {secret[:4]}..."
                for secret in filter(None, secrets)
                for _ in range(line.count(secret))
            )
            findings.extend(
                f"{where}, line {number}: {what} ({match.group(0).strip()[:24]}...)"
                for what, pattern in CREDENTIAL_PATTERNS.items()
                for match in pattern.finditer(line)
            )

    tracked = set(filter(None, run("git", "ls-files", "-z", cwd=project).stdout.split("\0")))
    # Every path any commit of any ref added, not only the one path `rev-list --objects` names per blob.
    added = run("git", "-c", "core.quotePath=false", "log", "--all", "--format=", "--name-only", "--diff-filter=A",
                cwd=project)  # fmt: skip
    ever = set(filter(None, added.stdout.splitlines()))
    for path in sorted(tracked | ever):
        if path in MACHINE_LOCAL_FILES or path.endswith("/config.local"):
            findings.append(f"{path}{'' if path in tracked else ' (in history)'}: a machine-local file is tracked")
    for path in sorted(tracked):
        file = project / path
        if file.is_file():
            check(path, file.read_text(errors="replace"))
    objects = run("git", "rev-list", "--all", "--objects", cwd=project).stdout.splitlines()
    blobs = {}
    for line in objects:
        sha, _, path = line.partition(" ")
        if path:
            blobs.setdefault(sha, path)
    if blobs:
        listing = subprocess.run(
            ["git", "cat-file", "--batch"],
            input="\n".join(blobs).encode(),
            cwd=project,
            capture_output=True,
            check=True,
        ).stdout
        position = 0
        while position < len(listing):
            header_end = listing.index(b"\n", position)
            sha, kind, size = listing[position:header_end].decode().split()
            body = listing[header_end + 1 : header_end + 1 + int(size)]
            position = header_end + 1 + int(size) + 1
            if kind == "blob":
                check(f"{blobs[sha]} (in history, blob {sha[:8]})", body.decode(errors="replace"))
    return findings
