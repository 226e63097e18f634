"""The one loop that joins IO and core: upstream reads -> frames -> translator -> SSE bytes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from gateway.errors import GatewayError
from gateway.sse import DONE, encode_all
from gateway.translate.events import Event
from gateway.translate.run_stream import RunStreamTranslator
from gateway.upstream.client import UpstreamStream
from gateway.upstream.frames import parse_frame

log = logging.getLogger("gateway.relay")


async def relay(
    upstream: UpstreamStream, first: list[bytes], translator: RunStreamTranslator, prelude: list[Event]
) -> AsyncIterator[bytes]:
    """Everything decoded from one upstream read goes out as one chunk; the stream always ends
    with a terminal run event and `done`, and the upstream response is always closed."""
    skipped = 0
    try:
        events = list(prelude)
        payloads: list[bytes] | None = first
        try:
            while payloads is not None:
                for payload in payloads:
                    frame = parse_frame(payload)
                    if frame is None:
                        skipped += 1
                    else:
                        events.extend(translator.on_frame(frame))
                if events:
                    yield encode_all(events)
                    events = []
                if translator.terminal:
                    break
                payloads = await upstream.next_read()
            events.extend(translator.finish())
        except GatewayError as exc:
            events.extend(translator.fail("server_error", exc.message))
        yield encode_all(events) + DONE
    finally:
        if skipped:
            log.warning("skipped %d upstream payloads that were not MiniMax frames", skipped)
        await upstream.aclose()
