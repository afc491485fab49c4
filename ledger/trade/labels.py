"""Item labels: a QR code holding the item's GS1 Digital Link, with the human-readable
interpretation (HRI) of GTIN, serial and lot beneath it, as PNG, SVG or a PDF sheet.

The QR symbol comes from segno (error correction M: survives ~15 % damage, which a printed
label on a parcel needs, and keeps the symbol small for a ~60-character URI). Every output draws
the same module matrix, so the PNG, the SVG and the PDF encode exactly the same bits. The PDF
draws modules as vector rectangles (sharp at any print resolution) and is built with
reportlab's `invariant` mode, so the same labels give byte-identical sheets.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import segno

from ledger.errors import InvalidInputError

__all__ = ["Label", "LabelFormat", "label_png", "label_svg", "labels_pdf", "qr_matrix"]

LabelFormat = str  # "png" | "svg" | "pdf"
QUIET_ZONE = 4  # modules of white border the QR specification requires


@dataclass(frozen=True, slots=True)
class Label:
    gtin: str  # GTIN-14
    serial: str
    uri: str  # the Digital Link the QR encodes
    lot: str | None = None

    def hri_lines(self) -> list[str]:
        """GS1 human-readable interpretation: AI in parentheses, then the value."""
        lines = [f"(01) {self.gtin}", f"(21) {self.serial}"]
        if self.lot:
            lines.append(f"(10) {self.lot}")
        return lines


def qr_matrix(uri: str) -> list[list[bool]]:
    """Dark (True) and light modules of the QR symbol for `uri`, quiet zone included."""
    if not uri:
        raise InvalidInputError("a label needs a URI to encode", field="uri")
    qr = segno.make_qr(uri, error="m", boost_error=False)
    return [[bool(m) for m in row] for row in qr.matrix_iter(border=QUIET_ZONE)]


def label_png(label: Label, *, scale: int = 6) -> bytes:
    """One label as a PNG: the QR symbol with the HRI lines below it."""
    from PIL import Image, ImageDraw, ImageFont

    matrix = qr_matrix(label.uri)
    size = len(matrix) * scale
    font_px = max(10, scale * 2 + 2)
    line_h = int(font_px * 1.3)
    lines = label.hri_lines()
    image = Image.new("L", (size, size + line_h * len(lines) + scale * 2), 255)
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                draw.rectangle((x * scale, y * scale, (x + 1) * scale - 1, (y + 1) * scale - 1),
                               fill=0)
    font = ImageFont.load_default(size=font_px)
    for i, text in enumerate(lines):
        draw.text((QUIET_ZONE * scale, size + i * line_h), text, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def label_svg(label: Label, *, module_mm: float = 0.5) -> str:
    """One label as a standalone SVG (millimetre units, text as real text for accessibility)."""
    matrix = qr_matrix(label.uri)
    n = len(matrix)
    lines = label.hri_lines()
    font = 2.8  # user units (modules)
    height = n + len(lines) * font * 1.25 + 1
    # One path with a unit square per dark module: compact and crisp at any size.
    squares = "".join(f"M{x} {y}h1v1h-1z" for y, row in enumerate(matrix)
                      for x, dark in enumerate(row) if dark)
    texts = "".join(
        f'<text x="{QUIET_ZONE}" y="{n + (i + 1) * font * 1.2:.2f}" font-size="{font}">'
        f"{escape(t)}</text>" for i, t in enumerate(lines))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{n * module_mm:g}mm" '
        f'height="{height * module_mm:g}mm" viewBox="0 0 {n} {height:g}">'
        f"<title>{escape(label.uri)}</title>"
        f'<rect width="{n}" height="{height:g}" fill="#fff"/>'
        f'<path fill="#000" shape-rendering="crispEdges" d="{squares}"/>'
        f'<g font-family="DejaVu Sans Mono, monospace" fill="#000">{texts}</g></svg>\n'
    )


def labels_pdf(labels: Sequence[Label], *, columns: int = 3, rows: int = 7,
               title: str | None = None, compress: bool = True) -> bytes:
    """A sheet of labels on A4, `columns` × `rows` per page, in order."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    if not labels:
        raise InvalidInputError("a label sheet needs at least one label", field="labels")
    if columns < 1 or rows < 1:
        raise InvalidInputError("a label sheet needs at least one row and one column")
    page_w, page_h = A4
    margin = 10 * mm
    cell_w = (page_w - 2 * margin) / columns
    cell_h = (page_h - 2 * margin) / rows
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=1, pageCompression=1 if compress else 0)
    canvas.setTitle(title or f"Zhenzhi labels ({len(labels)})")
    canvas.setCreator("zhenzhi")
    per_page = columns * rows
    for index, label in enumerate(labels):
        if index and index % per_page == 0:
            canvas.showPage()
        slot = index % per_page
        x0 = margin + (slot % columns) * cell_w
        top = page_h - margin - (slot // columns) * cell_h
        _draw_label(canvas, label, x0, top, cell_w, cell_h)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def _draw_label(canvas, label: Label, x0: float, top: float, w: float, h: float) -> None:
    matrix = qr_matrix(label.uri)
    lines = label.hri_lines()
    font = 6.5
    text_h = len(lines) * font * 1.25
    side = min(w, h - text_h - 2)
    module = side / len(matrix)
    canvas.setFillGray(0)
    for y, row in enumerate(matrix):
        # Runs of dark modules as one rectangle: a tenth of the drawing operators of one per module.
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                canvas.rect(x0 + start * module, top - (y + 1) * module, (x - start) * module,
                            module, stroke=0, fill=1)
            else:
                x += 1
    canvas.setFont("Courier", font)
    for i, text in enumerate(lines):
        canvas.drawString(x0 + QUIET_ZONE * module, top - side - (i + 1) * font * 1.2, text)
