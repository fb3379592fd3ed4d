"""What every bench script prints the same way: the machine it ran on, and its result as JSON or a table."""
from __future__ import annotations

import json
import os
import platform


def cpu_machine(torch_threads: int | None = None) -> str:
    """'CPU, N cores' (and ', torch T threads' when given): the machine line of a CPU figure."""
    line = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return line if torch_threads is None else f"{line}, torch {torch_threads} threads"


def print_result(result: dict, as_json: bool, float_format: str | None = None) -> None:
    """One JSON line (--json), or one `key value` line each, the values aligned; floats in `float_format`."""
    if as_json:
        print(json.dumps(result))
        return
    width = max(map(len, result)) + 1
    for key, value in result.items():
        shown = format(value, float_format) if float_format and isinstance(value, float) else value
        print(f"{key:{width}s} {shown}")
