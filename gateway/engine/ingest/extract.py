"""The text of an uploaded file, for file_search: plain text and code, HTML, PDF and Word (.docx).

The format is told by the extension of the name the client uploaded the file under; a file with no
extension or an unknown one is recognised by its first bytes as PDF or .docx, else refused. Text
comes out as pieces in document order, never the whole text at once: text and HTML are read in
blocks through an incremental decoder, PDF page by page. PDF and .docx are read by their libraries
from the local copy of the file.

Every failure is an `ExtractError` whose `code` is OpenAI's vector-store-file `last_error.code`
and whose message may be shown to the client: it names no path of this machine. Errors are raised
while iterating (the first `next` opens the file), so one `try` around the loop catches them all.
"""

from __future__ import annotations

import codecs
import logging
import pathlib
import zipfile
from collections.abc import Callable, Iterator
from html.parser import HTMLParser

import docx
import pypdf
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

# pypdf logs a warning for each oddity of a broken file; a PDF it cannot read is reported to the
# client, not to the gateway's log.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_BLOCK = 64 * 1024

TEXT_EXTENSIONS = frozenset(  # a list of words, easier to read as words
    "txt md markdown json csv tsv xml yaml yml c cpp h hpp cs css go java js "  # noqa: SIM905
    "mjs ts tsx php py rb sh tex rst log sql toml ini".split()
)
HTML_EXTENSIONS = frozenset({"html", "htm"})


class ExtractError(Exception):
    """A file whose text cannot be had. `code` is OpenAI's vector-store-file last_error code."""

    code: str  # "unsupported_file" or "invalid_file"
    message: str  # for the client: names no path of this machine

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedFile(ExtractError):
    """A format file_search does not read."""

    code = "unsupported_file"


class InvalidFile(ExtractError):
    """A file of a format that is read, whose text could not be had: undecodable, corrupt,
    password-protected, or holding no text."""

    code = "invalid_file"


def extract(path: pathlib.Path, filename: str) -> Iterator[str]:
    """The text of the file at `path` (a local temporary copy of an uploaded file; `filename` is the
    name the client uploaded it under), as pieces in document order. Raises `InvalidFile` after the
    last piece when the file held no text but whitespace (an empty file, a scanned PDF)."""
    extension = _extension(filename)
    reader = _reader(path, extension)
    found = False
    for piece in reader(path):
        if not piece:
            continue
        if not found and not piece.isspace():
            found = True
        yield piece
    if not found:
        raise InvalidFile("No text could be extracted from the file.")


def _extension(filename: str) -> str:
    name = filename.replace("\\", "/").rpartition("/")[2]
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


def _reader(path: pathlib.Path, extension: str) -> Callable[[pathlib.Path], Iterator[str]]:
    if extension in TEXT_EXTENSIONS:
        return _text
    if extension in HTML_EXTENSIONS:
        return _html
    if extension == "pdf":
        return _pdf
    if extension == "docx":
        return _docx
    with path.open("rb") as file:
        head = file.read(1024)
    if b"%PDF-" in head:
        return _pdf
    if head.startswith(b"PK\x03\x04") and _holds_word_document(path):
        return _docx
    raise UnsupportedFile(
        f"Files of type '{extension or 'none'}' are not supported for file_search. Supported are text "
        "and source code (.txt, .md, .json, .csv, .py, .js, ...), .html, .pdf and .docx."
    )


