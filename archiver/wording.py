"""What a page says, in the languages of the cited web, when the thing it stood for is gone: the
wording tables of the soft-404 rules (classify.py) and the text folding they match against.

The cited web is multilingual: a dead page answers 200 and says so in its own language. Each
`Language` below lists, as regular expressions over folded text (`fold`):

- `nouns`: what a page calls itself ("page", "article", "file");
- `missing`: wording that says something is missing on its own ("not found", "does not exist"): the
  weak form, which counts only where a page can only be talking about itself (see classify.py);
- `gone`: wording that says it only when tied to one of the nouns ("removed", "unavailable");
  a noun and missing/gone wording a few words apart is the strong form ("the page you asked for
  was removed");
- `error`, `sorry`, `filler`: an error page's own words ("error", "oops", "the", "you requested"):
  a title or a line made of nothing else around missing wording is an error message;
- `no_results` and `search`: a site search that found nothing, and what a search page calls itself
  (a cited page emptied to a search box);
- `legal`: access refused for legal reasons (court orders, ISP block pages answering 200).

Patterns are written in lower case with the language's own spelling; they are folded like the text
when compiled (accents dropped, Arabic letter forms unified), so either spelling of a page matches.
Chinese and Japanese have no spaces between words, and Korean particles cling to their nouns: those
are matched without word boundaries, and their word counts (`word_count`) take two characters as a
word. Adding a language is one `Language(...)` entry; tests/pages/languages holds labelled pages.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# --- folding ---------------------------------------------------------------------------------------

_MARKS = {
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00a0": " ",
    "\u2026": "...", "\u2013": "-", "\u2014": "-",
    "\u3002": ".", "\u3001": ",", "\u0589": ".", "\u055d": ",", "\u061f": "?", "\u060c": ",", "\u061b": ";",
    "\u200c": " ",  # Persian zero-width non-joiner: "نمی‌شود" is also written "نمی شود"
}
_LETTERS = {
    "ß": "ss", "ẞ": "ss", "ı": "i", "ə": "e", "Ə": "e", "đ": "d", "Đ": "d", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l",
    "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ё": "е", "Ё": "е",
    # Arabic and Persian spell the same word with different letter forms.
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ی": "ي", "ک": "ك", "ة": "ه", "ۀ": "ه",
}
_DROPPED = ("\u0640", "\u0670", "\u200b", "\u200d", "\u2060", "\u00ad", "\ufeff",
            "\u055b", "\u055c", "\u055e")  # tatweel, dagger alef, zero widths, soft hyphen, Armenian stress marks


def _table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):  # Latin letters with diacritics, Vietnamese
        base = unicodedata.normalize("NFKD", chr(code))[0]
        if base != chr(code) and base.isascii() and base.isalpha():
            table[code] = base
    table.update({ord(k): v for k, v in {**_MARKS, **_LETTERS}.items()})
    table.update({code: None for code in range(0x064B, 0x0660)})  # Arabic vowel marks
    table.update({ord(c): None for c in _DROPPED})
    table.update({0x0660 + d: str(d) for d in range(10)})  # Arabic-Indic digits
    table.update({0x06F0 + d: str(d) for d in range(10)})  # Persian digits
    return table


_TABLE = _table()


def fold_letters(text: str) -> str:
    """NFKC (full-width forms, composed accents), then accents dropped and letter variants unified;
    case and spacing kept (patterns go through this too, so regex syntax must survive it)."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_TABLE)


def fold(text: str) -> str:
    """Lower-case, accents and letter variants folded (`fold_letters`), ASCII apostrophes, quotes,
    dashes and ellipsis, single spaces: the form every marker and wording table is matched against."""
    # Tag stripping leaves "Telegram , you": drop spaces before punctuation so markers need not allow them.
    return re.sub(r" (?=[,.!?;:)])", "", " ".join(fold_letters(text).lower().split()))


