"""A local stand-in for the comment APIs that comment.py posts to, for tests: GitHub's issue comments and
GitLab's merge request notes, served by http.server in a thread. Nothing here talks to the internet.

It speaks what comment.py uses, the way the real APIs do:
- GitHub: GET/POST /repos/OWNER/REPO/issues/N/comments, PATCH /repos/OWNER/REPO/issues/comments/ID,
  token in `Authorization: Bearer`, pages linked by the `Link` header;
- GitLab: GET/POST /api/v4/projects/ID/merge_requests/IID/notes, PUT .../notes/ID, token in `PRIVATE-TOKEN`,
  pages announced by `X-Next-Page` (real GitLab also sends `Link`; leaving it out tests the other path).
Pages hold `per_page` comments at most, whatever the client asks for, so a few comments already span pages.
Set `fail_with = 500` (or 401) to make every request fail that way.

    with CommentAPI(token="t0k3n") as api:
        env = {"GITHUB_API_URL": api.url, ...}          # or CI_API_V4_URL = api.url + "/api/v4"
        ...
        api.thread("github", "acme/churn", 7)            # the comments of pull request #7
"""

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

ROUTES = [
    # (platform, method, path pattern, action)
    ("github", "GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments", "list"),
    ("github", "POST", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments", "create"),
    ("github", "PATCH", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)", "update"),
    ("gitlab", "GET", r"/api/v4/projects/(?P<repo>[^/]+)/merge_requests/(?P<number>\d+)/notes", "list"),
    ("gitlab", "POST", r"/api/v4/projects/(?P<repo>[^/]+)/merge_requests/(?P<number>\d+)/notes", "create"),
    ("gitlab", "PUT", r"/api/v4/projects/(?P<repo>[^/]+)/merge_requests/(?P<number>\d+)/notes/(?P<id>\d+)", "update"),
]


def route(method: str, path: str) -> tuple[str, str, re.Match] | None:
    """(platform, action, path match) of the route this request takes; None when there is none."""
    for platform, route_method, pattern, action in ROUTES:
        match = re.fullmatch(pattern, path)
        if match and method == route_method:
            return platform, action, match
    return None


class CommentAPI:
    def __init__(self, token: str = "test-token", per_page: int = 2):
        self.token, self.per_page = token, per_page
        self.fail_with: int | None = None
        self.threads: dict[tuple, list[dict]] = {}  # (platform, repo, number) -> comments, oldest first
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self._next_id = 100
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        # shutdown() waits for the serving loop to next check it: a short poll keeps each test's exit quick.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def thread(self, platform: str, repo: str, number: int) -> list[dict]:
        return self.threads.setdefault((platform, str(repo), int(number)), [])

    def add(self, platform: str, repo: str, number: int, body: str, author: str = "reviewer") -> dict:
        """A comment as someone else wrote it (GitLab: including its own system notes)."""
        with self._lock:
            self._next_id += 1
            comment = {"id": self._next_id, "body": body, "user": {"login": author}, "author": {"username": author}}
            if platform == "gitlab":
                comment["system"] = author == "system"
            self.thread(platform, repo, number).append(comment)
            return comment

    def find(self, platform: str, repo: str, comment_id: int) -> dict | None:
        for (where, in_repo, _), comments in self.threads.items():
            for comment in comments:
                if (where, in_repo, comment["id"]) == (platform, repo, comment_id):
                    return comment
        return None

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                self.handle_any("GET")

            def do_POST(self):
                self.handle_any("POST")

            def do_PATCH(self):
                self.handle_any("PATCH")

            def do_PUT(self):
                self.handle_any("PUT")

            def reply(self, status: int, payload, headers: dict | None = None) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def handle_any(self, method: str) -> None:
                parts = urllib.parse.urlsplit(self.path)
                api.requests.append((method, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if api.fail_with:
                    return self.reply(api.fail_with, {"message": f"{api.fail_with} (CommentAPI.fail_with)"})
                found = route(method, parts.path)
                if found is None:
                    return self.reply(404, {"message": f"no route for {method} {parts.path}"})
                platform, action, match = found
                if platform == "github":
                    authorized = self.headers.get("Authorization") == f"Bearer {api.token}"
                else:
                    authorized = self.headers.get("PRIVATE-TOKEN") == api.token
                if not authorized:  # the messages the real APIs give
                    message = "Bad credentials" if platform == "github" else "401 Unauthorized"
                    return self.reply(401, {"message": message})
                repo = urllib.parse.unquote(match["repo"])
                if action == "list":
                    return self.list(platform, repo, int(match["number"]), parts)
                try:
                    body = json.loads(raw)["body"]
                except (ValueError, KeyError, TypeError) as error:
                    return self.reply(400, {"message": f"a JSON object with 'body' is required ({error!r})"})
                if action == "create":
                    return self.reply(201, api.add(platform, repo, int(match["number"]), body, author="report-bot"))
                comment = api.find(platform, repo, int(match["id"]))
                if comment is None:
                    return self.reply(404, {"message": "404 Not Found"})
                comment["body"] = body
                return self.reply(200, comment)

            def list(self, platform: str, repo: str, number: int, parts) -> None:
                query = dict(urllib.parse.parse_qsl(parts.query))
                page, per_page = int(query.get("page", 1)), min(int(query.get("per_page", 30)), api.per_page)
                comments = api.thread(platform, repo, number)
                pages = max(1, -(-len(comments) // per_page))
                chunk = comments[(page - 1) * per_page : page * per_page]
                headers = {}
                if page < pages:
                    next_query = urllib.parse.urlencode({**query, "page": page + 1})
                    if platform == "github":
                        headers["Link"] = f'<{api.url}{parts.path}?{next_query}>; rel="next"'
                    else:
                        headers["X-Next-Page"] = str(page + 1)
                elif platform == "gitlab":
                    headers["X-Next-Page"] = ""
                if platform == "gitlab":
                    headers.update({"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total-Pages": str(pages)})
                self.reply(200, chunk, headers)

        return Handler
