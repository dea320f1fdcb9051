"""Diagnostic (not part of ``make bench``): client CPU per async GET, httpx versus aiohttp.

Explains the triggerer figures: a trigger poll's cost is mostly the async HTTP
client's own Python work. 200 coroutines share one client and make ``-n`` GETs
in all to the emulator (own process, HTTPS with a throwaway CA); reported is the
client's CPU time and wall time per request for:

- httpx with 8 / 2 / 1 pooled connections behind a semaphore (the package's design),
- one shared aiohttp session with 8 connections,
- a new aiohttp session per request (the dbt Cloud trigger's pattern).

Needs aiohttp, so run it with the anchor venv (``bench_import.py`` creates it):

    benchmarks/.venv-anchor/bin/python benchmarks/diag_async_clients.py [-n 3000] [--http]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import API_KEY, EmulatorClient, EmulatorProcess, make_tls_files

WORKFLOW = "wf_weekly_cost_review"
CONCURRENCY = 200


async def drive(one: Callable[[], Awaitable[None]], label: str, n: int) -> None:
    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    for _ in range(50):  # warm-up: connections open
        await one()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n // CONCURRENCY) for _ in range(CONCURRENCY)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = n // CONCURRENCY * CONCURRENCY
    print(
        f"  {label:38} client CPU {cpu / done * 1000:5.2f} ms/request, "
        f"wall {wall / done * 1000:5.2f} ms/request ({done / wall:4.0f} requests/s)",
        flush=True,
    )


async def compare(url: str, n: int) -> None:
    import aiohttp
    import httpx

    headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
    for connections in (8, 2, 1):
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        )
        gate = asyncio.Semaphore(connections)

        async def via_httpx(client: httpx.AsyncClient = client, gate=gate) -> None:
            async with gate:
                answer = await client.get(url, headers=headers)
                answer.json()

        await drive(via_httpx, f"httpx, {connections} connection(s) + semaphore", n)
        await client.aclose()

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8))

    async def via_shared_session() -> None:
        async with session.get(url, headers=headers) as answer:
            await answer.json()

    await drive(via_shared_session, "aiohttp, one session, 8 connections", n)
    await session.close()

    async def via_new_session() -> None:
        async with (
            aiohttp.ClientSession(headers=headers) as fresh,
            fresh.get(url) as answer,
        ):
            await answer.json()

    await drive(via_new_session, "aiohttp, new session per request", n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=3000, help="requests per client")
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = make_tls_files(Path(tmp))
        os.environ["SSL_CERT_FILE"] = str(ca)  # read by httpx and aiohttp's default context
        tls = (None, None) if args.http else (cert, key)
        with EmulatorProcess(*tls) as emulator:
            setup = EmulatorClient(emulator.url, str(ca))
            run = setup.call("POST", f"/api/v1/workflows/{WORKFLOW}/runs/", {}, auth=True)
            setup.close()
            print(f"{CONCURRENCY} coroutines, {args.n} GETs per client, {emulator.url}")
            url = f"{emulator.url}/api/v1/workflows/{WORKFLOW}/runs/{run['id']}/"
            asyncio.run(compare(url, args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
