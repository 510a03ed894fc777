"""Post the report as one comment on the pull/merge request, which later runs update in place.

- GitHub Actions, pull request event, GITHUB_TOKEN set: an issue comment via $GITHUB_API_URL;
- GitLab CI, merge request pipeline, GITLAB_REPORT_TOKEN set (a project access token with the api
  scope): a merge request note via $CI_API_V4_URL.
Otherwise `publish` posts nothing and its one line says why. The comment is found again by MARKER, among
every page of the thread. A failed post is a line of text, never an exception, so it cannot change the
gate's verdict. Standard library only, like report.py.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

MARKER = "<!-- dvc-report -->"  # hidden in the rendered comment; how a later run finds it
COMMENT_LIMIT = 65_000  # GitHub refuses comments over 65,536 characters; GitLab allows more
MAX_PAGES = 50  # of 100 comments each, when looking for our earlier comment


class ApiError(Exception):
    """The comment API refused or failed; the report is still in the log and summary."""


def blocks(markdown: str) -> list[str]:
    """The markdown's lines, except that a fenced block (a Mermaid chart) is one item: it is kept or cut whole."""
    items, fence = [], None
    for line in markdown.splitlines():
        if fence is not None:
            fence.append(line)
            if line.strip() == "```":
                items.append("\n".join(fence))
                fence = None
        elif line.startswith("```"):
            fence = [line]
        else:
            items.append(line)
    return items + (["\n".join(fence)] if fence else [])


def truncate(markdown: str, report_file: Path, limit: int = COMMENT_LIMIT) -> str:
    """The markdown cut to `limit` characters at a line break, saying so and where the whole of it is
    (report_file, paths.report); the report's gate comes first, so it stays. A chart is never cut in half:
    it stays whole or is left out, and the note counts it."""
    if len(markdown) <= limit:
        return markdown
    note = "\n\n_Cut to fit a comment: {lines} more lines are in the job log and {where}{charts}._\n"
    where = report_file.as_posix()
    items, kept, size = blocks(markdown), [], len(note) + len(where) + 60
    for item in items:
        if size + len(item) + 1 > limit:
            break
        kept.append(item)
        size += len(item) + 1
    rest = items[len(kept) :]
    left_out = sum(item.startswith("```mermaid") for item in rest)
    charts_note = f", among them {left_out} chart{'s' if left_out != 1 else ''}, left out whole" if left_out else ""
    return "\n".join(kept) + note.format(
        lines=sum(item.count("\n") + 1 for item in rest), where=where, charts=charts_note
    )


def call(method: str, url: str, headers: dict, body: dict | None = None) -> tuple[object, Mapping[str, str]]:
    """One API request; (decoded JSON, response headers). Raises ApiError without the token in it."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={**headers, "User-Agent": "dvc-report"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise ApiError(f"{method} {url} answered {error.code} {error.reason}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ApiError(f"{method} {url} failed: {error}") from None


def next_page(url: str, headers: Mapping[str, str]) -> str | None:
    """The next page's URL: the Link header (GitHub, GitLab), else GitLab's X-Next-Page. Same host only."""
    for part in (headers.get("Link") or "").split(","):
        if 'rel="next"' in part:
            link = part.split(";")[0].strip(" <>")
            same_host = urllib.parse.urlsplit(link).netloc == urllib.parse.urlsplit(url).netloc
            return link if same_host else None
    if page := (headers.get("X-Next-Page") or "").strip():
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query), page=page)
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return None


def upsert(list_url: str, item_url: str, method: str, headers: dict, markdown: str) -> str:
    """Update our earlier comment (found by MARKER) in place, else create one; say which."""
    url, own = f"{list_url}?per_page=100", None
    for _ in range(MAX_PAGES):
        comments, response_headers = call("GET", url, headers)
        if not isinstance(comments, list):
            raise ApiError(f"GET {url} answered with something other than a list of comments")
        own = next((c for c in comments if MARKER in (c.get("body") or "") and not c.get("system")), None)
        url = None if own else next_page(url, response_headers)
        if not url:
            break
    if own:
        call(method, item_url.format(id=own["id"]), headers, {"body": markdown})
        return f"updated comment {own['id']} in place"
    created, _ = call("POST", list_url, headers, {"body": markdown})
    return f"created comment {created.get('id') if isinstance(created, dict) else '?'}"


def read_event(path: str) -> dict:
    """The webhook payload GitHub Actions saves for the run; empty when there is none."""
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8")) if path and Path(path).is_file() else {}
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def post_github(markdown: str, env: Mapping[str, str]) -> str:
    pull = read_event(env.get("GITHUB_EVENT_PATH", "")).get("pull_request") or {}
    if not pull.get("number"):
        return "report: not a pull request event, so no comment: the report is in the job summary"
    number, repository = pull["number"], env.get("GITHUB_REPOSITORY", "")
    head = pull.get("head") or {}
    if "repo" in head and (head["repo"] or {}).get("full_name") != repository:
        return (
            f"report: pull request #{number} comes from a fork, and GitHub gives forks no token that may "
            "comment: the report is in the job summary only"
        )
    token = env.get("GITHUB_TOKEN")
    if not token:
        return (
            f"report: no GITHUB_TOKEN in the environment, so no comment on pull request #{number}: the report "
            "is in the job summary (give the step GITHUB_TOKEN from github.token and the job pull-requests: write)"
        )
    api = f"{env.get('GITHUB_API_URL', 'https://api.github.com').rstrip('/')}/repos/{repository}/issues"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    try:
        done = upsert(f"{api}/{number}/comments", api + "/comments/{id}", "PATCH", headers, markdown)
    except ApiError as error:
        return f"report: could not comment on pull request #{number}: {str(error).replace(token, '***')}"
    return f"report: {done} on pull request #{number}"


def post_gitlab(markdown: str, env: Mapping[str, str]) -> str:
    iid = env.get("CI_MERGE_REQUEST_IID")
    if not iid:
        return "report: not a merge request pipeline, so no note: the report is in this job's log"
    project = env.get("CI_MERGE_REQUEST_PROJECT_ID") or env.get("CI_PROJECT_ID", "")
    if env.get("CI_PROJECT_ID", project) != project:
        return (
            f"report: merge request !{iid} comes from a fork and this pipeline runs in the fork, which has no "
            "token for the target project: the report is in this job's log only"
        )
    token = env.get("GITLAB_REPORT_TOKEN")
    if not token:
        return (
            f"report: no GITLAB_REPORT_TOKEN, so no note on merge request !{iid}: the report is in this job's "
            "log (add a project access token with the api scope as a masked CI/CD variable of that name)"
        )
    api = f"{env.get('CI_API_V4_URL', 'https://gitlab.com/api/v4').rstrip('/')}"
    notes = f"{api}/projects/{project}/merge_requests/{iid}/notes"
    try:
        done = upsert(notes, notes + "/{id}", "PUT", {"PRIVATE-TOKEN": token}, markdown)
    except ApiError as error:
        return f"report: could not add a note to merge request !{iid}: {str(error).replace(token, '***')}"
    return f"report: {done} on merge request !{iid}"


def publish(markdown: str, env: Mapping[str, str]) -> str:
    """Post the comment where this CI run can; return the one line that says where the report went."""
    if env.get("GITHUB_ACTIONS") == "true":
        return post_github(markdown, env)
    if env.get("GITLAB_CI") == "true":
        return post_gitlab(markdown, env)
    return "report: not in GitHub Actions or GitLab CI, so nothing posted"
