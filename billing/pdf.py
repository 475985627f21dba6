"""Statements as PDF documents, drawn with fpdf2: a title, lines under it, a table, and totals.

The standard Helvetica font needs no embedding; it covers Latin-1, so text outside it is shown as '?'
(descriptions and amounts are Latin text; a user's handle may not be).
"""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF
from fpdf.fonts import FontFace

RIGHT_ALIGNED = ("Amount", "Balance")  # money columns line up on the right


def _latin(text: str) -> str:
    return text.replace("\u2013", "-").replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1")


def table_pdf(
    *,
    title: str,
    lines: Sequence[str],
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    totals: Sequence[tuple[str, str]],
    empty: str = "Nothing this month.",
    widths: Sequence[int] | None = None,
) -> bytes:
    """An A4 document: ``title``, the ``lines`` under it, a table of ``rows`` under ``header`` (repeated on
    every page; ``widths`` in relative units), then ``totals`` as label/value pairs."""
    pdf = FPDF(format="A4")
    pdf.set_title(_latin(title))
    pdf.set_creator("time-slice marketplace")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(text=_latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for line in lines:
        pdf.cell(text=_latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=9)
    align = tuple("RIGHT" if name in RIGHT_ALIGNED else "LEFT" for name in header)
    with pdf.table(
        col_widths=tuple(widths) if widths else None,
        text_align=align,
        headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230)),
        line_height=5,
        repeat_headings=1,
    ) as table:
        table.row([_latin(name) for name in header])
        for values in rows:
            table.row([_latin(value) for value in values])
        if not rows:
            table.row([_latin(empty), *([""] * (len(header) - 1))])
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    for label, value in totals:
        pdf.cell(w=120, text=_latin(label))
        pdf.cell(w=0, text=_latin(value), align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
