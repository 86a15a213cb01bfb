#!/usr/bin/env python3
"""What connections cost the server, measured on a running server by its resident memory.

Usage: connections.py BASE_URL SERVER_PID CLIENT_KEY ADMIN_TOKEN MODE COUNT
  MODE idle: COUNT keep-alive connections that each made one /api/v1/flags/ request and
             then sit idle; RSS before, while held, and after they close.
  MODE sse:  COUNT subscribers of /api/v1/flags/stream; RSS per subscriber, then one flag
             change: how long until the first, the median and the last subscriber hear it.
Prints one JSON object. Needs COUNT + 100 open files in this process.
"""

import asyncio
import json
import resource
import sys
import time
import urllib.parse
import urllib.request

BASE, PID, KEY, TOKEN, MODE, COUNT = sys.argv[1:7]
COUNT = int(COUNT)
HOST, PORT = urllib.parse.urlsplit(BASE).hostname, urllib.parse.urlsplit(BASE).port


def rss_kib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def settle(seconds=1.5):
    # Lets the server finish what the last connections started before memory is read.
    await asyncio.sleep(seconds)


# After connections close, allocators give memory back after a delay (jemalloc's decay
# time is 10 s): wait that long before reading what was kept.
AFTER_CLOSE = float(__import__("os").environ.get("BURGEE_LOAD_SETTLE", "12"))


async def open_many(request, until):
    """COUNT connections, each sending `request` and reading until `until` is seen."""
    semaphore = asyncio.Semaphore(500)

    async def one():
        async with semaphore:
            reader, writer = await asyncio.open_connection(HOST, PORT)
            writer.write(request)
            await writer.drain()
            seen = b""
            while until not in seen:
                chunk = await reader.read(65536)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                seen += chunk
            return reader, writer

    return await asyncio.gather(*(one() for _ in range(COUNT)))


def toggle(value):
    request = urllib.request.Request(
        f"{BASE}/admin/v1/environments/1/features/2/state",
        method="PATCH",
        data=json.dumps({"value": value}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).read()


async def idle():
    before = rss_kib()
    request = f"GET /api/v1/flags/ HTTP/1.1\r\nHost: burgee\r\nX-Environment-Key: {KEY}\r\n\r\n"
    connections = await open_many(request.encode(), b"]")
    await settle()
    held = rss_kib()
    for _, writer in connections:
        writer.close()
    await settle(AFTER_CLOSE)
    after = rss_kib()
    return {
        "mode": "idle",
        "connections": COUNT,
        "rss_before_kib": before,
        "rss_held_kib": held,
        "rss_after_close_kib": after,
        "kib_per_connection": round((held - before) / COUNT, 2),
        "kib_kept_per_connection_after_close": round((after - before) / COUNT, 2),
    }


async def sse():
    before = rss_kib()
    request = (
        "GET /api/v1/flags/stream HTTP/1.1\r\nHost: burgee\r\nAccept: text/event-stream\r\n"
        f"X-Environment-Key: {KEY}\r\n\r\n"
    )
    subscribers = await open_many(request.encode(), b"\n\n")
    await settle()
    held = rss_kib()
    heard = []
    started = time.monotonic()

    async def wait(reader):
        seen = b""
        while b"sse-fanout" not in seen:
            chunk = await reader.read(65536)
            if not chunk:
                raise RuntimeError("a stream ended")
            seen += chunk
        heard.append(time.monotonic() - started)

    waits = [asyncio.ensure_future(wait(reader)) for reader, _ in subscribers]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, toggle, f"sse-fanout {started}")
    await asyncio.gather(*waits)
    heard.sort()
    for _, writer in subscribers:
        writer.close()
    await settle(AFTER_CLOSE)
    return {
        "mode": "sse",
        "subscribers": COUNT,
        "rss_before_kib": before,
        "rss_held_kib": held,
        "rss_after_close_kib": rss_kib(),
        "kib_per_subscriber": round((held - before) / COUNT, 2),
        "first_heard_ms": round(heard[0] * 1000, 1),
        "median_heard_ms": round(heard[len(heard) // 2] * 1000, 1),
        "last_heard_ms": round(heard[-1] * 1000, 1),
    }


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(idle() if MODE == "idle" else sse())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
