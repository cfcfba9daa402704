"""Heavy use cases in their own process behind the root service.

A forecast request holds the interpreter lock for ~100 ms and more: pydantic validating a body of
hundreds of series, then statsforecast and ONNX. In the root service's one worker that stalls
every other use case's requests behind it (the head-of-line line of `pilotpack bench`). So the
root declares each such use case's service a BentoML dependency, which `bentoml serve` runs as a
process of its own, and this middleware forwards that use case's requests to it as raw bytes:
the root never parses them. The dependency is the same protected service as
`bentoml serve shared.serve.services:<name>`: its own auth and guard check, limit, log and refuse
the request, once; the body is streamed on, so an oversized one never sits in the root's memory.

When BentoML runs the dependency in process (`--development`, or tests that build the app
alone), there is no address to forward to and requests fall through to the root's own APIs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from bentoml._internal.container import BentoMLContainer
from starlette.types import ASGIApp, Receive, Scope, Send

# Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded; the client sets its own host.
_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"host",
     b"proxy-authorization", b"trailer"}
)  # fmt: skip


def dependency_urls() -> Mapping[str, str]:
    """{service name: address} of the dependencies `bentoml serve` started for this worker."""
    return BentoMLContainer.remote_runner_mapping.get()


def client_for(url: str) -> httpx.AsyncClient:
    """An HTTP client to one dependency: a unix socket (`file://...`) or a TCP address."""
    if url.startswith("file://"):
        transport = httpx.AsyncHTTPTransport(uds=url.removeprefix("file://"))
        return httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=None)
    return httpx.AsyncClient(base_url=url.replace("tcp://", "http://"), timeout=None)


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives on the ASGI receive channel."""
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


class OwnProcess:
    """Forward `/<prefix>/...` requests to the dependency serving that use case, when it runs
    in a process of its own."""

    def __init__(self, app: ASGIApp, prefixes: Mapping[str, str]):
        self.app = app
        self.prefixes = {f"/{p}/": name for p, name in prefixes.items()}  # path prefix -> service
        self.clients: dict[str, httpx.AsyncClient] | None = None

    def _clients(self) -> dict[str, httpx.AsyncClient]:
        if self.clients is None:  # per worker, on its event loop: the mapping is set by then
            urls = dependency_urls()
            self.clients = {p: client_for(urls[n]) for p, n in self.prefixes.items() if n in urls}
        return self.clients

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            for prefix, client in self._clients().items():
                if path.startswith(prefix):
                    await self.forward(client, path[len(prefix) - 1 :], scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def forward(
        self, client: httpx.AsyncClient, path: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Send the request on as it came (method, path, query, headers, body) and its answer back."""
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP]
        body = body_chunks(receive)
        query = scope.get("query_string", b"").decode("latin-1")
        url = path + (f"?{query}" if query else "")
        try:
            r = await client.request(scope["method"], url, headers=headers, content=body)
        except httpx.TransportError as exc:  # the process is down or restarting: retryable
            await _respond(send, 503, b'{"error":"the service is restarting: %s"}' % _ascii(exc))
            return
        out = [(k, v) for k, v in r.headers.raw if k.lower() not in _HOP]
        await send({"type": "http.response.start", "status": r.status_code, "headers": out})
        await send({"type": "http.response.body", "body": r.content})


def _ascii(exc: Exception) -> bytes:
    return type(exc).__name__.encode()


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def own_process(uc: Any) -> bool:
    """Whether a use case is served in a process of its own behind the root service: those
    whose task serves whole series (the heaviest requests)."""
    return uc.task.serves == "series"
