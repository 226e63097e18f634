"""Real documents made on the spot for the extraction tests: PDFs by fpdf2, Word files by python-docx."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
from fpdf import FPDF


def write_pdf(
    path: Path, pages: list[str], *, user_password: str | None = None, owner_password: str | None = None
) -> Path:
    """A PDF with one page per entry of `pages`, each holding that line of text (an empty entry
    makes a page with a drawing and no text). With a password the PDF is encrypted (RC4, which pypdf
    decrypts without optional packages)."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.cell(text=text)
        else:
            pdf.rect(20, 20, 100, 60, style="F")
    if owner_password is not None:
        pdf.set_encryption(owner_password=owner_password, user_password=user_password)
    pdf.output(str(path))
    return path


def write_docx(path: Path, before: list[str], table: list[list[str]], after: list[str]) -> Path:
    """A Word file: the paragraphs `before`, a table with `table`'s rows, then the paragraphs `after`."""
    document = docx.Document()
    for text in before:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, text in enumerate(row):
            grid.cell(r, c).text = text
    for text in after:
        document.add_paragraph(text)
    document.save(str(path))
    return path


def write_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path
