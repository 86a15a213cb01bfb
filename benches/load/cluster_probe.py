#!/usr/bin/env python3
"""Cluster timings against running nodes (see cluster.sh).

visibility WRITE_URL READ_URL TOKEN CLIENT_KEY ROUNDS
    Flips feature 1 of environment 1 through WRITE_URL's admin API and polls READ_URL's SDK
    API until its flags show the new state; prints p50/p99/max of the time from the write's
    acknowledgement to the change being served.

first_write TOKEN URL...
    Tries a feature-state write through each URL in turn every 10 ms until one is
    acknowledged; prints the seconds that took (run it right after killing the leader).
"""

import http.client
import json
import sys
import time
import urllib.parse


class Node:
    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.connection = None

    def request(self, method, path, headers, body=None, timeout=5):
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self.connection = None
                if attempt == 1:
                    return None, b""
        return None, b""


def toggle(node, token, enabled):
    body = json.dumps({"enabled": enabled})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return node.request("PATCH", "/admin/v1/environments/1/features/1/state", headers, body)


def served_state(node, key):
    status, body = node.request("GET", "/api/v1/flags/", {"X-Environment-Key": key})
    if status != 200:
        return None
    for flag in json.loads(body):
        if flag["feature"]["id"] == 1:
            return flag["enabled"]
    return None


def visibility(write_url, read_url, token, key, rounds):
    writer, reader = Node(write_url), Node(read_url)
    enabled = served_state(reader, key)
    delays = []
    for _ in range(int(rounds)):
        enabled = not enabled
        status, body = toggle(writer, token, enabled)
        if status != 200:
            raise SystemExit(f"the write answered {status}: {body[:200]}")
        acknowledged = time.perf_counter()
        while served_state(reader, key) != enabled:
            if time.perf_counter() - acknowledged > 10:
                raise SystemExit("the change was not served within 10 s")
        delays.append(time.perf_counter() - acknowledged)
    delays.sort()
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000
    print(f"visibility over {len(delays)} writes: p50 {pick(0.5):.2f} ms  p99 {pick(0.99):.2f} ms  max {delays[-1] * 1000:.2f} ms")


def first_write(token, *urls):
    nodes = [Node(u) for u in urls]
    started = time.perf_counter()
    flip = True
    while time.perf_counter() - started < 30:
        for node in nodes:
            status, _ = toggle(node, token, flip)
            if status == 200:
                print(f"{time.perf_counter() - started:.3f}")
                return
        flip = not flip
        time.sleep(0.01)
    raise SystemExit("no write was acknowledged within 30 s")


if __name__ == "__main__":
    {"visibility": visibility, "first_write": first_write}[sys.argv[1]](*sys.argv[2:])
