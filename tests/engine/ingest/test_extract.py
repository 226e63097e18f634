"""extract: the text of real files of each supported format, and the right error for the others."""

# ruff: noqa: RUF001  (the CJK samples use full-width punctuation, as CJK text does)

from __future__ import annotations

import codecs
import logging
import random
import re
import zipfile
from pathlib import Path

import docx
import pytest

from gateway.engine.ingest import extract as extract_module
from gateway.engine.ingest.extract import ExtractError, InvalidFile, UnsupportedFile, extract
from tests.engine.ingest.helpers import write_docx, write_pdf, write_zip

BLOCK = extract_module._BLOCK

CHINESE = "文件搜索把上传的文件切成小块，再按意思找回来。"
JAPANESE = "アップロードしたファイルを小さな塊に分けて、意味で検索します。"


def text_of(path: Path, filename: str) -> str:
    return "".join(extract(path, filename))


def failure(path: Path, filename: str) -> ExtractError:
    with pytest.raises(ExtractError) as caught:
        for _ in extract(path, filename):
            pass
    error = caught.value
    assert str(path.parent) not in error.message  # nothing of this machine shown to the client
    return error


# ---- plain text ------------------------------------------------------------------------------------


def test_utf8_text_passes_through_unaltered(tmp_path: Path) -> None:
    text = "line one\r\nline two\n\ttabbed  spaced\u00a0é ж λ 🙂\n"
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode())
    assert text_of(path, "notes.txt") == text


@pytest.mark.parametrize("filename", ["README.MD", "data.Json", "main.py", "q.sql", "x.tsx", "conf.ini"])
def test_the_text_family_is_told_by_extension_in_any_case(tmp_path: Path, filename: str) -> None:
    path = tmp_path / "upload"
    path.write_bytes(b"print('hi')\n")
    assert text_of(path, filename) == "print('hi')\n"


def test_chinese_and_japanese_come_out_intact(tmp_path: Path) -> None:
    text = f"{CHINESE}\n{JAPANESE}\n"
    path = tmp_path / "cjk.md"
    path.write_bytes(text.encode())
    assert text_of(path, "cjk.md") == text


def test_a_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(codecs.BOM_UTF8 + b"with a mark")
    assert text_of(path, "bom.txt") == "with a mark"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_is_read_when_the_file_starts_with_its_byte_order_mark(tmp_path: Path, encoding: str) -> None:
    bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
    text = f"UTF-16 text {CHINESE} 🙂\n"
    path = tmp_path / "wide.txt"
    path.write_bytes(bom + text.encode(encoding))
    assert text_of(path, "wide.txt") == text


def test_a_multibyte_character_split_by_the_block_boundary_comes_out_whole(tmp_path: Path) -> None:
    # "中" is 3 bytes: one before the first block's end, two after; "🙂" (4 bytes) straddles the second.
    text = "a" * (BLOCK - 1) + "中" + "b" * (BLOCK - 4) + "🙂" + "tail\n"
    data = text.encode()
    assert data[BLOCK - 1 : BLOCK + 2] == "中".encode()
    assert data[2 * BLOCK - 2 : 2 * BLOCK + 2] == "🙂".encode()
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    pieces = list(extract(path, "big.txt"))
    assert "".join(pieces) == text
    assert len(pieces) >= 3
    assert max(len(piece) for piece in pieces) <= BLOCK  # never the whole text at once


def test_invalid_utf8_is_an_invalid_file_naming_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9 au lait")
    error = failure(path, "latin1.txt")
    assert isinstance(error, InvalidFile)
    assert error.code == "invalid_file"
    assert "not valid UTF-8 text" in error.message
    assert "offset 3" in error.message


def test_utf8_cut_inside_a_character_at_the_end_is_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.txt"
    path.write_bytes(b"fine until " + "中".encode()[:2])
    assert isinstance(failure(path, "cut.txt"), InvalidFile)


def test_an_invalid_byte_after_the_first_block_fails_after_the_text_before_it(tmp_path: Path) -> None:
    # The block ends inside "中", whose last byte is replaced by a space: the offset is the character's.
    data = b"x" * (BLOCK - 2) + "中".encode()[:2] + b" tail"
    path = tmp_path / "late.txt"
    path.write_bytes(data)
    got: list[str] = []
    with pytest.raises(InvalidFile, match=f"an undecodable byte at offset {BLOCK - 2}[.]"):
        for piece in extract(path, "late.txt"):
            got.append(piece)
    assert "".join(got) == "x" * (BLOCK - 2)


