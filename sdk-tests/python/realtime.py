"""Flagsmith's Python SDK in real-time mode against Burgee, for Burgee's real-time test.

Usage: realtime.py API_URL REALTIME_API_URL SERVER_KEY FEATURE
Evaluates locally (polling off: only the stream refreshes the document) and prints the
feature's value as JSON each time it changes, for up to a minute.
"""

import json
import sys
import time

from flagsmith import Flagsmith


def main():
    api_url, realtime_url, key, feature = sys.argv[1:5]
    client = Flagsmith(
        environment_key=key,
        api_url=api_url,
        enable_local_evaluation=True,
        enable_realtime_updates=True,
        realtime_api_url=realtime_url,
        environment_refresh_interval_seconds=3600,
    )
    last = object()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        value = client.get_environment_flags().get_feature_value(feature)
        if value != last:
            print(json.dumps(value), flush=True)
            last = value
        time.sleep(0.02)


if __name__ == "__main__":
    main()
