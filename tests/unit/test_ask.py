"""A request other than a citation's GET (fetch/ask.py): what a browser or yt-dlp asks for is what the
server receives and what the WARC request record holds; redirects and retries treat it as browsers do."""

from __future__ import annotations

import json

from archiver.config import Settings
from archiver.fetch.ask import Ask
from archiver.fetch.fetcher import Fetcher
from archiver.fetch.politeness import HostGate


def _fetch(settings: Settings, url: str, ask: Ask) -> tuple[dict[str, object], list[int], bytes]:
    fetcher = Fetcher(settings, HostGate(1, 0))
    try:
        result = fetcher.fetch(url, ask=ask)
        assert result.final is not None, result.error
        answer = json.loads(result.final.body(1 << 20))
        return answer, [h.status for h in result.hops], result.final.request
    finally:
        fetcher.close()


def test_post_sends_method_headers_and_body_and_records_them(server, settings):
    ask = Ask.of("post", {"Content-Type": "application/json", "X-Client": "page", "Accept-Encoding": "br, zstd",
                          "Host": "elsewhere.example"}, b'{"q": 1}')
    answer, statuses, request = _fetch(settings, server.url("/asked"), ask)
    assert answer["method"] == "POST" and answer["body"] == '{"q": 1}'
    headers = answer["headers"]
    assert isinstance(headers, dict)
    assert headers["x-client"] == "page" and headers["content-type"] == "application/json"
    # Ours whatever the asker said: encodings every replay tool decodes, the host we connect to.
    assert headers["accept-encoding"] == "gzip, deflate"
    assert headers["host"].startswith("127.0.0.1")
    assert request.startswith(b"POST /asked ") and request.endswith(b'{"q": 1}')


def test_asker_user_agent_replaces_ours(server, settings):
    answer, _, _ = _fetch(settings, server.url("/asked"), Ask.of("GET", {"User-Agent": "Mozilla/5.0 test"}))
    assert answer["headers"]["user-agent"] == "Mozilla/5.0 test"  # type: ignore[index]
    plain, _, _ = _fetch(settings, server.url("/asked"), Ask())
    assert plain["headers"]["user-agent"] == settings.user_agent  # type: ignore[index]


def test_see_other_turns_post_into_get_without_body(server, settings):
    answer, statuses, _ = _fetch(settings, server.url("/see-other"),
                                 Ask.of("POST", {"Content-Type": "text/plain"}, b"form"))
    assert statuses == [303, 200]
    assert answer["method"] == "GET" and answer["body"] == ""
    assert "content-type" not in answer["headers"]  # type: ignore[operator]


def test_unfollowed_redirect_is_the_answer(server, settings):
    fetcher = Fetcher(settings, HostGate(1, 0))
    try:
        result = fetcher.fetch(server.url("/see-other"), ask=Ask(follow=False))
    finally:
        fetcher.close()
    assert [h.status for h in result.hops] == [303]


def test_post_is_not_retried(fresh_server, settings):
    fetcher = Fetcher(settings.replace(retries=2), HostGate(1, 0))
    try:
        result = fetcher.fetch(fresh_server.url("/status/503"), ask=Ask.of("POST", {}, b"x"))
        again = fetcher.fetch(fresh_server.url("/status/503"))
    finally:
        fetcher.close()
    assert result.attempts == 1
    assert again.attempts == 3
