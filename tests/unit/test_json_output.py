"""--json output written in pieces (a run of a million URLs is never one string) is exactly what
json.dumps(..., indent=2) writes for the whole."""

from __future__ import annotations

import json
from typing import Any

import pytest

from archiver.jobs import Job
from archiver.outcomes import Outcome, RunLog, Summary, json_array_chunks

ITEMS: list[list[Any]] = [
    [],
    [{"url": "https://example.org/", "verdict": {"status": "alive", "times": []}}],
    [{"url": f"https://example.org/{i}", "id": None, "drift": 0.25, "note": "ünïcode “quotes”", "nested": [[], {}]}
     for i in range(3_000)],
]


@pytest.mark.parametrize("items", ITEMS, ids=["empty", "one", "many"])
def test_an_array_in_pieces_is_json_dumps_to_the_byte(items: list[Any]) -> None:
    pieces = list(json_array_chunks(iter(items)))
    assert "".join(pieces) == json.dumps(items, indent=2)
    assert all(len(p) < 70_000 for p in pieces) and (len(pieces) > 1) == (len(items) > 100)  # written in chunks


@pytest.mark.parametrize("n", [0, 1, 2_500])
def test_a_run_summary_in_pieces_is_json_dumps_to_the_byte(n: int) -> None:
    log = RunLog()
    log.plan(Job(f"https://h{i % 7}.example/{i}", f"https://h{i % 7}.example/{i}", None, None) for i in range(n + 2))
    log.extend(Outcome(f"https://h{i % 7}.example/{i}", f"https://h{i % 7}.example/{i}", "m.txt", None,
                       "captured" if i % 3 else "failed", "ok", 200 if i % 3 else 404) for i in range(n))
    summary = Summary(7, log, status="done", workers={"w1": n})
    text = summary.to_json()
    assert text == json.dumps(json.loads(text), indent=2)
    assert len(json.loads(text)["urls"]) == n and len(json.loads(text)["unattempted"]) == 2
