"""The paper copy of a sealed-evidence report (`zhenzhi verify-evidence FILE --pdf report.pdf`).

A case file keeps paper: the PDF holds the report's lines as `verify-evidence` prints them,
headed in Chinese and English, the SHA-256 of the exact bundle file that was checked (so the
paper names one file and no other) and that hash as a QR code, so a clerk can scan it and
compare it with `sha256sum` of the file on record. Drawn with reportlab (as the label sheets
are: `ledger.trade.labels`), the QR modules from the same `qr_matrix`; text in a CJK font so
Chinese organisation names and headings read and copy out as text.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

from ledger.errors import InvalidInputError
from ledger.trade.labels import qr_matrix

__all__ = ["CJK_FONTS", "report_pdf"]

# WenQuanYi Micro Hei (Debian fonts-wqy-microhei), then Noto CJK: the first one found is used.
CJK_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
)
_FONT = "ZhenzhiCJK"

_TITLE = {"GENUINE": "已证实 / proven", "UNVERIFIED": "未能证实 / not proven",
          "RECALLED": "已召回 / recalled", "SUSPECTED_CLONE": "疑似克隆 / suspected clone",
          "COUNTERFEIT": "伪造 / counterfeit", "REFUSED": "拒绝：文件被篡改或格式不符 / refused"}


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _FONT in pdfmetrics.getRegisteredFontNames():
        return _FONT
    for path, index in CJK_FONTS:
        if Path(path).is_file():
            pdfmetrics.registerFont(TTFont(_FONT, path, subfontIndex=index))
            return _FONT
    raise InvalidInputError("no CJK font for the PDF report: install fonts-wqy-microhei")


def report_pdf(lines: Sequence[str], result: str, bundle: bytes) -> bytes:
    """The report as a PDF: heading, result, the bundle file's SHA-256 and its QR, the lines."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    font = _font()
    digest = hashlib.sha256(bundle).hexdigest()
    out = io.BytesIO()
    page_w, page_h = A4
    canvas = Canvas(out, pagesize=A4, invariant=True)
    canvas.setTitle(f"Zhenzhi evidence report sha256:{digest}")
    canvas.setSubject(f"sha256:{digest}")
    margin = 15 * mm
    # The QR of the file's hash, top right.
    matrix = qr_matrix(f"sha256:{digest}")
    side = 32 * mm
    module = side / len(matrix)
    qx, qy = page_w - margin - side, page_h - margin - side
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                canvas.rect(qx + c * module, qy + (len(matrix) - 1 - r) * module, module,
                            module, stroke=0, fill=1)
    y = page_h - margin - 6 * mm
    canvas.setFont(font, 14)
    canvas.drawString(margin, y, "区块链存证核验报告 / Evidence verification report")
    y -= 8 * mm
    canvas.setFont(font, 11)
    canvas.drawString(margin, y, f"结果 Result: {result} — {_TITLE.get(result, result)}")
    y -= 6 * mm
    canvas.setFont(font, 8)
    canvas.drawString(margin, y, "证据文件 SHA-256 / bundle file SHA-256:")
    y -= 4.5 * mm
    canvas.drawString(margin, y, digest)
    y = min(y, qy) - 8 * mm
    size, leading = 6.5, 8.2
    width = int((page_w - 2 * margin) / (size * 0.5))  # characters a line holds, roughly
    canvas.setFont(font, size)
    for line in lines:
        for piece in _wrap(line, width):
            if y < margin:
                canvas.showPage()
                canvas.setFont(font, size)
                y = page_h - margin
                canvas.drawString(margin, y, f"sha256:{digest}")
                y -= leading * 2
            canvas.drawString(margin, y, piece)
            y -= leading
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def _wrap(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    indent = len(line) - len(line.lstrip())
    out, rest = [line[:width]], line[width:]
    while rest:
        take = width - indent - 4
        out.append(" " * (indent + 4) + rest[:take])
        rest = rest[take:]
    return out
