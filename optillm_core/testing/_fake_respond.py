"""How the fake upstream answers a chat request: injected faults, whole completions, streams."""

from __future__ import annotations

import http

import anyio

from optillm_core.testing import _fake_render as render
from optillm_core.testing._fake_http import Responder
from optillm_core.testing._fake_types import Fault, Reply

_MALFORMED = b'{"id": "chatcmpl-fake", "object": "chat.completion", "choices": [{"index": 0, '
_SSE = "text/event-stream; charset=utf-8"


def _phrase(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


async def apply_fault(fault: Fault, responder: Responder) -> bool:
    """Sleep the fault's delay; answer for it when it ends the request (then return True)."""
    if fault.delay > 0:
        await anyio.sleep(fault.delay)
    if fault.status is not None:
        message = fault.message or f"Fake upstream fault: {_phrase(fault.status)}"
        await responder.error(fault.status, message, code=fault.code, headers=fault.headers.items())
    elif fault.drop:
        await responder.start(200)
        responder.dropped = True
    elif fault.malformed:
        await responder.start(200)
        await responder.body(_MALFORMED)
    return fault.ends_request


async def send_completion(
    meta: render.Meta,
    replies: list[Reply],
    usage: dict[str, int],
    fault: Fault | None,
    responder: Responder,
) -> bool:
    """Send a whole completion; True when sent in full (a ``stream_cut`` drops it halfway)."""
    if fault is not None and fault.stall > 0:
        await anyio.sleep(fault.stall)
    data = render.dumps(render.completion(meta, replies, usage))
    if fault is not None and fault.stream_cut:
        await responder.start(200, headers=[("content-length", str(len(data)))])
        await responder.body(data[: len(data) // 2], more=True)
        responder.dropped = True
        return False
    headers = [("content-length", str(len(data))), ("x-request-id", meta.id)]
    await responder.start(200, headers=headers)
    await responder.body(data)
    return True


def _events(
    meta: render.Meta, replies: list[Reply], usage: dict[str, int], cut: bool
) -> list[bytes]:
    deltas = render.interleave(
        render.choice_deltas(index, reply) for index, reply in enumerate(replies)
    )
    if cut:
        return [render.chunk(meta, [delta]) for delta in deltas[: max(1, len(deltas) // 2)]]
    events = [render.chunk(meta, [delta]) for delta in deltas]
    finishes = [render.finish_choice(index, reply) for index, reply in enumerate(replies)]
    events += [render.chunk(meta, [finish]) for finish in finishes]
    if meta.include_usage:
        events.append(render.chunk(meta, [], usage))
    events.append(render.DONE)
    return events


async def send_stream(
    meta: render.Meta,
    replies: list[Reply],
    usage: dict[str, int],
    fault: Fault | None,
    responder: Responder,
    chunk_delay: float,
) -> bool:
    """Stream the replies as SSE; True when streamed in full, through ``data: [DONE]``.

    A ``stall`` fault pauses after the first chunk; a ``stream_cut`` fault ends the body
    cleanly after about half the deltas, with no finish_reason and no ``[DONE]``.
    """
    cut = fault is not None and fault.stream_cut
    stall = fault.stall if fault is not None else 0.0
    events = _events(meta, replies, usage, cut)
    headers = [("cache-control", "no-cache"), ("x-request-id", meta.id)]
    await responder.start(200, _SSE, headers)
    for position, event in enumerate(events):
        if position == 1 and stall > 0:
            await anyio.sleep(stall)
        elif position > 0 and chunk_delay > 0:
            await anyio.sleep(chunk_delay)
        await responder.body(event, more=True)
    await responder.body(b"")
    return not cut
