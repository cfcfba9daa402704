"""HTTP to the suite's own servers: httpx's `get` and `post`, each call handed one SSL context
made once.

`httpx.get(url)` builds a client per call, and with it an SSL context loaded from certifi's
bundle: about 21 ms of CPU each time, even for plain HTTP. Summed over the suite that was
~54 CPU-seconds, two thirds of it in readiness loops polling every 50 ms, which took a third
of a core from the very server they waited for. Every server here is plain HTTP on loopback,
so the context is never used; only its cost goes. A call is otherwise what httpx's own is: a
client of its own, a new connection, closed after the response.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import httpx


@cache
def _tls() -> ssl.SSLContext:
    """The one context, made on first use (nothing happens at import)."""
    return ssl.create_default_context()


def get(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.get` without building an SSL context per call."""
    return httpx.get(url, verify=_tls(), **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.post` without building an SSL context per call."""
    return httpx.post(url, verify=_tls(), **kwargs)
