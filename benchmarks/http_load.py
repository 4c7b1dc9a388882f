"""A minimal keep-alive HTTP/1.1 load client for benchmarks/api_load.py: closed loops (each
client sends its next request when the last one answered) and open loops (a fixed schedule,
latency counted from each slot's scheduled time).

With hundreds of clients on a 2-core host, httpx's own per-request work (and its pool's queue
scan) would dominate what is measured, hence this small client on asyncio streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


class Response:
    """What the load client keeps of a response."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status_code, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive HTTP/1.1 connection; ``headers`` (CRLF-terminated lines) go with every
    request. Reconnects when the server closes the connection."""

    def __init__(self, host: str, port: int, headers: str = ""):
        self.host, self.port, self.headers = host, port, headers
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            self._writer.write(head.encode() + b"\r\n" + (body or b""))
            raw = await self._reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                if line:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
            content = await self._reader.readexactly(int(headers.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, content)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


Call = Callable[[Connection], Awaitable[Response]]


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.deliberate = 0  # 429 / 503 with Retry-After
        self.errors = 0  # anything else >= 400, 429/503 without Retry-After, transport errors

    def add(self, seconds: float, response: Response | None) -> None:
        if response is None:
            self.errors += 1
            return
        self.statuses[response.status_code] += 1
        if response.status_code in (429, 503) and "retry-after" in response.headers:
            self.deliberate += 1
        elif response.status_code >= 400:
            self.errors += 1
        else:
            self.latencies.append(seconds)

    def summary(self, wall: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0

        return {
            "ok": len(ordered),
            "rejected_429_503": self.deliberate,
            "errors": self.errors,
            "p50_ms": statistics.median(ordered) * 1000 if ordered else 0.0,
            "p99_ms": pct(0.99),
            "max_ms": ordered[-1] * 1000 if ordered else 0.0,
            "ok_rps": len(ordered) / wall,
            "statuses": dict(self.statuses),
        }


async def _send(connection: Connection, call: Call) -> Response | None:
    try:
        return await call(connection)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        return None


async def _back_off(response: Response | None) -> None:
    if response is None:
        await asyncio.sleep(0.05)
    elif response.status_code in (429, 503):  # a polite client waits as told
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def closed_loop(
    url: str, clients: int, seconds: float, call: Call, headers: str = ""
) -> dict[str, Any]:
    """``clients`` connections, each sending its next request when the last one answered."""
    host, port = _host_port(url)
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        connection = Connection(host, port, headers)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await _send(connection, call)
                tally.add(time.perf_counter() - started, response)
                await _back_off(response)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"clients": clients, **tally.summary(time.perf_counter() - started)}


async def open_loop(
    url: str,
    rate: float,
    seconds: float,
    call: Call,
    side: tuple[float, Call] | None = None,
    headers: str = "",
) -> dict[str, Any]:
    """``rate`` requests/s of ``call`` on a fixed schedule, latency counted from each slot's
    scheduled time (a late server cannot hide its backlog); optionally ``side`` = (rate,
    call) on its own schedule beside them. 32 connections per schedule take the slots."""
    host, port = _host_port(url)
    start = time.perf_counter() + 0.2

    async def schedule(rate: float, fn: Call, tally: Tally) -> None:
        slots = iter(range(int(rate * seconds)))

        async def client() -> None:
            connection = Connection(host, port, headers)
            try:
                for slot in slots:
                    due = start + slot / rate
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    response = await _send(connection, fn)
                    tally.add(time.perf_counter() - due, response)
                    await _back_off(response)
            finally:
                await connection.close()

        await asyncio.gather(*(client() for _ in range(32)))

    tally, side_tally = Tally(), Tally()
    runs = [schedule(rate, call, tally)]
    if side is not None:
        runs.append(schedule(side[0], side[1], side_tally))
    await asyncio.gather(*runs)
    wall = time.perf_counter() - start
    result: dict[str, Any] = {"rate": rate, **tally.summary(wall)}
    if side is not None:
        result["side"] = {"rate": side[0], **side_tally.summary(wall)}
    return result


def _host_port(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    return parsed.host, parsed.port or 80
