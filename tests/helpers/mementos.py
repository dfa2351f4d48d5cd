"""Real local web archives for the copies tests: pywb's `wayback` serving collections built from
WARCs written here (Memento TimeGate and TimeMap on, unframed replay), and an archive that never
answers (a socket that accepts and stays silent)."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


@dataclass(frozen=True)
class Held:
    """One memento an archive holds: the original URL, when (14 digits), the status and the HTML."""

    url: str
    when: str
    status: int
    body: bytes


def write_warc(path: Path, held: list[Held]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for h in held:
            date = f"{h.when[:4]}-{h.when[4:6]}-{h.when[6:8]}T{h.when[8:10]}:{h.when[10:12]}:{h.when[12:14]}Z"
            reason = {200: "OK", 404: "Not Found"}.get(h.status, "Status")
            headers = StatusAndHeaders(f"{h.status} {reason}", [("Content-Type", "text/html; charset=utf-8"),
                                                                 ("Content-Length", str(len(h.body)))],
                                       protocol="HTTP/1.1")
            record = writer.create_warc_record(h.url, "response", payload=io.BytesIO(h.body),
                                               http_headers=headers, warc_headers_dict={"WARC-Date": date})
            writer.write_record(record)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pywb:
    """`wayback` on 127.0.0.1 with one collection `coll` holding `held`."""

    def __init__(self, root: Path, coll: str, held: list[Held]) -> None:
        self.root = root
        self.coll = coll
        self.port = free_port()
        write_warc(root / "collections" / coll / "archive" / "held.warc.gz", held)
        indexes = root / "collections" / coll / "indexes"
        indexes.mkdir(parents=True, exist_ok=True)
        bin_dir = Path(sys.executable).parent
        archive = root / "collections" / coll / "archive"
        cdx = subprocess.run([str(bin_dir / "cdxj-indexer"), "--sort", "--dir-root", str(archive),
                              str(archive / "held.warc.gz")], capture_output=True, check=True, text=True).stdout
        (indexes / "index.cdxj").write_text(cdx)
        (root / "config.yaml").write_text("framed_replay: false\nenable_memento: true\n")
        self.process = subprocess.Popen([str(bin_dir / "wayback"), "--bind", "127.0.0.1", "--port", str(self.port),
                                         "--directory", str(root)], cwd=root, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env={"PYWB_CONFIG_FILE": str(root / "config.yaml"),
                                                                        "PATH": "/usr/bin:/bin"})
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pywb did not start (exit {self.process.poll()})") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Silent:
    """Accepts connections and never answers: an archive that times out."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def stop(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()
