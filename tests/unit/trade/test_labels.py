"""Labels: every format carries a QR code that a real decoder (zxing-cpp) reads back as the
item's Digital Link, plus the human-readable GTIN/serial/lot."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from ledger.errors import InvalidInputError
from ledger.trade.labels import Label, label_png, label_svg, labels_pdf, qr_matrix

URI = "https://id.zhenzhi.example/01/09506000134352/10/LOT-2024-07/21/7Hq2xKp9ZmWc"
LABEL = Label(gtin="09506000134352", serial="7Hq2xKp9ZmWc", uri=URI, lot="LOT-2024-07")


def decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def test_png_decodes_to_the_digital_link() -> None:
    image = Image.open(io.BytesIO(label_png(LABEL)))
    assert image.format == "PNG"
    assert decode(image) == [URI]


@given(gtin=st.from_regex(r"\A[0-9]{14}\Z"),
       serial=st.from_regex(r"\A[0-9A-Za-z]{1,20}\Z"),
       lot=st.from_regex(r"\A[0-9A-Za-z\-]{1,20}\Z"))
@settings(max_examples=15, deadline=None)
def test_any_code_round_trips_through_the_png(gtin, serial, lot) -> None:
    uri = f"https://id.example/01/{gtin}/10/{lot}/21/{serial}"
    image = Image.open(io.BytesIO(label_png(Label(gtin, serial, uri, lot), scale=4)))
    assert decode(image) == [uri]


def _paint(squares: list[tuple[float, float, float, float]], width: float, height: float,
           scale: float) -> Image.Image:
    image = Image.new("L", (int(width * scale) + 1, int(height * scale) + 1), 255)
    draw = ImageDraw.Draw(image)
    for x, y, w, h in squares:
        draw.rectangle((x * scale, y * scale, (x + w) * scale - 1, (y + h) * scale - 1), fill=0)
    return image


def test_svg_is_valid_xml_with_the_hri_and_a_decodable_symbol() -> None:
    svg = label_svg(LABEL)
    root = ET.fromstring(svg.split("\n", 1)[1])
    ns = {"s": "http://www.w3.org/2000/svg"}
    texts = [t.text for t in root.iterfind(".//s:text", ns)]
    assert texts == ["(01) 09506000134352", "(21) 7Hq2xKp9ZmWc", "(10) LOT-2024-07"]
    d = root.find("s:path", ns).get("d")
    squares = [(float(x), float(y), 1.0, 1.0) for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", d)]
    n = len(qr_matrix(URI))
    assert decode(_paint(squares, n, n, 8)) == [URI]


def test_pdf_sheet_paginates_and_each_label_decodes() -> None:
    labels = [Label("09506000134352", f"S{i:04d}x", URI.replace("7Hq2xKp9ZmWc", f"S{i:04d}x"),
                    "L1") for i in range(5)]
    pdf = labels_pdf(labels, columns=2, rows=2, compress=False)
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 2  # four on the first page, one on the next
    exactly_full = labels_pdf(labels[:4], columns=2, rows=2, compress=False)
    assert len(re.findall(rb"/Type /Page\b", exactly_full)) == 1  # no blank trailing page
    content = pdf.decode("latin-1")
    for i in range(5):
        assert f"\\(21\\) S{i:04d}x" in content  # PDF strings escape parentheses
    # Rebuild the first page's vector modules into an image and decode every symbol on it.
    first_page = content.split("S0003x")[0]
    rects = [tuple(map(float, m)) for m in
             re.findall(r"([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) re f", first_page)]
    assert rects
    top = max(y + h for _, y, _, h in rects)
    flipped = [(x, top - y - h, w, h) for x, y, w, h in rects]  # PDF's y axis points up
    image = _paint(flipped, 600, top, 3)
    found = sorted(r.text for r in zxingcpp.read_barcodes(image))
    assert found == sorted(labels[i].uri for i in range(4))


def test_pdf_is_deterministic() -> None:
    assert labels_pdf([LABEL]) == labels_pdf([LABEL])


def test_empty_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        labels_pdf([])
    with pytest.raises(InvalidInputError):
        qr_matrix("")
