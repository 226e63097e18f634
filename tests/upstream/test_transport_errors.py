"""The one table from the HTTP libraries' exceptions to the gateway's errors, and its boundary."""

from __future__ import annotations

import aiohttp
import httpx
import pytest

from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout
from gateway.upstream import h1
from gateway.upstream.errors import TRANSPORT_ERRORS, TRANSPORT_FAILURES, TransportErrors, transport_error


def _under_httpx(cause: BaseException) -> httpx.HTTPError:
    """As httpx-aiohttp raises it: renamed, the aiohttp error kept as the cause."""
    exc = httpx.ConnectTimeout("renamed")
    exc.__cause__ = cause
    return exc


CASES: list[tuple[Exception, type[GatewayError], str, bool]] = [
    # h1's, for streamed answers: only a failure to connect is retried
    (h1.ConnectTimeout("x"), UpstreamTimeout, "MiniMax did not accept the connection in time", False),
    (h1.ConnectFailed("x"), UpstreamError, "could not connect to MiniMax", False),
    (h1.ReadTimeout("x"), UpstreamTimeout, "MiniMax did not answer in time (ReadTimeout)", True),
    (h1.Disconnected("x"), UpstreamError, "the connection to MiniMax failed (Disconnected)", True),
    (h1.BadResponse("x"), UpstreamError, "the connection to MiniMax failed (BadResponse)", True),
    (
        aiohttp.ConnectionTimeoutError(),
        UpstreamTimeout,
        "MiniMax did not accept the connection in time",
        False,
    ),
    (
        aiohttp.ServerTimeoutError(),  # a timeout, not a dropped connection, though a ClientError too
        UpstreamTimeout,
        "MiniMax did not answer in time (ServerTimeoutError)",
        True,
    ),
    (
        aiohttp.SocketTimeoutError(),
        UpstreamTimeout,
        "MiniMax did not answer in time (SocketTimeoutError)",
        True,
    ),
    (TimeoutError(), UpstreamTimeout, "MiniMax did not answer in time (TimeoutError)", True),
    (
        aiohttp.ServerDisconnectedError(),
        UpstreamError,
        "the connection to MiniMax failed (ServerDisconnectedError)",
        True,
    ),
    (
        aiohttp.ClientPayloadError("cut"),
        UpstreamError,
        "the connection to MiniMax failed (ClientPayloadError)",
        True,
    ),
    (
        _under_httpx(aiohttp.ServerDisconnectedError()),
        UpstreamError,
        "the connection to MiniMax failed (ServerDisconnectedError)",
        True,
    ),
    (
        _under_httpx(aiohttp.ConnectionTimeoutError()),
        UpstreamTimeout,
        "MiniMax did not accept the connection in time",
        False,
    ),
    (httpx.ReadTimeout("slow"), UpstreamTimeout, "MiniMax did not answer in time (ReadTimeout)", True),
    (
        httpx.RemoteProtocolError("bad"),
        UpstreamError,
        "the connection to MiniMax failed (RemoteProtocolError)",
        True,
    ),
]


@pytest.mark.parametrize(("exc", "kind", "message", "reached"), CASES, ids=lambda v: type(v).__name__)
def test_the_table_maps_each_failure(
    exc: Exception, kind: type[GatewayError], message: str, reached: bool
) -> None:
    error = transport_error(exc)
    assert type(error) is kind
    assert error.message == message
    assert error.reached_upstream is reached


def test_the_boundary_raises_the_mapped_error_with_no_cause() -> None:
    with pytest.raises(UpstreamError) as caught, TransportErrors() as boundary:
        raise aiohttp.ServerDisconnectedError("http://h/v1/x?GroupId=g")
    assert boundary.caught == "ServerDisconnectedError"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "GroupId" not in str(caught.value)  # the library's text (it can name the request) is left out


def test_the_boundary_lets_other_exceptions_through() -> None:
    with pytest.raises(KeyError), TransportErrors() as boundary:
        raise KeyError("x")
    assert boundary.caught is None
    with TransportErrors() as boundary:
        pass
    assert boundary.caught is None


def test_every_entry_is_a_class_the_boundary_catches() -> None:
    assert set(TRANSPORT_FAILURES) == set(TRANSPORT_ERRORS)
    assert issubclass(aiohttp.ClientConnectorError, TRANSPORT_FAILURES)
    assert issubclass(httpx.HTTPError, TRANSPORT_FAILURES)
