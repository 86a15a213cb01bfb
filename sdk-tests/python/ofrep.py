"""OpenFeature's Python SDK with its OFREP provider against Burgee, for Burgee's OFREP test.

Usage: ofrep.py BASE_URL ENVIRONMENT_KEY
Prints one JSON line per evaluation: the flag, what was asked, and the details the SDK gave.
"""

import json
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext


def main():
    base_url, key = sys.argv[1:3]
    api.set_provider_and_wait(
        OFREPProvider(base_url, headers_factory=lambda: {"Authorization": f"Bearer {key}"})
    )
    client = api.get_client()
    alice_pro = EvaluationContext(targeting_key="alice", attributes={"plan": "pro"})
    bob = EvaluationContext(targeting_key="bob", attributes={"plan": "free"})
    cases = [
        ("banner", "string", "default", None),
        ("banner", "string", "default", alice_pro),
        ("banner", "string", "default", bob),
        ("toggle", "boolean", False, None),
        ("off", "boolean", False, None),
        ("ratio", "float", 0.0, bob),
        ("limit", "integer", 0, bob),
        ("theme", "string", "default", bob),
        ("missing", "string", "fallback", bob),
        ("banner", "boolean", False, bob),
        ("banner", "string", "default", EvaluationContext(attributes={"plan": "pro"})),
    ]
    for flag, kind, default, context in cases:
        details = getattr(client, f"get_{kind}_details")(flag, default, context)
        print(
            json.dumps(
                {
                    "flag": flag,
                    "kind": kind,
                    "value": details.value,
                    "reason": str(details.reason) if details.reason else None,
                    "variant": details.variant,
                    "error_code": str(details.error_code) if details.error_code else None,
                    "metadata": dict(details.flag_metadata or {}),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
