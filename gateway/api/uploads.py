"""A multipart/form-data upload read as it arrives: the form's fields kept, the file's bytes handed on.

python-multipart's push parser is fed each piece of the request body; its callbacks record what the
piece held (field bytes, file bytes, part boundaries), and `upload()` turns that into a `FileUpload`
whose `content` yields the file's bytes piece by piece, so a 512 MB file never sits in memory. Fields
sent before the file are known when the backend starts (the SDKs send `purpose` first); the rest once
`content` is exhausted. Exactly one part may carry a file, under the name `file`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Final

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from gateway.backend import FileUpload
from gateway.errors import InvalidRequest

FIELD_MAX: Final = 64 * 1024  # one ordinary form field
FIELDS_MAX: Final = 32

_Event = tuple[str, bytes]


class _Parts:
    """The parser's callbacks, recorded as events: ("begin", b""), ("header", raw), ("headers", b""),
    ("data", bytes), ("end", b"")."""

    def __init__(self, boundary: bytes) -> None:
        self.events: deque[_Event] = deque()
        self.closed = False  # the closing boundary was read
        self._field = bytearray()
        self._value = bytearray()
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: self.events.append(("begin", b"")),
                "on_part_data": lambda data, start, end: self.events.append(("data", bytes(data[start:end]))),
                "on_part_end": lambda: self.events.append(("end", b"")),
                "on_header_field": self._header_piece,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": lambda: self.events.append(("headers", b"")),
                "on_end": self._end,
            },
        )

    def _end(self) -> None:
        self.closed = True

    def _header_piece(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self.events.append(("header", bytes(self._field) + b"\x00" + bytes(self._value)))
        self._field.clear()
        self._value.clear()


class _Form:
    def __init__(self, request: Request, boundary: bytes) -> None:
        self._body = request.stream().__aiter__()
        self._parts = _Parts(boundary)
        self._done = False
        self.fields: dict[str, str] = {}
        self._name: str | None = None
        self._filename: str | None = None
        self._value = bytearray()

    async def _event(self) -> _Event | None:
        """The next event, reading more of the body as needed; None at the body's end."""
        events = self._parts.events
        while not events:
            if self._done:
                return None
            piece = await anext(self._body, None)
            try:
                if piece is None:
                    self._done = True
                    self._parts.parser.finalize()
                    if not self._parts.closed:  # a cut body must not pass for a shorter file
                        raise InvalidRequest(
                            "The multipart body ended before its closing boundary", param="file"
                        )
                elif piece:
                    self._parts.parser.write(piece)
            except MultipartParseError as exc:
                raise InvalidRequest(f"The multipart body could not be parsed: {exc}") from None
        return events.popleft()

    async def next_part(self) -> bool:
        """Read up to the next part's headers (fields before it are stored); False at the end."""
        while (event := await self._event()) is not None:
            kind, data = event
            if kind == "begin":
                self._name, self._filename = None, None
                self._value.clear()
            elif kind == "header":
                self._header(data)
            elif kind == "headers":
                if self._filename is not None:
                    return True
            elif kind == "data":
                self._value += data
                if len(self._value) > FIELD_MAX:
                    raise InvalidRequest(f"A form field is longer than {FIELD_MAX} bytes", param=self._name)
            elif kind == "end" and self._name is not None:
                if len(self.fields) >= FIELDS_MAX:
                    raise InvalidRequest(f"The form has more than {FIELDS_MAX} fields")
                self.fields[self._name] = self._value.decode("utf-8", "replace")
        return False

    def _header(self, raw: bytes) -> None:
        name, _, value = raw.partition(b"\x00")
        if name.strip().lower() != b"content-disposition":
            return
        _, options = parse_options_header(value)
        self._name = options.get(b"name", b"").decode("utf-8", "replace") or None
        filename = options.get(b"filename")
        if filename is not None:
            self._filename = filename.decode("utf-8", "replace")

    async def file_bytes(self) -> AsyncIterator[bytes]:
        """The current file part's bytes, then the rest of the form (its fields stored)."""
        while (event := await self._event()) is not None:
            kind, data = event
            if kind == "data":
                yield data
            elif kind == "end":
                break
        if await self.next_part():
            raise InvalidRequest("Only one file may be uploaded per request", param="file")

    @property
    def file_field(self) -> tuple[str | None, str]:
        return self._name, self._filename or ""


async def upload(request: Request) -> FileUpload:
    """The request's file, ready to be read; 400 for a body that is not a multipart form with a file."""
    kind, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest("Expected a multipart/form-data body with a 'file' part", param="file")
    form = _Form(request, boundary)
    if not await form.next_part():
        raise InvalidRequest(
            "Missing required parameter: 'file'.", param="file", code="missing_required_parameter"
        )
    name, filename = form.file_field
    if name != "file":
        raise InvalidRequest(f"Unexpected file part {name!r}: upload the file as 'file'", param=name)
    return FileUpload(filename=filename, fields=form.fields, content=form.file_bytes())
