"""Flagsmith's reference engine on evaluation contexts, for Burgee's differential test.

Usage: reference.py < contexts.jsonl
Reads one evaluation context per line (JSON Lines) and prints, in order, one JSON line each:
{"result": <evaluation result>} or, where the engine raises, {"error": "<exception class>"}.
The first line printed names the versions: {"engine": "10.2.0", "python": "3.11.7"}.

Flag values are printed as {"type": <Python type name>, "text": <str, or repr for non-strings>}
so that integers of any length, 1 against 1.0 and -0.0 compare exactly.
"""

import importlib.metadata
import json
import platform
import sys

from flag_engine.engine import get_evaluation_result


def typed(value):
    text = value if type(value) is str else repr(value)
    return {"type": type(value).__name__, "text": text}


def evaluate(line):
    context = json.loads(line)
    try:
        result = get_evaluation_result(context)
    except Exception as error:  # the class is the answer being compared
        return {"error": type(error).__name__}
    for flag in result["flags"].values():
        flag["value"] = typed(flag["value"])
    return {"result": result}


def main():
    out = sys.stdout
    versions = {
        "engine": importlib.metadata.version("flagsmith-flag-engine"),
        "python": platform.python_version(),
    }
    out.write(json.dumps(versions) + "\n")
    for line in sys.stdin:
        if line.strip():
            out.write(json.dumps(evaluate(line)) + "\n")


if __name__ == "__main__":
    main()