@pytest.mark.parametrize("content", [b"", b"  \n\t\r\n  "])
def test_a_file_without_text_is_an_invalid_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    error = failure(path, "empty.txt")
    assert isinstance(error, InvalidFile)
    assert error.message == "No text could be extracted from the file."


def test_whitespace_is_yielded_before_the_no_text_error(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(b" \n")
    pieces = extract(path, "blank.txt")
    assert next(pieces) == " \n"
    with pytest.raises(InvalidFile):
        next(pieces)


# ---- HTML ------------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><title>The title</title><style>body { color: red }</style>
<script>var hidden = "<p>not text</p>";</script></head>
<body><h1>Heading</h1><p>Fish &amp; chips &lt;3 &eacute;t&#233; &#x4e2d;</p>
<noscript>enable scripts</noscript><template><p>template text</p></template>
<div>one<br>two<br/>three</div><ul><li>first</li><li>second</li></ul>
<table><tr><td>a1</td><td>b1</td></tr></table></body></html>"""


def test_html_gives_the_visible_text_with_entities_decoded(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    text = text_of(path, "page.HTM")
    assert "Fish & chips <3 été 中" in text
    for hidden in ("color: red", "var hidden", "not text", "enable scripts", "template text", "<"):
        assert hidden not in text.replace("<3", "")
    assert "The title" in text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    expected = ["The title", "Heading", "Fish & chips <3 été 中", "one", "two", "three", "first", "second"]
    assert lines == [*expected, "a1\tb1"]


def test_html_is_parsed_block_by_block_even_with_an_entity_across_blocks(tmp_path: Path) -> None:
    head = "<p>" + "w" * (BLOCK - 5)
    page = head + "&amp; after</p>" + "<p>more</p>" * 20000
    assert page.encode()[BLOCK - 2 : BLOCK + 3] == b"&amp;"
    path = tmp_path / "long.html"
    path.write_text(page, encoding="utf-8")
    pieces = list(extract(path, "long.html"))
    text = "".join(pieces)
    assert "w& after" in text
    assert text.count("more") == 20000
    assert len(pieces) >= 3


# ---- PDF -------------------------------------------------------------------------------------------

PAGES = ["Page one is about apples", "Page two is about pears", "Page three is about plums"]


def test_pdf_pages_come_out_in_order_one_piece_per_page(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "fruit.pdf", PAGES)
    pieces = list(extract(path, "fruit.pdf"))
    assert len(pieces) == 3
    assert "".join(pieces) == "\n\n".join(PAGES)


@pytest.mark.parametrize("filename", ["report", "report.bin", "report.DAT"])
def test_a_pdf_without_a_known_extension_is_recognised_by_its_header(tmp_path: Path, filename: str) -> None:
    path = write_pdf(tmp_path / "upload", PAGES)
    assert text_of(path, filename) == "\n\n".join(PAGES)


def test_a_pdf_with_a_user_password_is_an_invalid_file(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "locked.pdf", PAGES, owner_password="owner", user_password="user")
    error = failure(path, "locked.pdf")
    assert isinstance(error, InvalidFile)
    assert "password" in error.message


def test_a_pdf_encrypted_with_only_an_owner_password_is_read(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "restricted.pdf", PAGES, owner_password="owner")
    assert b"/Encrypt" in path.read_bytes()
    assert text_of(path, "restricted.pdf") == "\n\n".join(PAGES)


def test_a_truncated_pdf_is_an_invalid_file(tmp_path: Path) -> None:
    whole = write_pdf(tmp_path / "whole.pdf", PAGES).read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(whole[: len(whole) // 2])
    error = failure(path, "truncated.pdf")
    assert isinstance(error, InvalidFile)
    assert error.message.startswith("The PDF could not be read: ")


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_behind_a_pdf_header_are_an_invalid_file(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "noise.pdf"
    path.write_bytes(b"%PDF-1.7\n" + rng.randbytes(4000) + b"\n%%EOF\n")
    error = failure(path, "noise")  # sniffed as a PDF, then refused as a broken one
    assert isinstance(error, InvalidFile)
    assert error.message.startswith("The PDF could not be read: ")


def test_a_broken_pdf_does_not_fill_the_log_with_pypdf_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole = write_pdf(tmp_path / "whole.pdf", PAGES).read_bytes()
    path = tmp_path / "damaged.pdf"
    pointer = re.search(rb"startxref\s+(\d+)", whole)
    assert pointer is not None
    wrong = str(int(pointer.group(1)) + 7).encode()  # pypdf warns, then finds the table itself
    path.write_bytes(whole[: pointer.start(1)] + wrong + whole[pointer.end(1) :])
    with caplog.at_level(logging.DEBUG):
        assert text_of(path, "damaged.pdf") == "\n\n".join(PAGES)
    assert [record for record in caplog.records if record.name.startswith("pypdf")] == []


def test_a_pdf_whose_pages_hold_no_text_is_an_invalid_file(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "scan.pdf", ["", ""])
    error = failure(path, "scan.pdf")
    assert error.message == "No text could be extracted from the file."


def test_a_broken_page_is_an_invalid_file_naming_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pypdf

    def broken(self: pypdf.PageObject, *args: object, **kwargs: object) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(pypdf.PageObject, "extract_text", broken)
    path = write_pdf(tmp_path / "deep.pdf", PAGES)
    error = failure(path, "deep.pdf")
    assert error.message == "The PDF could not be read: page 1: maximum recursion depth exceeded"


# ---- Word ------------------------------------------------------------------------------------------


def test_docx_paragraphs_and_table_cells_come_in_document_order(tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "memo.docx",
        ["Intro paragraph", "Second paragraph"],
        [["name", "price"], ["apple", "3"]],
        ["Closing paragraph"],
    )
    lines = [line for line in text_of(path, "memo.docx").splitlines() if line]
    assert lines == ["Intro paragraph", "Second paragraph", "name\tprice", "apple\t3", "Closing paragraph"]


def test_a_merged_cell_counts_once_and_a_nested_table_is_read(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "merged"
    table.cell(0, 2).text = "right"
    table.cell(1, 0).add_table(rows=1, cols=2).cell(0, 1).text = "nested"
    document.save(str(tmp_path / "cells.docx"))
    text = text_of(tmp_path / "cells.docx", "cells.docx")
    assert text.count("merged") == 1
    assert "merged\tright" in text
    assert "nested" in text


def test_a_docx_without_a_known_extension_is_recognised_by_its_content(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "upload", ["Sniffed paragraph"], [["x"]], [])
    assert "Sniffed paragraph" in text_of(path, "upload")


def test_a_zip_without_a_word_document_named_docx_is_an_invalid_file(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "fake.docx", {"hello.txt": "not a document"})
    error = failure(path, "fake.docx")
    assert isinstance(error, InvalidFile)
    assert error.message.startswith("The Word document could not be read: ")


def test_random_bytes_named_docx_are_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.docx"
    path.write_bytes(random.Random(7).randbytes(3000))
    error = failure(path, "noise.docx")
    assert isinstance(error, InvalidFile)
    assert error.message == "The Word document could not be read: it is not a .docx file."


def test_a_docx_with_broken_xml_is_an_invalid_file(tmp_path: Path) -> None:
    good = write_docx(tmp_path / "good.docx", ["text"], [["x"]], [])
    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, b"<w:document><unclosed" if item.filename == "word/document.xml" else data)
    assert isinstance(failure(path, "broken.docx"), InvalidFile)


# ---- unsupported -----------------------------------------------------------------------------------

OLE_HEADER = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504)
PNG_HEADER = b"\x89PNG\r\n\x1a\n" + bytes(100)


@pytest.mark.parametrize(
    ("filename", "content", "named"),
    [
        ("old.doc", OLE_HEADER, "'doc'"),
        ("slides.pptx", None, "'pptx'"),
        ("sheet.xlsx", None, "'xlsx'"),
        ("picture.png", PNG_HEADER, "'png'"),
        ("bundle.zip", None, "'zip'"),
        ("plain", b"just some words with no extension\n", "'none'"),
    ],
)
def test_other_formats_are_unsupported(
    tmp_path: Path, filename: str, content: bytes | None, named: str
) -> None:
    path = tmp_path / "upload"
    if content is None:
        write_zip(path, {"ppt/presentation.xml": "<p/>", "[Content_Types].xml": "<Types/>"})
    else:
        path.write_bytes(content)
    error = failure(path, filename)
    assert isinstance(error, UnsupportedFile)
    assert error.code == "unsupported_file"
    assert f"Files of type {named} are not supported for file_search" in error.message
    assert ".pdf" in error.message


def test_errors_come_from_iterating_not_from_the_call(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(PNG_HEADER)
    pieces = extract(path, "picture.png")  # no error yet
    with pytest.raises(UnsupportedFile):
        next(pieces)
