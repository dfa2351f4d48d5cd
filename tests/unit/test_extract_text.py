"""extract_text against the hand-checked manifest of the Artsakh paper, and one case per repair."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from archiver.extract import ExtractResult, Found, extract_text

# Copies of ../shared/papers, so that CI on a bare checkout runs these tests too.
PAPERS = Path(__file__).resolve().parent.parent / "data" / "papers"
REPO = Path(__file__).resolve().parents[2]
ARTSAKH = PAPERS / "2021-artsakh-war-crimes-paper.txt"
ALERT = PAPERS / "2020-genocide-watch-alert.md"
TRUTH = REPO / "manifests" / "2021-artsakh-war-crimes.yaml"

needs_papers = pytest.mark.skipif(not (ARTSAKH.exists() and ALERT.exists() and TRUTH.exists()),
                                  reason="sample papers not present")


@pytest.fixture(scope="module")
def artsakh() -> tuple[ExtractResult, list[dict[str, object]]]:
    truth = yaml.safe_load(TRUTH.read_text(encoding="utf-8"))["citations"]
    return extract_text(ARTSAKH.read_text(encoding="utf-8"), source=str(ARTSAKH)), truth


def one(text: str) -> Found:
    result = extract_text(text, source="t")
    assert len(result.citations) == 1, result
    return result.citations[0]


def test_artsakh_urls_match_ground_truth(artsakh: tuple[ExtractResult, list[dict[str, object]]]) -> None:
    result, truth = artsakh
    chosen = {c.url for c in result.citations}
    offered = chosen | {cand for c in result.citations for cand in c.candidates}
    exact = sum(1 for t in truth if t["url"] in chosen)
    covered = sum(1 for t in truth if t["url"] in offered)
    print(f"artsakh: {exact}/{len(truth)} exact url, {covered}/{len(truth)} url or candidate, "
          f"{len(result.citations)} found")
    assert len(truth) == 43
    assert len(result.citations) == 43
    assert exact >= 42
    assert covered == 43
    assert not result.invalid


def test_artsakh_ids_and_dates(artsakh: tuple[ExtractResult, list[dict[str, object]]]) -> None:
    result, truth = artsakh
    by_url = {c.url: c for c in result.citations}
    ids = sum(1 for t in truth if t["url"] in by_url and by_url[t["url"]].id == t["id"])
    dates = sum(1 for t in truth if t["url"] in by_url and by_url[t["url"]].accessed == t.get("accessed"))
    print(f"artsakh: {ids}/{len(truth)} ids, {dates}/{len(truth)} accessed dates")
    assert ids >= 42
    assert dates >= 42
    # fn120a is the one URL not chosen exactly ("restof-world"); its id must still be right.
    assert [c.id for c in result.citations if "bellingcat.com" in c.url] == ["fn120a"]


def test_artsakh_memento_truncated_and_unclosed(artsakh: tuple[ExtractResult, list[dict[str, object]]]) -> None:
    result, _ = artsakh
    wayback = [c for c in result.citations if c.memento]
    assert len(wayback) == 1
    assert wayback[0].url.startswith("http://hudoc.fcnm.coe.int/")
    assert wayback[0].memento == {
        "url": "https://web.archive.org/web/20130921072548/http://hudoc.fcnm.coe.int/XMLEcri/ENGLISH/Cycle_03/"
               "03_CbC_eng/AZE-CbC-III-2007-22-ENG.pdf",
        "datetime": "2013-09-21T07:25:48Z"}
    last = result.citations[-1]
    assert last.id == "fn132" and last.suspect
    assert last.cited_as is not None and last.cited_as.endswith("POWs%2C%")
    unclosed = [c for c in result.citations if c.note and "never closed" in c.note]
    assert [c.id for c in unclosed] == ["fn116a"]


def test_artsakh_contexts_are_single_short_lines(artsakh: tuple[ExtractResult, list[dict[str, object]]]) -> None:
    result, _ = artsakh
    for found in result.citations:
        assert found.context, found
        assert len(found.context) < 200 and "\n" not in found.context
    fn1 = result.citations[0]
    assert fn1.context is not None and fn1.context.startswith("Lucia de la Torre")
    assert fn1.accessed == dt.date(2021, 1, 12)


def test_alert_strips_empty_links_and_invents_nothing() -> None:
    text = ALERT.read_text(encoding="utf-8")
    result = extract_text(text, source=str(ALERT))
    assert result.stripped == text.count("](#)") + text.count("]()") == 12
    assert [c.url for c in result.citations] == ["https://www.against-genocide.org/"]
    assert result.citations[0].cited_as is None
    assert result.citations[0].id is None
    assert not result.invalid


# ---- one case per repair -------------------------------------------------------------------------


def test_angle_brackets_after_online_get_https() -> None:
    found = one("Some title (12 January 2021), online: <www.example.org/articles/1>.")
    assert found.url == "https://www.example.org/articles/1"
    assert found.cited_as is None
    assert found.accessed == dt.date(2021, 1, 12)
    assert found.context == "Some title (12 January 2021)"


def test_printed_http_is_kept_and_trailing_punctuation_dropped() -> None:
    assert one("See http://example.org/page.html, then more.").url == "http://example.org/page.html"
    assert one("(see https://en.wikipedia.org/wiki/Foo_(bar)).").url == "https://en.wikipedia.org/wiki/Foo_(bar)"
    assert one("video: t.me/kolorit_18/173.").url == "https://t.me/kolorit_18/173"


def test_split_url_prefers_the_documents_own_hyphenation() -> None:
    text = "The Nagorno-Karabakh war.\n1\nA, online: <www.example.org/news/war-in-nagorno\nkarabakh-now>.\n"
    found = one(text)
    assert found.url == "https://www.example.org/news/war-in-nagorno-karabakh-now"
    assert "https://www.example.org/news/war-in-nagornokarabakh-now" in found.candidates
    assert found.cited_as == "www.example.org/news/war-in-nagornokarabakh-now"
    assert found.id == "fn1"


def test_split_url_without_evidence_is_joined_and_hyphen_offered() -> None:
    found = one("online: <www.example.org/files/Behead\nings/a.mp4>")
    assert found.url == "https://www.example.org/files/Beheadings/a.mp4"
    assert "https://www.example.org/files/Behead-ings/a.mp4" in found.candidates


def test_glued_slug_words_and_known_platform_paths() -> None:
    text = "Chemical Weapons Unveiled, online: <site.org/2020/evidence-of-chemical-weaponsunveiled/>"
    assert one(text).url == "https://site.org/2020/evidence-of-chemical-weapons-unveiled/"
    assert one("<anccanada.org/wpcontent/uploads/a.pdf>").url == "https://anccanada.org/wp-content/uploads/a.pdf"


def test_uuid_with_a_lost_dash() -> None:
    found = one("<www.example.com/2020/10/13/2cdca1e608bf-11eb-8719-0df159d14794_story.html>")
    assert found.url == "https://www.example.com/2020/10/13/2cdca1e6-08bf-11eb-8719-0df159d14794_story.html"


def test_split_percent_escape_is_rejoined() -> None:
    found = one("Dropbox <www.dropbox.com/sh/k/Crimes%20Against%2C%\n20Civilians?dl=0>")
    assert found.url == "https://www.dropbox.com/sh/k/Crimes%20Against%2C%20Civilians?dl=0"


def test_latex_escapes() -> None:
    found = one(r"\url{https://example.org/a\_b\%20c\#top}")
    assert found.url == "https://example.org/a_b%20c#top"
    assert found.cited_as == r"https://example.org/a\_b\%20c\#top"


def test_wayback_becomes_memento() -> None:
    found = one("online (pdf): <web.archive.org/web/20130921072548/http:/example.org/a.pdf>.")
    assert found.url == "http://example.org/a.pdf"
    assert found.memento == {"url": "https://web.archive.org/web/20130921072548/http://example.org/a.pdf",
                             "datetime": "2013-09-21T07:25:48Z"}


def test_unclosed_angle_bracket() -> None:
    found = one("online: <oc-media.org/some-story/?fbclid=Iw_AR0. Also see the video.")
    assert found.url == "https://oc-media.org/some-story/?fbclid=Iw_AR0"
    assert found.note is not None and "never closed" in found.note


def test_truncated_at_end_of_document_is_suspect() -> None:
    found = one("Last note, online: <www.example.org/folder/Crimes%2C%")
    assert found.suspect
    assert found.url == "https://www.example.org/folder/Crimes%2C"
    assert found.note is not None and "truncated" in found.note


def test_truncated_url_completed_only_from_other_urls() -> None:
    text = ("1\nA <www.x.org/k/Folder%20A?dl=0&preview=a.mp4&t=1>.\n"
            "2\nB <www.x.org/k/Folder%20A?dl=0&preview=b.mp4&t=1>.\n3\nC <www.x.org/k/Fol")
    last = extract_text(text, source="t").citations[-1]
    assert last.id == "fn3" and last.suspect
    assert last.url == "https://www.x.org/k/Folder%20A?dl=0&t=1"
    assert "https://www.x.org/k/Folder%20A?dl=0&preview=a.mp4&t=1" in last.candidates


def test_markdown_empty_links_are_counted_not_cited() -> None:
    result = extract_text("[a](#) and [b]() and [c](https://example.org/x).", source="t")
    assert result.stripped == 2
    assert [c.url for c in result.citations] == ["https://example.org/x"]


def test_accessed_dates() -> None:
    assert one("Page, accessed 3 May 2020, https://example.org/a").accessed == dt.date(2020, 5, 3)
    assert one("Post (October 2, 2020 at 4:11) online: <x.com/a/status/1>").accessed == dt.date(2020, 10, 2)
    # A date in running prose is an event, not the day the author looked.
    assert one("On 13 April 2006 the court ruled, see www.example.org/ruling").accessed is None


def test_several_urls_in_one_footnote_get_lettered_ids() -> None:
    text = "7\nFirst, online: <www.a.org/x>. See also Second, online: <www.b.org/y>.\n8\nThird <www.c.org/z>.\n"
    result = extract_text(text, source="t")
    assert [c.id for c in result.citations] == ["fn7a", "fn7b", "fn8"]
    assert result.citations[1].context == "Second"


def test_bad_host_is_invalid_not_emitted() -> None:
    result = extract_text("online: <www.exa_mple-.org/x>", source="t")
    assert not result.citations
    assert result.invalid and result.invalid[0].printed == "www.exa_mple-.org/x"


def test_a_list_of_bare_urls_is_a_list_not_one_wrapped_url() -> None:
    text = "Sources:\nhttps://a.example.org/one\nhttps://b.example.org/two?x=1\nwww.c.example.org/three_3\n"
    assert [c.url for c in extract_text(text, source="list").citations] == [
        "https://a.example.org/one", "https://b.example.org/two?x=1", "https://www.c.example.org/three_3"]


def test_a_memento_wrapped_before_the_url_it_embeds_stays_one_citation() -> None:
    text = "Archived at https://web.archive.org/web/20201023120000/\nhttps://www.hrw.org/news/2020/10/23/x.\n"
    (found,) = extract_text(text, source="memento").citations
    assert found.url == "https://www.hrw.org/news/2020/10/23/x"
    assert found.memento == {"url": "https://web.archive.org/web/20201023120000/https://www.hrw.org/news/2020/10/23/x",
                             "datetime": "2020-10-23T12:00:00Z"}


def test_thousands_of_urls_are_all_found() -> None:
    lines = [f"{i} Report, online: <https://www.site{i % 300}.org/a/{i}> and https://h{i}.example/p?q={i}"
             for i in range(1, 3001)]
    found = extract_text("\n".join(lines), source="many").citations
    assert len(found) == 6000 and found[-1].url == "https://h3000.example/p?q=3000"
