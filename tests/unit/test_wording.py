"""The wording tables and the folding they match against: every language's patterns compile and are
folded like the text; case, accents and letter variants of any script fold to one form."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver import wording
from archiver.wording import fold, fold_letters, word_count

FIELDS = ("nouns", "missing", "gone", "error", "sorry", "filler", "no_results", "search", "legal")


@pytest.mark.parametrize(("text", "folded"), [
    ("SAYFA BULUNAMADI", "sayfa bulunamadi"), ("Sayfa bulunamadı", "sayfa bulunamadi"),  # Turkish dotless i
    ("İÇERİK ARTIK MEVCUT DEĞİL", "icerik artik mevcut degil"), ("Səhifə TAPILMADI", "sehife tapilmadi"),
    ("Página não encontrada", "pagina nao encontrada"), ("Straße", "strasse"), ("Błąd", "blad"),
    ("Không tìm thấy trang", "khong tim thay trang"), ("удалён", "удален"),
    ("Ｅｒｒｏｒ　４０４！", "error 404!"),  # full-width forms
    ("متأسفانه صفحه‌ای يافت نشد", "متاسفانه صفحه اي يافت نشد"),  # ZWNJ, hamza on alef, Persian/Arabic yeh
    ("خطأ ٤٠٤", "خطا 404"), ("خطای ۴۰۴", "خطاي 404"),  # Arabic-Indic and Persian digits
    ("عذراً، الصفحة", "عذرا, الصفحه"),  # vowel marks, Arabic comma, teh marbuta
    ("Էջը չի գտնվել։", "էջը չի գտնվել."), ("ինչու՞", "ինչու"),  # Armenian full stop and question mark
    ("页面不存在。", "页面不存在."), ("Telegram , you", "telegram, you"), ("It’s “gone” …", "it's \"gone\"..."),
])
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@given(st.text(max_size=60))
@settings(max_examples=300)
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


def test_ascii_is_left_alone_by_letter_folding() -> None:
    pattern = r"(?<!\w)(?:page|file)s?[^.!?]{0,40}?\bnot found\b"
    assert fold_letters(pattern) == pattern


@pytest.mark.parametrize(("text", "words"), [
    ("", 0), ("Page not found", 3), ("页面不存在", 3), ("页面 404 不存在", 4), ("ページが見つかりません", 6),
    ("페이지를 찾을 수 없습니다", 4), ("Страница не найдена", 3), ("新浪网 News", 3),
])
def test_word_count_counts_two_unspaced_characters_as_a_word(text: str, words: int) -> None:
    assert word_count(text) == words


def test_tables_are_well_formed() -> None:
    codes = [language.code for language in wording.LANGUAGES]
    assert len(codes) == len(set(codes)) >= 18
    for language in wording.LANGUAGES:
        for field in FIELDS:
            pattern = getattr(language, field)
            assert pattern or field == "legal", (language.code, field)
            assert pattern == pattern.lower(), (language.code, field)  # text is lower-cased before matching
            re.compile(pattern)
            # A pattern must not match nothing: an empty alternative would match every text.
            assert not re.fullmatch(f"(?:{pattern})", ""), (language.code, field)


# Per language: a page saying it is missing (strong), missing wording alone (weak), a search that found
# nothing, a search page's title.
SAMPLES = {
    "en": ("The page you requested could not be found", "Not found", "No results found", "Search results"),
    "es": ("La página que buscas no existe", "No encontrado", "No se encontraron resultados", "Búsqueda"),
    "de": ("Die Seite wurde nicht gefunden", "Nicht gefunden", "Keine Treffer", "Suchergebnisse"),
    "ru": ("Запрашиваемая страница не найдена", "Не найдено", "По вашему запросу ничего не найдено",
           "Результаты поиска"),
    "fr": ("Cette page est introuvable", "Introuvable", "Aucun résultat", "Résultats de recherche"),
    "ja": ("お探しのページは見つかりませんでした", "見つかりません", "検索結果は0件です", "検索結果"),
    "pt": ("A página não foi encontrada", "Não encontrado", "Nenhum resultado", "Resultados da pesquisa"),
    "it": ("La pagina non è stata trovata", "Non trovata", "Nessun risultato", "Risultati della ricerca"),
    "tr": ("Aradığınız sayfa bulunamadı", "Bulunamadı", "Sonuç bulunamadı", "Arama sonuçları"),
    "fa": ("صفحه مورد نظر یافت نشد", "یافت نشد", "نتیجه‌ای یافت نشد", "نتایج جستجو"),
    "zh": ("您访问的页面不存在", "找不到", "没有找到相关结果", "搜索结果"),
    "pl": ("Strona nie została znaleziona", "Nie znaleziono", "Brak wyników", "Wyniki wyszukiwania"),
    "nl": ("De pagina is niet gevonden", "Niet gevonden", "Geen resultaten", "Zoekresultaten"),
    "ar": ("الصفحة المطلوبة غير موجودة", "تعذر العثور", "لا توجد نتائج", "نتائج البحث"),
    "vi": ("Trang bạn yêu cầu không tồn tại", "Không tìm thấy", "Không có kết quả", "Kết quả tìm kiếm"),
    "ko": ("요청하신 페이지를 찾을 수 없습니다", "찾을 수 없습니다", "검색결과가 없습니다", "검색 결과"),
    "hy": ("Պահանջվող էջը չի գտնվել", "Չի գտնվել", "Արդյունքներ չեն գտնվել", "Որոնման արդյունքներ"),
    "az": ("Axtardığınız səhifə tapılmadı", "Tapılmadı", "Heç nə tapılmadı", "Axtarış nəticələri"),
}


def test_every_language_has_samples() -> None:
    assert set(SAMPLES) == {language.code for language in wording.LANGUAGES}


@pytest.mark.parametrize("language", wording.LANGUAGES, ids=lambda language: language.code)
def test_each_language_knows_its_own_wording(language: wording.Language) -> None:
    strong, weak, no_results, search = (fold(s) for s in SAMPLES[language.code])
    assert re.search(wording.strong_pattern(language), strong)
    assert re.search(wording.words_pattern(language, language.missing), weak)
    assert re.search(wording.words_pattern(language, language.no_results), no_results)
    assert wording.only(search, wording.SEARCH)
    assert wording.MISSING_STRONG.search(strong) and wording.MISSING_WEAK.search(weak)


@pytest.mark.parametrize(("text", "pattern"), [
    ("Turkish officials say the strategy was not found wanting", "strong"),  # no page noun at all
    ("Էջմիածնի տաճարը վերաբացվեց", "strong"),  # Etchmiadzin starts with էջ ("page")
    ("problem yoxdur", "weak"), ("sorun yok", "weak"), ("لا توجد مشكلة", "weak"), ("問題ありません", "weak"),
    ("不存在任何问题", "weak"), ("そんな法律は存在しない", "weak"), ("herhangi bir sorun bulunmuyor", "weak"),
    ("هیچ راهی وجود ندارد", "weak"), ("المشكلة غير موجودة", "weak"), ("вирус не обнаружен", "weak"),
    ("글로벌 뉴스", "strong"),
])
def test_everyday_words_are_not_missing_wording(text: str, pattern: str) -> None:
    regex = wording.MISSING_STRONG if pattern == "strong" else wording.MISSING_WEAK
    assert not regex.search(fold(text))


def test_only_tells_a_message_from_running_text() -> None:
    assert wording.only(fold("Oops! Page not found"), wording.MISSING_WEAK, wording.MISSING_STRONG)
    assert wording.only(fold("«Поиск» — результаты поиска"), wording.SEARCH)
    assert not wording.only(fold("Hiker not found after search"), wording.MISSING_WEAK)
