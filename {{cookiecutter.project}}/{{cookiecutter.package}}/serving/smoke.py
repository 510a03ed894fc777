"""Smoke test of the serving image, run inside its container by `make docker-smoke` (CI runs it after
`make docker-build`): wait for /health, then predict one record with every feature null (gaps are imputed,
so it is a valid request for any model). Standard library only: the image holds no test tools.

Usage: python -m {{ cookiecutter.package }}.serving.smoke [BASE_URL]      (default http://127.0.0.1:8000)
Exit status: 0 both answered, 1 otherwise (the reason is printed).
"""

import json
import sys
import time
import urllib.request

WAIT_S = 60  # for the app to load its model and answer /health


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    url = (args[0] if args else "http://127.0.0.1:8000").rstrip("/")
    for _ in range(WAIT_S):
        try:
            print("/health:", urllib.request.urlopen(f"{url}/health", timeout=5).read().decode())
            break
        except OSError:  # not listening yet, or 503 until the model is loaded
            time.sleep(1)
    else:
        print(f"smoke: {url}/health did not answer 200 within {WAIT_S} s")
        return 1
    try:
        features = json.load(urllib.request.urlopen(f"{url}/metadata", timeout=5))["features"]
        body = json.dumps({"records": [dict.fromkeys(features)]}).encode()
        request = urllib.request.Request(f"{url}/predict", body, {"Content-Type": "application/json"})
        print("/predict:", urllib.request.urlopen(request, timeout=30).read().decode())
    except (OSError, ValueError, KeyError) as error:
        print(f"smoke: /metadata or /predict failed: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
