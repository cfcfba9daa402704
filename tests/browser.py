"""A page rendered in a real headless Chromium over the DevTools protocol: its console errors,
uncaught exceptions, failed loads, and whether each image decoded (complete, naturalWidth)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.processes import stop_group


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = "chromium is not installed (.ci/run installs Debian's package)"
    if os.environ.get("PILOTPACK_REQUIRE_REAL_DATA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def render_page(path: Path, timeout: float = 60) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            [
                chromium(),
                "--headless=new",
                "--no-sandbox",  # root in CI containers
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": profile},  # its temporary files go with the profile
            start_new_session=True,  # its own process group: stopped as a whole below
            # (its renderer and utility processes write into the profile until they exit)
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not open its DevTools port")
                time.sleep(0.1)
            port = int(port_file.read_text().splitlines()[0])
            return asyncio.run(asyncio.wait_for(_inspect(port, path.resolve().as_uri()), timeout))
        finally:
            stop_group(proc)


async def _inspect(port: int, url: str) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json()
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with http.ws_connect(ws_url, max_msg_size=0) as ws:
            ids = itertools.count(1)
            errors: list[str] = []
            pending: dict[int, asyncio.Future[Any]] = {}
            loaded = asyncio.get_running_loop().create_future()

            async def send(method: str, **params: Any) -> Any:
                i = next(ids)
                pending[i] = asyncio.get_running_loop().create_future()
                await ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
                return await pending[i]

            async def reader() -> None:
                async for msg in ws:
                    data = json.loads(msg.data)
                    if "id" in data and data["id"] in pending:
                        pending.pop(data["id"]).set_result(data.get("result", {}))
                    method, p = data.get("method"), data.get("params", {})
                    if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                        errors.append(f"console.{p['type']}: {p['args']}")
                    elif method == "Runtime.exceptionThrown":
                        errors.append(f"exception: {p['exceptionDetails'].get('text')}")
                    elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                        errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
                    elif method == "Page.loadEventFired" and not loaded.done():
                        loaded.set_result(True)

            task = asyncio.create_task(reader())
            for domain in ("Runtime", "Log", "Page"):
                await send(f"{domain}.enable")
            await send("Page.navigate", url=url)
            await loaded
            await asyncio.sleep(0.5)  # late console messages
            result = await send(
                "Runtime.evaluate",
                expression="JSON.stringify([...document.images].map(i => [i.complete, i.naturalWidth]))",
                returnByValue=True,
            )
            task.cancel()
            images = json.loads(result["result"]["value"])
            return {"errors": errors, "images": [tuple(i) for i in images]}
