#!/usr/bin/env python3
"""Writes an Unleash Edge offline bootstrap equivalent to setup.py's reference environment:
50 toggles (every third disabled, every fifth with three weighted variants) and 20 segments of
3-5 constraints, each constraining a rollout of two toggles.

Usage: edge_bootstrap.py FILE
"""

import json
import sys

pool = [
    lambda s: {"contextName": "plan", "operator": "IN", "values": ["pro" if s % 3 == 0 else "free"]},
    lambda s: {"contextName": "age", "operator": "NUM_GT", "value": str(18 + s % 30)},
    lambda s: {"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@example.com", f"@corp{s}.com"]},
    lambda s: {"contextName": "app_version", "operator": "SEMVER_GTE", "value": f"2.{s % 6}.0"},
    lambda s: {"contextName": "country", "operator": "IN", "values": "gb,us,de,fr,es,it,nl,se,no,dk".split(",")},
    lambda s: {"contextName": "userId", "operator": "NOT_IN", "values": [f"blocked-{s}"]},
    lambda s: {"contextName": "locale", "operator": "STR_CONTAINS", "values": ["DE"]},
    lambda s: {"contextName": "company_id", "operator": "NUM_GTE", "value": str(2 + s % 5)},
    lambda s: {"contextName": "device", "operator": "IN", "values": ["ios", "android"]},
    lambda s: {"contextName": "score", "operator": "NUM_LTE", "value": "80.5"},
]
segments = []
overridden = {}
for s in range(20):
    constraints = [dict(pool[(s + i * 3) % len(pool)](s), inverted=False, caseInsensitive=False)
                   for i in range(3 + s % 3)]
    segments.append({"id": s + 1, "name": f"segment_{s}", "constraints": constraints})
    for feature in {s % 50, (s * 7 + 3) % 50}:
        overridden.setdefault(feature, []).append(s + 1)

features = []
for i in range(50):
    strategies = [
        {"name": "flexibleRollout", "sortOrder": n,
         "parameters": {"rollout": "100", "stickiness": "default", "groupId": f"feature_{i}"},
         "constraints": [], "segments": [segment]}
        for n, segment in enumerate(overridden.get(i, []))
    ]
    strategies.append({"name": "default", "sortOrder": len(strategies), "parameters": {}, "constraints": []})
    feature = {"name": f"feature_{i}", "type": "release", "project": "default",
               "enabled": i % 3 != 0, "stale": False, "impressionData": False,
               "strategies": strategies}
    if i % 5 == 0:
        feature["variants"] = [
            {"name": name, "weight": weight, "weightType": "variable", "stickiness": "default",
             "payload": {"type": "string", "value": name}}
            for name, weight in (("a", 300), ("b", 300), ("c", 205), ("control", 195))
        ]
    features.append(feature)

with open(sys.argv[1], "w") as out:
    json.dump({"version": 1, "features": features, "segments": segments}, out)
