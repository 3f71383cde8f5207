"""The request-body limit of both APIs, as ASGI middleware in front of everything else.

A body larger than ``max_bytes`` is answered 413 in the ErrorBody shape before any of it is parsed:
at once when its Content-Length says so (a client that sent ``Expect: 100-continue`` never sends
it), else as soon as the bytes received pass the limit (chunked bodies are counted while they
stream in). A body within the limit is read whole and handed on unchanged. Under ``page_prefix``
(the timeline API's dashboard, ``/ui``) the 413 is a small HTML page instead: errors there are pages.
"""

from __future__ import annotations

from typing import Any

import html

import orjson

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int, page_prefix: str | None = None) -> None:
        self.app, self.max_bytes, self.page_prefix = app, max_bytes, page_prefix

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                chunks = []
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), message, receive), send)

    async def _refuse(self, scope: Scope, send: Any) -> None:
        message = f"the request body is larger than {self.max_bytes} bytes (the server's MAX_REQUEST_BYTES)"
        if self.page_prefix and scope.get("path", "").startswith(self.page_prefix):
            body = ('<!doctype html><html lang="ja"><meta charset="utf-8"><title>413 送信内容が大きすぎます</title>'
                    f'<h1>送信内容が大きすぎます</h1><p>{self.max_bytes:,} バイトまで送信できます。</p>'
                    f'<p lang="en">{html.escape(message)}</p></html>').encode()
            kind = b"text/html; charset=utf-8"
        else:
            body, kind = orjson.dumps({"code": "body_too_large", "message": message}), b"application/json"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, last: Message, receive: Any) -> Any:
    """A receive() that gives the body read so far in one message, then whatever the server sends next."""
    pending = [{"type": "http.request", "body": body, "more_body": False} if last["type"] == "http.request" else last]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
