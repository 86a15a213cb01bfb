"""Moving configuration between environments, measured against a release build on loopback.

A project with FEATURES features (a fifth multivariate), 5 segments and three environments,
Staging overriding a fifth of the features per segment; then, each the median of RUNS:
a promotion of every feature Staging -> Production + Development (dry run, then applied),
a bulk edit of every feature in the three environments (dry run, applied), `burgee export
yaml`, `burgee apply` of that file on an empty server, and `burgee plan` of it there (no
changes). Prints one line per operation.

    benches/load/environments.sh BINARY [FEATURES]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY, FEATURES = sys.argv[1], int(sys.argv[2])
RUNS = int(os.environ.get("BURGEE_BENCH_RUNS", "5"))
TOKEN = "environments-bench-admin-token-0123456789"


class Server:
    def __init__(self, port):
        self.dir = tempfile.TemporaryDirectory()
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [BINARY, "serve", "--data-dir", f"{self.dir.name}/data", "--listen",
             f"127.0.0.1:{port}", "--bootstrap-token", TOKEN],
            env={**os.environ, "BURGEE_LOG": "warn"}, stdout=subprocess.DEVNULL)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{self.base}/health/readiness")
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the server did not start")

    def call(self, method, path, body=None):
        request = urllib.request.Request(
            f"{self.base}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return json.loads(text) if text else None

    def cli(self, *args):
        env = {**os.environ, "BURGEE_URL": self.base, "BURGEE_TOKEN": TOKEN}
        return subprocess.run([BINARY, *args], env=env, check=True, capture_output=True,
                              text=True).stdout

    def stop(self):
        self.process.terminate()
        self.process.wait()
        self.dir.cleanup()


def median_ms(action):
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def setup(server):
    server.call("POST", "/admin/v1/projects", {"name": "Web"})
    for name in ["Production", "Staging", "Development"]:
        server.call("POST", "/admin/v1/projects/1/environments", {"name": name})
    for s in range(5):
        server.call("POST", "/admin/v1/projects/1/segments", {"name": f"segment {s}", "rules": [
            {"type": "ALL", "conditions": [{"property": "plan", "operator": "EQUAL", "value": f"p{s}"}]}]})
    for f in range(FEATURES):
        body = {"name": f"feature-{f}", "initial_value": "off"}
        if f % 5 == 0:
            body.update(type="MULTIVARIATE", options=[{"value": "a", "default_weight": 30}])
        server.call("POST", "/admin/v1/projects/1/features", body)
    for f in range(FEATURES):
        server.call("PATCH", f"/admin/v1/environments/2/features/{f + 1}/state",
                    {"enabled": True, "value": f"staging {f}"})
        if f % 5 == 1:
            server.call("PUT", f"/admin/v1/environments/2/features/{f + 1}/segment-overrides/{f % 5 + 1}",
                        {"enabled": True, "value": "for the segment"})


def main():
    source = Server(int(os.environ.get("BURGEE_LOAD_PORT", "18131")))
    target = Server(int(os.environ.get("BURGEE_LOAD_PORT", "18131")) + 1)
    try:
        setup(source)
        names = [f"feature-{f}" for f in range(FEATURES)]
        print(f"{FEATURES} features, 5 segments, 3 environments; median of {RUNS} runs")
        promote = {"to": [1, 3], "features": names}
        dry = median_ms(lambda: source.call(
            "POST", "/admin/v1/environments/2/promote", {**promote, "dry_run": True}))
        print(f"promote dry run, {FEATURES} features to 2 environments: {dry:8.1f} ms")
        # Each run applies a real change: Staging moves between runs.
        flip = [False]

        def promote_changed():
            flip[0] = not flip[0]
            source.call("POST", "/admin/v1/projects/1/bulk-edit",
                        {"environments": [2], "features": names, "enabled": flip[0]})
            source.call("POST", "/admin/v1/environments/2/promote", promote)
        both = median_ms(promote_changed)
        edit_only = median_ms(lambda: source.call(
            "POST", "/admin/v1/projects/1/bulk-edit",
            {"environments": [1, 2, 3], "features": names, "value": f"v{time.time_ns()}"}))
        print(f"bulk edit applied, {FEATURES} features x 3 environments: {edit_only:8.1f} ms")
        print(f"bulk edit of Staging + promote applied (2 commands): {both:8.1f} ms")
        bulk_dry = median_ms(lambda: source.call(
            "POST", "/admin/v1/projects/1/bulk-edit",
            {"environments": [1, 2, 3], "features": names, "enabled": True, "dry_run": True}))
        print(f"bulk edit dry run, {FEATURES} features x 3 environments: {bulk_dry:8.1f} ms")
        with tempfile.TemporaryDirectory() as work:
            path = f"{work}/flags.yaml"
            export = median_ms(lambda: source.cli("export", "yaml", "--project", "Web", "-f", path))
            print(f"burgee export yaml ({os.path.getsize(path) // 1024} KiB): {export:8.1f} ms")
            started = time.perf_counter()
            out = target.cli("apply", "-f", path)
            first = (time.perf_counter() - started) * 1000
            assert "applied" in out, out
            print(f"burgee apply on an empty server (creates everything): {first:8.1f} ms")
            plan = median_ms(lambda: target.cli("plan", "-f", path))
            out = target.cli("plan", "-f", path)
            assert "no changes" in out, out
            print(f"burgee plan of the same file (no changes): {plan:8.1f} ms")
    finally:
        source.stop()
        target.stop()


main()