# Runs of scripts written without spaces between words (kana, Han, Thai).
_UNSPACED = re.compile("[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def word_count(text: str) -> int:
    """Words in `text`; in scripts without spaces between words two characters count as one."""
    runs = _UNSPACED.findall(text)
    if not runs:
        return len(text.split())
    return len(_UNSPACED.sub(" ", text).split()) + (sum(map(len, runs)) + 1) // 2


# --- the tables -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    name: str
    nouns: str
    missing: str
    gone: str
    error: str
    sorry: str
    filler: str
    no_results: str
    search: str  # a whole title segment or line naming a search page ("search results for ...")
    legal: str = ""
    spaced: bool = True  # words are separated by spaces: match whole words only
    gap: int = 40  # characters allowed between a noun and missing/gone wording (half that the other way)
    gone_first: bool = True  # gone wording may come first ("삭제된 기사", "silinmiş sayfa", "已删除的文章")


LANGUAGES: tuple[Language, ...] = (
    Language(
        "en", "English",
        nouns=r"(?:page|file|url|document|resource|content|article|post|story|link|web ?page)s?",
        missing=r"not found|no longer (?:available|exists?|online)|(?:does ?n't|does not) exist|"
                r"has been (?:removed|deleted|taken down)|(?:could ?n't|could not|can't|can ?not) (?:be found|find)|"
                r"nothing (?:here|found|to see here)",
        gone=r"(?:is )?(?:un|not )available|(?:is|are) ?n't available|(?:was|were) (?:removed|deleted|taken down)",
        gone_first=False,
        error=r"error", sorry=r"oops|whoops|sorry|uh[- ]?oh|gone|unavailable|not available|missing",
        filler=r"the|this|that|page|we're|we are|we",
        no_results=r"no (?:search |matching )?results(?: (?:were )?found| for| match\w*)?|"
                   r"(?:your|the) search (?:did ?n't|did not|returned no|yielded no|produced no)|"
                   r"nothing matched your search|search (?:returned|found) no (?:results|matches)|0 results",
        search=r"search results? for\b.*|you searched for\b.*|(?:site )?search(?: results?| for)?",
        legal=r"unavailable for legal reasons|(?:blocked|removed|withheld|restricted|disabled) (?:\w+ ){0,3}"
              r"(?:by|following|under|pursuant to|in (?:accordance|compliance|response) (?:with|to)|due to|"
              r"on the basis of) (?:a |the )?(?:court (?:order|decision|ruling)|legal (?:demand|request|order)|"
              r"government (?:demand|request|order))",
    ),
    Language(
        "es", "Spanish",
        nouns=r"páginas?|archivos?|documentos?|artículos?|contenidos?|publicaci(?:ón|ones)|entradas?|noticias?|"
              r"enlaces?|recursos?|urls?|notas?",
        missing=r"no (?:se )?(?:ha )?(?:podido )?encontrad[oa]s?|no se (?:encuentra|encontró|pudo encontrar)|"
                r"(?:ya )?no existen?|no (?:la |lo )?(?:hemos podido|pudimos|podemos) encontrar",
        gone=r"(?:ha sido|fue|han sido|fueron) (?:eliminad|borrad|retirad|removid|movid)[oa]s?|eliminad[oa]s?|"
             r"(?:ya )?no (?:está |esta )?disponibles?",
        error=r"error", sorry=r"ups|vaya|uy|oops|lo sentimos|lo siento|disculpa\w*|perdón|lamentablemente",
        filler=r"la|el|lo|los|las|esta|este|esa|ese|que|busca|buscas|solicitada|solicitado|página|usted|de",
        no_results=r"no se (?:han )?encontr(?:aron|ó|ado) (?:ningún )?(?:resultados?|coincidencias?)|"
                   r"no hay (?:resultados|coincidencias)|(?:0|cero) resultados|"
                   r"la búsqueda no (?:produjo|arrojó|devolvió)",
        search=r"buscar|búsqueda|buscador|resultados de (?:la )?búsqueda(?: para\b.*)?|resultados para\b.*|"
               r"has buscado\b.*",
        legal=r"(?:no disponible|bloquead[oa]|retirad[oa]) por (?:motivos|razones) (?:legales|jurídic[oa]s)|"
              r"(?:bloquead[oa]|retirad[oa]) (?:por|tras) (?:una )?(?:orden|resolución|decisión) judicial",
    ),
    Language(
        "de", "German",
        nouns=r"(?:web|unter|internet)?seiten?|dateien|datei|dokumente?|artikel|inhalte?|beiträge?|beitrag|links?|"
              r"urls?|ressourcen?|meldung(?:en)?|nachricht(?:en)?",
        missing=r"nicht gefunden|(?:existiert|existieren|gibt es) nicht(?: mehr)?|"
                r"nicht (?:mehr )?(?:vorhanden|auffindbar|zu finden)|nicht finden",
        gone=r"(?:wurde|wurden|ist|sind) (?:\w+ )?(?:gelöscht|entfernt|verschoben)|gelöscht|"
             r"nicht (?:mehr )?(?:verfügbar|erreichbar|online|abrufbar)",
        error=r"fehler", sorry=r"hoppla|huch|ups|oops|sorry|entschuldigung|leider|oh nein",
        filler=r"die|der|das|diese|dieser|dieses|angeforderte|gesuchte|aufgerufene|gewünschte|von|ihnen|sie|wir|"
               r"es|seite",
        no_results=r"keine (?:such)?ergebnisse gefunden|keine (?:\w+ )?treffer|(?:0|null) (?:ergebnisse|treffer)|"
                   r"ihre suche (?:ergab|lieferte|hat) keine|es wurden keine (?:\w+ )?(?:ergebnisse|treffer) gefunden",
        search=r"suche|suchen|suchergebnisse(?: für\b.*)?|ergebnisse für\b.*|volltextsuche",
        legal=r"aus rechtlichen gründen (?:nicht|gesperrt|entfernt)|(?:gesperrt|entfernt) (?:aufgrund|wegen) "
              r"(?:einer|eines) (?:gerichtlichen|behördlichen) (?:anordnung|verfügung|beschlusses|entscheidung)",
    ),
    Language(
        "ru", "Russian",
        nouns=r"страниц\w*|документ\w*|файл\w*|стать[яиюей]|запис[ьи]|материал\w*|новост[ьи]|публикаци\w*|"
              r"ссылк\w*|ресурс\w*",
        missing=r"не найден\w*|не (?:удалось|удаётся|можем|смогли) (?:найти|обнаружить)|(?:больше |уже )?не существует",
        gone=r"(?:был\w* )?удал[её]н\w*|(?:больше |уже )?(?:не доступн|недоступн)\w*|перемещ[её]н\w*|"
             r"снят\w* с публикации|не обнаружен\w*",
        error=r"ошибк\w*", sorry=r"упс|ой|увы|извините|к сожалению|простите",
        filler=r"эта|этой|эту|этот|такой|такая|такую|данн\w*|запрашиваем\w*|запрошенн\w*|искомая|вы|мы|вами|вас|"
               r"ищете|которую|которой|страниц\w*|по|адресу",
        no_results=r"ничего не найдено|по (?:вашему )?запросу ничего|результат\w* не найден\w*|нет результатов|"
                   r"(?:поиск|запрос) не дал\w* результатов|найдено 0",
        search=r"поиск(?: по сайту)?|результаты поиска(?: по запросу\b.*)?|искать",
        legal=r"доступ (?:\w+ ){0,4}ограничен\w* (?:по решению|на основании|по требованию|в соответствии)|"
              r"(?:ресурс|сайт|страниц\w*) (?:\w+ ){0,2}заблокирован\w* (?:по решению|на основании|по требованию)",
    ),
    Language(
        "fr", "French",
        nouns=r"pages?|fichiers?|documents?|articles?|contenus?|publications?|liens?|ressources?|urls?|billets?|"
              r"adresses?",
        missing=r"introuvables?|n'existen?t? (?:plus|pas)|(?:n'a|n'ont) (?:pas )?(?:pu )?(?:été|être) trouvée?s?|"
                r"non trouvée?s?|pas trouvée?s?|(?:ne|n') ?(?:pouvons|parvenons|avons) (?:pas )?(?:pu )?(?:à )?trouver|"
                r"impossible de trouver",
        gone=r"(?:a|ont) été (?:supprimé|retiré|effacé|déplacé)e?s?|supprimée?s?|indisponibles?|"
             r"(?:n'est|ne sont) (?:plus |pas )?(?:disponibles?|accessibles?|en ligne)|non disponibles?",
        error=r"erreur", sorry=r"oups|oops|désolée?s?|pardon|hélas|zut|malheureusement",
        filler=r"la|le|les|l|cette|ce|cet|que|qui|vous|nous|recherchez|cherchez|recherchée?|demandée?|page|d",
        no_results=r"aucun(?:e)? (?:\w+ )?(?:résultats?|correspondance)|pas de résultats?|(?:0|zéro) résultats?|"
                   r"votre recherche (?:n'a|ne correspond)",
        search=r"recherche(?: avancée)?|rechercher|résultats? de (?:la |votre )?recherche(?: pour\b.*)?|"
               r"résultats pour\b.*|vous avez recherché\b.*",
        legal=r"(?:indisponible|bloquée?|retirée?|supprimée?) (?:pour des raisons (?:juridiques|légales)|"
              r"(?:sur|suite à une|en vertu d'une|à la suite d'une) décision (?:de justice|judiciaire))",
    ),
    Language(
        "ja", "Japanese", spaced=False, gap=15,
        nouns=r"ページ|頁|ファイル|記事|文書|ドキュメント|コンテンツ|投稿|リンク|url|ニュース|情報",
        missing=r"見つかりません(?:でした)?|見つからない",
        gone=r"存在しません|存在しない|削除され(?:ました|た|ている|ています)|削除済み|公開(?:を|が|は)?終了|掲載(?:期間)?(?:を|が|は)?終了|"
             r"(?:閲覧|利用|表示|アクセス)(?:でき|出来)ません|移動(?:または|もしくは|しました|されました)",
        error=r"エラー",
        sorry=r"申し訳(?:ありません|ございません)|すみません|恐れ入りますが|大変申し訳|おっと|残念ながら",
        filler=r"お探しの|指定された|ご指定の|アクセスしようとした|リクエストされた|この|その|は|が|の|を|で|、",
        no_results=r"(?:検索結果|該当(?:する)?(?:記事|ページ|データ|情報)?)(?:は|が)?(?:0|ゼロ)件|"
                   r"(?:該当|一致)する(?:記事|ページ|情報|結果|もの|データ)?(?:は|が)?"
                   r"(?:見つかりませんでした|ありませんでした|ありません)|"
                   r"検索結果(?:は|が)?(?:ありません|見つかりません)",
        search=r"検索結果|サイト内検索|キーワード検索|検索",
        legal=r"法的(?:な)?(?:理由|要請)により|裁判所の(?:命令|決定)により",
    ),
    Language(
        "pt", "Portuguese",
        nouns=r"páginas?|arquivos?|ficheiros?|documentos?|artigos?|conteúdos?|publicaç(?:ão|ões)|notícias?|links?|"
              r"recursos?|posts?|matérias?",
        missing=r"não (?:foi |foram )?encontrad[oa]s?|não (?:pode|pôde|podem) ser encontrad[oa]s?|"
                r"(?:já )?não existem?(?: mais)?|não (?:foi possível|conseguimos) encontrar|deixou de existir",
        gone=r"(?:foi|foram) (?:removid|excluíd|apagad|eliminad|retirad|movid)[oa]s?|removid[oa]s?|excluíd[oa]s?|"
             r"indisponíve(?:l|is)|não (?:está |estão )?(?:mais )?disponíve(?:l|is)",
        error=r"erro", sorry=r"ops|opa|oops|ups|desculpe|lamentamos|infelizmente",
        filler=r"a|o|as|os|esta|este|essa|esse|que|você|procura|solicitada|página|de",
        no_results=r"nenhum resultado|sem resultados|não (?:foram )?encontrad[oa]s? resultados|(?:0|zero) resultados|"
                   r"a (?:sua )?(?:pesquisa|busca) não (?:retornou|devolveu|encontrou)",
        search=r"pesquisa(?:r)?|busca(?:r)?|resultados da (?:pesquisa|busca)(?: por\b.*)?|resultados para\b.*|"
               r"você pesquisou\b.*",
        legal=r"(?:indisponível|bloquead[oa]|removid[oa]) por (?:motivos|razões) (?:legais|jurídic[oa]s)|"
              r"(?:bloquead[oa]|removid[oa]) por (?:ordem|decisão) judicial",
    ),
    Language(
        "it", "Italian",
        nouns=r"pagin[ae]|file|document[oi]|articol[oi]|contenut[oi]|risors[ae]|link|post|notizi[ae]|"
              r"pubblicazion[ei]",
        missing=r"non (?:è stat[ao] |sono stat[ie] )?trovat[aoie]|non (?:esiste|esistono)(?: più)?|"
                r"non (?:siamo riusciti a|riusciamo a|possiamo|è stato possibile) trovare|impossibile trovare|"
                r"introvabile",
        gone=r"(?:è stat[ao]|sono stat[ie]) (?:rimoss|eliminat|cancellat|spostat)[aoie]|rimoss[aoie]|eliminat[aoie]|"
             r"non (?:è )?(?:più )?disponibile|non accessibile",
        error=r"errore", sorry=r"ops|oops|spiacenti|ci dispiace|siamo spiacenti|scusa\w*|purtroppo",
        filler=r"la|il|lo|l|questa|questo|che|stai|cercando|cercata|richiesta|pagina|di|hai",
        no_results=r"nessun risultato|(?:0|zero) risultati|"
                   r"la (?:tua |vostra )?ricerca non ha (?:prodotto|dato|restituito)|"
                   r"non (?:ci sono|sono stati trovati) risultati",
        search=r"cerca|ricerca|risultati (?:della |di )?ricerca(?: per\b.*)?|risultati per\b.*|hai cercato\b.*",
        legal=r"(?:non disponibile|bloccat[oa]|rimoss[oa]) per (?:motivi|ragioni) legali|"
              r"(?:bloccat[oa]|oscurat[oa]|sequestrat[oa]) (?:su|per) (?:ordine|provvedimento|disposizione) "
              r"(?:\w+ ){0,2}(?:giudiziari[oa]|magistratura|autorità)",
    ),
    Language(
        "tr", "Turkish",
        nouns=r"sayfa\w*|dosya\w*|belge\w*|makale\w*|içerik\w*|haber\w*|yazı\w*|bağlantı\w*|link\w*|gönderi\w*",
        missing=r"bulunamad\w*|bulunamıyor|"
                r"artık (?:mevcut değil|yok|yayında değil)",
        gone=r"kaldırıl\w*|silin\w*|erişilemiyor|ulaşılamıyor|taşındı|kullanılamıyor|yayında değil|"
             r"bulunmamaktadır|bulunmuyor|mevcut değil\w*",
        error=r"hata\w*", sorry=r"üzgünüz|ups|hay aksi|maalesef|özür dileriz",
        filler=r"bu|aradığınız|ulaşmak istediğiniz|erişmek istediğiniz|istediğiniz|sayfa|sizin|biz",
        no_results=r"sonuç bulunamadı|hiçbir sonuç|(?:arama )?sonucu? yok|0 sonuç|"
                   r"aramanızla eşleşen (?:bir )?(?:sonuç|içerik) (?:bulunamadı|yok)",
        search=r"arama sonuçları\b.*|site içi arama|arama|ara",
        legal=r"koruma tedbiri|erişim(?:e)? engellen\w*|mahkeme karar\w* (?:ile|uyarınca) erişim\w*",
    ),
    Language(
        "fa", "Persian",
        nouns=r"صفحه(?: ?ای| ?ی)?|برگه|فایل|سند|مطلب|مقاله|خبر|پست|لینک|پیوند|نوشته|محتوا(?:ی)?",
        missing=r"یافت نشد|پیدا نشد|دیگر وجود ندارد|(?:پیدا|یافت) نمی ?شود|"
                r"(?:نمی ?توان|نتوانستیم) (?:آن را )?(?:پیدا|یافت)",
        gone=r"حذف شده(?: است)?|حذف شد|وجود ندارد|در دسترس نیست|در دسترس نمی ?باشد|موجود نیست|منتقل شده",
        error=r"خطا(?:ی)?", sorry=r"متاسفانه|متأسفانه|اوه|پوزش|ببخشید",
        filler=r"این|آن|مورد نظر|درخواستی|درخواست شده|شما|صفحه|که|به دنبال|هستید|ما|را",
        no_results=r"نتیجه ?ای (?:یافت|پیدا) نشد|هیچ نتیجه ?ای|موردی یافت نشد",
        search=r"جستجو(?:ی)?|جست ?و ?جو|نتایج (?:جستجو|جست ?و ?جو)\b.*",
        legal=r"دسترسی به (?:این )?(?:وب ?سایت|سایت|صفحه|تارنما) (?:\w+ ){0,3}?(?:امکان ?پذیر نمی ?باشد|"
              r"مقدور نمی ?باشد|مسدود)",
    ),
    Language(
        "zh", "Chinese", spaced=False, gap=12,
        nouns=r"页面|頁面|网页|網頁|页|頁|文件|文档|文檔|文章|内容|內容|帖子|链接|鏈接|連結|资源|資源|新闻|新聞|信息|資訊|稿件",
        missing=r"找不到|未找到|无法找到|無法找到|没有找到|沒有找到|未能找到|查无此页|查無此頁",
        gone=r"(?:已|已经|已經)?被?(?:删除|刪除|移除|下线|下線|撤下|屏蔽)|(?:已|已经|已經)(?:失效|过期|過期)|"
             r"无法访问|無法訪問|无法显示|無法顯示|不可用|不再(?:提供|可用|存在)|不存在",
        error=r"错误|錯誤|出错|出錯", sorry=r"很抱歉|非常抱歉|抱歉|对不起|對不起|哎呀|糟糕|啊哦|不好意思",
        filler=r"您|你|访问|訪問|请求|請求|要|的|所|该|該|此|这个|這個|正在|查找|寻找|尋找|页面|頁面|了|啦|呢|可能|或|已经|已經|已",
        no_results=r"(?:没有|沒有|未)(?:找到|搜索到|搜尋到|检索到|檢索到)(?:任何)?(?:相关|相關|匹配|符合)?(?:条件)?的?"
                   r"(?:结果|結果|内容|內容|信息|資訊|文章)|(?:无|無)(?:相关|相關)?(?:结果|結果)|"
                   r"(?:结果|結果)(?:为|為|:)?0(?!\d)|共(?:找到)?0(?:条|條|个|個|篇)",
        search=r"搜索结果|搜尋結果|站内搜索|站內搜尋|搜索|搜尋|检索|檢索|查询|查詢",
        legal=r"(?:根据|根據)(?:相关|相關)?(?:法律法规|法律法規|法律|规定|規定).{0,20}"
              r"(?:不予显示|不予顯示|无法显示|無法顯示|已屏蔽|已被屏蔽)",
    ),
    Language(
        "pl", "Polish",
        nouns=r"stron[aęyie]|stronie|podstron\w*|plik\w*|dokument\w*|artykuł\w*|treś[cć]\w*|wpis\w*|zasob\w*|zasób|"
              r"link\w*|materiał\w*",
        missing=r"nie (?:został[aoy]? )?znalezion[aoey]|nie (?:znaleziono|odnaleziono)|(?:już )?nie istnieje|"
                r"nie (?:można|udało się|możemy|mogliśmy) (?:jej |go )?(?:znaleźć|odnaleźć)",
        gone=r"(?:został[aoy]?|jest|są|zostały) (?:\w+ )?usunięt[aey]|usunięt[aey]|niedostępn[aey]|"
             r"nie jest (?:już )?dostępn[aey]|przeniesion[aey]",
        error=r"błąd|błędu", sorry=r"ups|oops|przepraszamy|niestety|ojej",
        filler=r"ta|ten|tej|której|którego|szukasz|szukana|żądana|żądanej|strona|podana|pod|tym|adresem",
        no_results=r"brak (?:wyników|rezultatów)|nie znaleziono (?:żadnych )?(?:wyników|pasujących)|(?:0|zero) wyników|"
                   r"nie ma (?:żadnych )?wyników|nic nie znaleziono",
        search=r"szukaj|wyszukaj|wyszukiwanie|wyszukiwarka|wyniki wyszukiwania(?: dla\b.*)?|wyniki dla\b.*",
        legal=r"(?:zablokowan|niedostępn)[aey] (?:na (?:mocy|podstawie)|ze względów) (?:\w+ ){0,2}"
              r"(?:sądu|prawnych|postanowienia|decyzji)",
    ),
    Language(
        "nl", "Dutch",
        nouns=r"(?:web)?pagina'?s?|bestand(?:en)?|document(?:en)?|artikel(?:en|s)?|inhoud|bericht(?:en)?|links?",
        missing=r"niet gevonden|(?:bestaat|bestaan) niet(?: meer)?|niet (?:meer )?(?:te vinden|vindbaar)|"
                r"niet (?:meer )?vinden|kan niet worden gevonden",
        gone=r"(?:is|zijn|werd|werden) (?:\w+ )?(?:verwijderd|verplaatst)|verwijderd|niet (?:meer )?beschikbaar|"
             r"onbeschikbaar",
        error=r"fout(?:melding)?", sorry=r"oeps|oops|sorry|helaas|excuses",
        filler=r"de|het|deze|die|dit|je|u|we|wij|gezochte|opgevraagde|jij|pagina|zoekt",
        no_results=r"geen (?:zoek)?resultaten|(?:0|nul) (?:zoek)?resultaten|niets gevonden|"
                   r"(?:uw|je) zoekopdracht (?:heeft|leverde) geen",
        search=r"zoeken|zoek|zoekresultaten(?: voor\b.*)?|resultaten voor\b.*|u zocht op\b.*",
        legal=r"(?:geblokkeerd|verwijderd|niet beschikbaar) (?:op last van|vanwege|wegens) (?:een )?"
              r"(?:rechterlijk|gerechtelijk|juridisch)\w*|om juridische redenen",
    ),
    Language(
        "ar", "Arabic",
        nouns=r"(?:ال)?(?:صفحة|صفحات|ملف|ملفات|مستند|مقال|مقالة|محتوى|خبر|رابط|منشور|موضوع|مادة)",
        missing=r"لم (?:يتم|نتمكن من|نستطع) (?:العثور|إيجاد)|(?:لا يمكن|تعذر) (?:العثور|إيجاد)|"
                r"لم (?:يعد|تعد) موجود(?:ا|ة)?|تم حذف\w*",
        gone=r"غير موجود(?:ة|ه)?|(?:تم |قد تم )?(?:حذف|إزالة|نقل)\w*|محذوف\w*|غير (?:متاح|متوفر|متوافر)\w*|"
             r"لم (?:تعد|يعد) متاح\w*",
        error=r"خطأ", sorry=r"عذرا|نأسف|آسف|آسفون|للأسف|عفوا|أوه|اوبس",
        filler=r"التي|الذي|تبحث|عنها|عنه|المطلوب\w*|هذه|هذا|نحن|الصفحة|على|إلى|يبدو|أن",
        no_results=r"لا (?:يوجد|توجد) (?:أي )?نتائج|لم (?:يتم العثور|نعثر) على (?:أي )?نتائج|لا نتائج",
        search=r"بحث|البحث|ابحث|نتائج البحث\b.*",
        legal=r"(?:محجوب|حجب|محظور)\w* (?:بموجب|بناء على|وفقا ل)\w* (?:\w+ ){0,2}(?:قرار|حكم|القانون|قانون)|"
              r"غير متاح\w* لأسباب قانونية",
    ),
    Language(
        "vi", "Vietnamese",
        nouns=r"trang(?: web)?|tệp|tập tin|tài liệu|bài viết|bài báo|nội dung|liên kết|đường dẫn|bản tin",
        missing=r"không (?:được |thể )?tìm thấy|(?:không|không còn) tồn tại",
        gone=r"(?:đã )?bị (?:xóa|gỡ bỏ|gỡ|di chuyển)|đã xóa|(?:không|không còn) khả dụng|không còn",
        error=r"lỗi", sorry=r"rất tiếc|xin lỗi|úi|ôi|oops",
        filler=r"bạn|này|yêu cầu|đang tìm|tìm kiếm|mà|chúng tôi|trang|của|có thể|đã",
        no_results=r"không (?:tìm thấy|có) (?:kết quả|bài viết|nội dung)(?: nào| phù hợp)?|0 kết quả",
        search=r"kết quả tìm kiếm(?: cho\b.*)?|tìm kiếm|tìm",
        legal=r"bị chặn (?:theo|do) (?:yêu cầu|quyết định) (?:của )?(?:cơ quan|tòa án|pháp luật)",
    ),
    Language(
        "ko", "Korean", spaced=False, gap=20,
        nouns=r"페이지|문서|파일|게시물|게시글|기사|콘텐츠|컨텐츠|링크|주소",
        missing=r"찾을 ?수 ?없(?:습니다|음|어요)|없는 페이지",
        gone=r"찾을 ?수 ?없는|존재하지 ?않(?:습니다|는|음|아요)|"
             r"삭제(?:되었|됐|된|됨|되어)|이동(?:되었|됐|된|됨)|(?:이용|접근|열람|표시)할 ?수 ?없|"
             r"더 ?이상 (?:존재하지|제공되지|이용할)",
        error=r"오류|에러", sorry=r"죄송합니다|죄송|이런|앗|유감스럽게도",
        filler=r"요청하신|찾으시는|입력하신|방문하신|해당|이|그|를|을|은|는|가|의|페이지|주소|하신",
        no_results=r"검색 ?결과가 ?없(?:습니다|음)|검색된 (?:결과|내용|게시물|게시글|자료)가? ?없|"
                   r"(?:일치하는|해당하는|관련) (?:결과|항목|게시물|자료)가? ?없|결과가 ?없습니다|(?<!\d)0건",
        search=r"검색 ?결과|통합 ?검색|사이트 ?검색|검색",
        legal=r"(?:법적|법률적) (?:사유|이유)로|(?:방송통신심의위원회|법원)의? (?:결정|명령|요청)에 (?:따라|의해)",
    ),
    Language(
        "hy", "Armenian",
        nouns=r"էջ(?:ը|ն|ի|ում|եր|երը)?|ֆայլ\w*|փաստաթուղթ\w*|փաստաթղթ\w*|հոդված\w*|նյութ\w*|լուր\w*|հղում\w*|"
              r"գրառում\w*|հրապարակում\w*",
        missing=r"չի գտնվել|չեն գտնվել|չգտնվեց|(?:այլևս )?գոյություն չուն(?:ի|են)|չի հայտնաբերվել|չհաջողվեց գտնել",
        gone=r"հեռացված է|հեռացվել է|ջնջված է|ջնջվել է|(?:այլևս )?հասանելի չէ|անհասանելի է|տեղափոխվել է",
        error=r"սխալ", sorry=r"ներողություն|ցավոք|ափսոս|վայ|ուպս|ներեցեք",
        filler=r"այս|այդ|պահանջվող|որոնվող|փնտրվող|ձեր|էջը|էջ|նման|մենք|դուք|որը|փնտրում եք|կողմից",
        no_results=r"արդյունք(?:ներ)? չ(?:ի|են) գտնվել|ոչինչ չ(?:ի գտնվել|գտնվեց)|(?:որոնման )?արդյունքներ չկան",
        search=r"որոնում|որոնել|որոնման արդյունքներ\b.*|փնտրել",
        legal=r"մուտքը (?:\w+ ){0,2}(?:սահմանափակված|արգելափակված) է|արգելափակված է (?:դատարանի|իրավական)",
    ),
    Language(
        "az", "Azerbaijani",
        nouns=r"səhifə\w*|fayl\w*|sənəd\w*|məqalə\w*|xəbər\w*|material\w*|yazı\w*|keçid\w*|link\w*|paylaşım\w*",
        missing=r"tapılmadı|tapılmır|artıq mövcud deyil|belə (?:bir )?(?:səhifə|xəbər) yoxdur",
        gone=r"mövcud deyil|mövcud olmayan|silin(?:ib|mişdir|di|miş)|əlçatan deyil|əlçatmazdır|köçürülüb|"
             r"yayımdan çıxarılıb",
        error=r"xəta\w*|səhv", sorry=r"üzr istəyirik|təəssüf ki|bağışlayın|ups|təəssüf",
        filler=r"bu|axtardığınız|sizin|səhifə|daxil etdiyiniz|siz|biz|belə",
        no_results=r"heç nə tapılmadı|nəticə tapılmadı|heç bir nəticə|nəticə yoxdur|"
                   r"axtarışınıza uyğun (?:heç nə|nəticə)",
        search=r"axtarış nəticələri\b.*|saytda axtarış|axtarış|axtar",
        legal=r"(?:giriş|çıxış) məhdudlaşdırıl\w*|məhkəmə qərarı (?:ilə|əsasında) (?:blok\w*|bağlan\w*)",
    ),
)


# --- compiled forms ---------------------------------------------------------------------------------


def words_pattern(lang: Language, pattern: str) -> str:
    """`pattern` as whole words (in spaced scripts), folded like the text it will meet."""
    folded = fold_letters(pattern)
    return rf"(?<!\w)(?:{folded})(?!\w)" if lang.spaced else f"(?:{folded})"


def _any(parts: Iterable[str]) -> str:
    return "|".join(p for p in parts if p)


def strong_pattern(lang: Language) -> str:
    """A noun and missing/gone wording a few words apart, either way round."""
    nouns, missing = words_pattern(lang, lang.nouns), words_pattern(lang, lang.missing)
    told = _any([missing, words_pattern(lang, lang.gone)])
    first = told if lang.gone_first else missing
    return rf"{nouns}[^.!?]{{0,{lang.gap}}}?(?:{told})|(?:{first})[^.!?]{{0,{lang.gap // 2}}}?{nouns}"


def _all(field: str) -> str:
    return _any(words_pattern(lang, getattr(lang, field)) for lang in LANGUAGES if getattr(lang, field))


_ERRORS = _all("error")
# Digits are word characters: "页面404错误" has no word boundary around its code.
_CODES = (rf"(?:\bhttp|\bcode|{_ERRORS}):? ?40[34](?!\d)|(?<!\d)40[34] ?(?:{_ERRORS}|page\b|not found|- )"
          r"|^ ?404(?= ?(?:$|[^\w\s]))")  # "404 people died" opens an article, "404." an error page

# Wording that says something is missing, without saying it is this page (a story can say it too).
MISSING_WEAK = re.compile(_all("missing"))
# The same wording tied to the page itself, or an error code: an error page talking about itself.
MISSING_STRONG = re.compile(_any([_any(strong_pattern(lang) for lang in LANGUAGES), _CODES]))
# Words an error message is made of besides its wording: interjections, "error", a status code.
ERROR_WORDS = re.compile(_any([_ERRORS, _all("sorry"), r"(?<!\d)(?:404|410)(?!\d)"]))
FILLER = re.compile(_any([ERROR_WORDS.pattern, _all("filler"), r"[^\w\s]"]))
NO_RESULTS = re.compile(_all("no_results"))
SEARCH = re.compile(_all("search"))
LEGAL = re.compile(_all("legal"))
# Quoted text in a title or line: a search page's query ("Search results for “caspian gas”").
QUOTED = re.compile(r'"[^"]*"|«[^»]*»|「[^」]*」|『[^』]*』')
TITLE_SPLIT = re.compile(r"\s+[|\-:\u2022\u00b7*]+\s+|\s*[|\u2022\u00b7]\s*|\s*::\s*"
                         r"|(?<=[\u3040-\u9fff\uac00-\ud7af])[_\-]|[_\-](?=[\u3040-\u9fff\uac00-\ud7af])")


def only(text: str, *wording: re.Pattern[str]) -> bool:
    """`text` holds nothing but `wording`, quoted text and filler: a message, not running text."""
    for pattern in wording:
        text = pattern.sub(" ", text)
    return not FILLER.sub(" ", QUOTED.sub(" ", text)).strip()
