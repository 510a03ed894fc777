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

    Returns one line per finding ("<where>: <what>"); empty means clean. History counts because a
    secret committed once and removed later is still in every clone.
    """
    findings = []

    def check(where: str, path: str, text: str) -> None:
        if path in MACHINE_LOCAL_FILES or path.endswith("/config.local"):
            findings.append(f"{where}: a machine-local file is tracked")
        for secret in filter(None, secrets):
            if secret in text:
                findings.append(f"{where}: holds the secret {secret[:4]}...")
        for what, pattern in CREDENTIAL_PATTERNS.items():
            if match := pattern.search(text):
                findings.append(f"{where}: {what} ({match.group(0).strip()[:24]}...)")

    tracked = run("git", "ls-files", "-z", cwd=project).stdout.split("\0")
    for path in filter(None, tracked):
        file = project / path
        if file.is_file():
            check(path, path, file.read_text(errors="replace"))
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
                check(f"{blobs[sha]} (in history, blob {sha[:8]})", blobs[sha], body.decode(errors="replace"))
    return findings
