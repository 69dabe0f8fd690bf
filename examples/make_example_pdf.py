"""Regenerate site/ja-report.pdf, the example site's Japanese PDF (needs reportlab).

    python examples/make_example_pdf.py

The PDF uses reportlab's built-in CID font HeiseiMin-W3, the way many Japanese
government PDFs use non-embedded CID fonts, so text extraction must go through CMaps.
"""

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

LINES = [
    "架空研究所レポート 第12号",
    "ロシア・ウクライナの停戦協議と安全の保証",
    "",
    "2025年8月19日現在、停戦をめぐる協議は新たな段階に入った。",
    "ロシアはウクライナの4州すべての支配を重要な要求としている。",
    "欧州諸国は安全の保証の具体策について協議を加速させた。",
    "本文書は citearchive の動作確認用に作成した架空の資料である。",
]


def main() -> None:
    out = Path(__file__).parent / "site" / "ja-report.pdf"
    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiMin-W3"))
    c = canvas.Canvas(str(out), pagesize=A4, invariant=True)
    c.setTitle("ロシア・ウクライナの停戦協議と安全の保証")
    c.setAuthor("架空研究所")
    c.setFont("HeiseiMin-W3", 12)
    y = 780
    for line in LINES:
        c.drawString(60, y, line)
        y -= 24
    c.showPage()
    c.save()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
