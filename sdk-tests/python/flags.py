"""Flags as the official Flagsmith Python SDK sees them, for Burgee's compatibility tests.

Usage: flags.py remote|local|offline API_URL KEY IDENTITIES_FILE [DOCUMENT_FILE]
Prints {"environment": {name: [enabled, value, variant]}, "identities": {identifier: {...}}}.
"""

import json
import sys

from flagsmith import Flagsmith
from flagsmith.offline_handlers import LocalFileHandler


def as_dict(flags):
    return {flag.feature_name: [flag.enabled, flag.value, flag.variant] for flag in flags.all_flags()}


def main():
    mode, api_url, key, identities_file = sys.argv[1:5]
    with open(identities_file) as f:
        identities = json.load(f)
    if mode == "remote":
        client = Flagsmith(environment_key=key, api_url=api_url)
    elif mode == "local":
        client = Flagsmith(environment_key=key, api_url=api_url, enable_local_evaluation=True)
    elif mode == "offline":
        client = Flagsmith(offline_mode=True, offline_handler=LocalFileHandler(sys.argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    result = {
        "environment": as_dict(client.get_environment_flags()),
        "identities": {
            identity["identifier"]: as_dict(client.get_identity_flags(identity["identifier"], traits=identity["traits"]))
            for identity in identities
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
