"""Real host names for tests: entries in /etc/hosts that map them to loopback.

Tests that need real names (TLS certificates, per-host politeness, platform rules keyed on the host)
call `loopback_names`. The entries are idempotent and harmless to leave behind (they name only the
reserved `.test` domain or hosts that must never be reached from a test anyway).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

HOSTS = Path("/etc/hosts")
_lock = threading.Lock()


def loopback_names(*names: str) -> None:
    """Make every name resolve to 127.0.0.1, adding /etc/hosts lines where needed (needs root)."""
    with _lock:
        present = set()
        for line in HOSTS.read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if fields and fields[0] == "127.0.0.1":
                present.update(fields[1:])
        missing = [n for n in names if n not in present]
        if missing:
            try:
                with HOSTS.open("a") as f:
                    for i in range(0, len(missing), 8):
                        f.write("127.0.0.1 " + " ".join(missing[i:i + 8]) + "  # archiver tests\n")
            except OSError as exc:
                raise RuntimeError(f"tests need root to add {len(missing)} names to {HOSTS}: {exc}") from exc
    for name in names:
        resolved = socket.gethostbyname(name)
        if resolved != "127.0.0.1":
            raise RuntimeError(f"{name} resolves to {resolved}, not loopback; check {HOSTS}")


def forget_loopback_names(*names: str) -> None:
    """Drop names that `loopback_names` added: real domains must not stay mapped to loopback."""
    drop = set(names)
    with _lock:
        kept = []
        for line in HOSTS.read_text().splitlines(keepends=True):
            if line.rstrip().endswith("# archiver tests"):
                fields = line.split("#", 1)[0].split()
                left = [f for f in fields[1:] if f not in drop]
                if not left:
                    continue
                line = f"{fields[0]} {' '.join(left)}  # archiver tests\n"
            kept.append(line)
        HOSTS.write_text("".join(kept))
