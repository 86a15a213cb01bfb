#!/usr/bin/env python3
"""Creates the load test's reference environment through the admin API: 50 features
(10 multivariate), 20 segments of 3-5 conditions of mixed operators, each overriding two
features. Prints the environment's client key.

Usage: setup.py BASE_URL ADMIN_TOKEN
"""

import json
import sys
import urllib.request

BASE, TOKEN = sys.argv[1], sys.argv[2]


def call(method, path, body=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


project = call("POST", "/admin/v1/projects", {"name": "Load"})
env = call("POST", f"/admin/v1/projects/{project['id']}/environments", {"name": "Production"})
features = []
for i in range(50):
    body = {"name": f"feature_{i}", "initial_value": f"value-{i}", "default_enabled": i % 3 != 0}
    if i % 5 == 0:
        body["type"] = "MULTIVARIATE"
        body["options"] = [
            {"value": "a", "key": "a", "default_weight": 30},
            {"value": "b", "key": "b", "default_weight": 30},
            {"value": "c", "default_weight": 20.5},
        ]
    features.append(call("POST", f"/admin/v1/projects/{project['id']}/features", body))

pool = [
    lambda s: {"property": "plan", "operator": "EQUAL", "value": "pro" if s % 3 == 0 else "free"},
    lambda s: {"property": "age", "operator": "GREATER_THAN", "value": str(18 + s % 30)},
    lambda s: {"property": "email", "operator": "REGEX", "value": f".*@(example|corp{s})\\.com$"},
    lambda s: {"property": "app_version", "operator": "GREATER_THAN_INCLUSIVE", "value": f"2.{s % 6}.0:semver"},
    lambda s: {"property": "country", "operator": "IN", "value": "gb,us,de,fr,es,it,nl,se,no,dk"},
    lambda s: {"property": "", "operator": "PERCENTAGE_SPLIT", "value": str(10 + (s * 13) % 90)},
    lambda s: {"property": "locale", "operator": "CONTAINS", "value": "DE"},
    lambda s: {"property": "company_id", "operator": "MODULO", "value": f"{2 + s % 5}|0"},
    lambda s: {"property": "device", "operator": "IS_SET", "value": None},
    lambda s: {"property": "score", "operator": "LESS_THAN_INCLUSIVE", "value": "80.5"},
]
for s in range(20):
    conditions = [pool[(s + i * 3) % len(pool)](s) for i in range(3 + s % 3)]
    segment = call("POST", f"/admin/v1/projects/{project['id']}/segments", {
        "name": f"segment_{s}",
        "rules": [{"type": "ALL", "conditions": conditions[:2], "rules": [{"type": "ANY", "conditions": conditions[2:]}]}],
    })
    for feature in {s % 50, (s * 7 + 3) % 50}:
        call("PUT", f"/admin/v1/environments/{env['id']}/features/{features[feature]['id']}/segment-overrides/{segment['id']}",
             {"enabled": True, "value": f"segment-{s}-value"})
print(env["client_key"])
