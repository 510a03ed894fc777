"""A real S3 endpoint served locally by moto, with credentials checked as S3 checks them."""

import contextlib
import json
import subprocess
import time
import urllib.request
from pathlib import Path

from helpers.processes import BIN, free_port, tool_env


class S3Endpoint:
    """A running moto server that checks credentials like S3: only the key it issued is accepted."""

    region = "us-east-1"

    def __init__(self, url: str, access_key_id: str, secret_access_key: str, home: Path):
        self.url, self.access_key_id, self.secret_access_key = url, access_key_id, secret_access_key
        self.home = home  # holds no AWS config: the developer's own profiles stay out of the tests

    def env(self, **overrides: str) -> dict[str, str]:
        """tool_env with this endpoint's credentials, as a CI secret or `export` would provide them."""
        env = tool_env(
            AWS_ACCESS_KEY_ID=self.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.secret_access_key,
            AWS_DEFAULT_REGION=self.region,
            AWS_CONFIG_FILE=str(self.home / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.home / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",  # no credentials found must fail at once, not probe for a VM
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.pop(name, None)
        env.update(overrides)
        return env

    @property
    def secrets(self) -> tuple[str, str]:
        return self.access_key_id, self.secret_access_key

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@contextlib.contextmanager
def serve_s3(home: Path):
    """`moto_server` on a free port, with one IAM user's key; requests signed otherwise are refused.
    Yields an S3Endpoint."""
    import boto3

    url = f"http://127.0.0.1:{free_port()}"
    with open(home / "moto_server.log", "w") as log:
        server = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", url.rsplit(":", 1)[1]], stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (home / "moto_server.log").read_text()
                assert time.monotonic() < deadline, "moto_server did not answer within 60 s"
                time.sleep(0.1)
        # Until authentication is switched on, moto accepts any request: issue the one valid key.
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup",
                           aws_secret_access_key="setup")  # fmt: skip
        iam.create_user(UserName="dvc")
        iam.put_user_policy(
            UserName="dvc",
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="dvc")["AccessKey"]
        switch_on = urllib.request.Request(
            f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(switch_on, timeout=10).close()
        yield S3Endpoint(url, key["AccessKeyId"], key["SecretAccessKey"], home)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
