#!/usr/bin/env python3
"""Measures how long other writes wait while a large environment is deleted.

Usage: delete_stall.py BASE_URL ADMIN_TOKEN VICTIM_ENV_ID OTHER_CLIENT_KEY
Writes go on against another environment (an admin flag toggle and an SDK identify that
stores a trait, one after the other) for a few seconds before the delete, during the
background purge, and a few seconds after; prints the latency of those writes in each phase
and how long the purge took.
"""

import json
import sys
import threading
import time
import urllib.request

BASE, TOKEN, VICTIM, KEY = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]


def call(method, path, body=None, headers=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request) as response:
        return response.status, response.read()


def admin(method, path, body=None):
    return call(method, path, body, {"Authorization": f"Bearer {TOKEN}"})


def gauge(name):
    _, text = call("GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


phase = "before"
latencies = {"before": [], "during": [], "after": []}
stop = threading.Event()


def writer():
    n = 0
    while not stop.is_set():
        n += 1
        for write in (
            lambda: admin("PATCH", "/admin/v1/environments/2/features/1/state", {"enabled": n % 2 == 0}),
            lambda: call("POST", "/api/v1/identities/", {"identifier": f"probe-{n}", "traits": [{"trait_key": "n", "trait_value": n}]},
                         {"X-Environment-Key": KEY}),
        ):
            started = time.perf_counter()
            write()
            latencies[phase].append(time.perf_counter() - started)


def summary(values):
    values = sorted(values)
    if not values:
        return "no writes"
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] * 1000
    return f"{len(values)} writes, median {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {values[-1] * 1000:.1f} ms"


thread = threading.Thread(target=writer)
thread.start()
time.sleep(5)
rows_before = gauge("burgee_identities")
phase = "during"
started = time.perf_counter()
status, _ = admin("DELETE", f"/admin/v1/environments/{VICTIM}")
answered = time.perf_counter() - started
while gauge("burgee_environments_being_deleted") > 0:
    time.sleep(0.05)
purge = time.perf_counter() - started
phase = "after"
time.sleep(5)
stop.set()
thread.join()
print(f"identities stored before the delete (all environments): {rows_before:.0f}")
print(f"DELETE answered {status} in {answered * 1000:.1f} ms; background purge took {purge:.1f} s")
for name in ("before", "during", "after"):
    print(f"writes {name} the purge: {summary(latencies[name])}")
print(f"server's longest single batch since start: {gauge('burgee_store_longest_batch_seconds') * 1000:.1f} ms")