def _holds_word_document(path: pathlib.Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


# ---- text ----------------------------------------------------------------------------------------


def _text(path: pathlib.Path) -> Iterator[str]:
    """UTF-8 (a byte-order mark dropped), or UTF-16 when the file starts with its byte-order mark."""
    with path.open("rb") as file:
        block = file.read(_BLOCK)
        if block.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding, name = "utf-16", "UTF-16"  # the codec reads the mark and drops it
        else:
            encoding, name = "utf-8-sig", "UTF-8"
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        offset = 0
        while True:
            final = not block
            held = len(decoder.getstate()[0])  # bytes of a character begun in the previous block
            try:
                text = decoder.decode(block, final=final)
            except UnicodeDecodeError as error:
                at = offset - held + error.start
                raise InvalidFile(
                    f"The file is not valid {name} text: an undecodable byte at offset {at}."
                ) from None
            if text:
                yield text
            if final:
                return
            offset += len(block)
            block = file.read(_BLOCK)


# ---- HTML ----------------------------------------------------------------------------------------

# Elements whose content is not shown.
_HIDDEN = frozenset({"script", "style", "noscript", "template"})
# Elements that start a new line of text where they open and where they close.
_BLOCKS = frozenset(  # a list of words, easier to read as words
    "address article aside blockquote body br caption dd details dialog div "  # noqa: SIM905
    "dl dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hr li main nav ol "
    "p pre section summary table tbody tfoot thead title tr ul".split()
)
_CELLS = frozenset({"td", "th"})


class _VisibleText(HTMLParser):
    """Collects the text a browser would show, entities decoded, a line break at each block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._hidden = 0  # depth inside hidden elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif not self._hidden:
            if tag in _BLOCKS:
                self.out.append("\n")
            elif tag in _CELLS:
                self.out.append("\t")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HIDDEN:  # `<script/>` hides nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif not self._hidden and tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.out.append(data)

    def take(self) -> str:
        text = "".join(self.out)
        self.out.clear()
        return text


def _html(path: pathlib.Path) -> Iterator[str]:
    """The visible text, decoded as `_text` decodes (a `<meta charset>` is not read), fed to the
    parser block by block."""
    parser = _VisibleText()
    for block in _text(path):
        parser.feed(block)
        yield parser.take()
    parser.close()
    yield parser.take()


# ---- PDF -----------------------------------------------------------------------------------------


def _pdf(path: pathlib.Path) -> Iterator[str]:
    """Each page's text in page order, a blank line between pages. An encrypted PDF is read if it
    opens with the empty password (a PDF that only restricts printing or copying)."""
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
            raise InvalidFile("The PDF is password-protected.")
        count = len(reader.pages)
    except ExtractError:
        raise
    except Exception as error:  # a corrupt file makes pypdf raise almost anything
        raise _pdf_error(error, path) from None
    for number in range(count):
        try:
            text = reader.pages[number].extract_text()
        except Exception as error:
            raise _pdf_error(error, path, f"page {number + 1}: ") from None
        yield text if number == 0 else "\n\n" + text


def _pdf_error(error: Exception, path: pathlib.Path, where: str = "") -> InvalidFile:
    if isinstance(error, pypdf.errors.DependencyError):
        # An optional decoder pypdf lacks here: AES without `cryptography`, Brotli, JBIG2.
        return InvalidFile(
            f"The PDF could not be read: {where}it uses an encryption or compression "
            "that this server cannot decode."
        )
    return InvalidFile(f"The PDF could not be read: {where}{_reason(error, path)}")


# ---- Word ----------------------------------------------------------------------------------------


def _docx(path: pathlib.Path) -> Iterator[str]:
    """Paragraphs and tables in document order, one paragraph a line; a table row is one line, its
    cells separated by tabs; tables nested in cells included."""
    try:
        document = docx.Document(str(path))
        lines = _lines(document.iter_inner_content())
    except PackageNotFoundError:  # python-docx's word for "not a zip archive"
        raise InvalidFile("The Word document could not be read: it is not a .docx file.") from None
    except Exception as error:  # no word/document.xml, bad XML, wrong content type
        raise InvalidFile(f"The Word document could not be read: {_reason(error, path)}") from None
    batch: list[str] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line) + 1
        if size >= _BLOCK:
            yield "\n".join(batch) + "\n"
            batch.clear()
            size = 0
    if batch:
        yield "\n".join(batch) + "\n"


def _lines(content: Iterator[Paragraph | Table]) -> list[str]:
    lines: list[str] = []
    for item in content:
        if isinstance(item, Paragraph):
            lines.append(item.text)
            continue
        for row in item.rows:
            cells = []
            previous = None
            for cell in row.cells:
                if cell._tc is previous:  # a merged cell is listed once per grid column it spans
                    continue
                previous = cell._tc
                cells.append("\n".join(_lines(cell.iter_inner_content())))
            lines.append("\t".join(cells))
        lines.append("")
    return lines


def _reason(error: Exception, path: pathlib.Path) -> str:
    """A short description of `error` that does not show where the file lies on this machine."""
    text = str(error).replace(str(path), "the file").strip()
    if len(text) > 200:
        text = text[:200] + "..."
    return text or type(error).__name__
