"""The figures of one run of bench/peers.sh, for ``--json``: median whole-process
wall seconds of syncd, the bare httpx loop, dlt and Airbyte, and syncd's
speed against each (their seconds over syncd's). A tool whose every run
failed (exit status, or a count short of N) leaves its figures out and says
why in ``KEY_error``."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from figures import write_figures

# label in the harness -> name in the figures
TOOLS = {"syncd": "syncd", "raw-httpx": "raw_httpx", "dlt-iterate": "dlt", "airbyte": "airbyte"}


def figures(rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"read_n": n}
    for label, name in TOOLS.items():
        runs = [r for r in rows if r.get("label") == label]
        good = [r["wall_s"] for r in runs if r.get("ok")]
        if good:
            out[f"read_{name}_s"] = statistics.median(good)
        elif runs:
            bad = runs[-1]
            out[f"read_{name}_s_error"] = (f"{label} failed on this machine: exit {bad.get('rc')}, "
                                           f"read {bad.get('records')} of {n} (its stderr is in peers.sh's)")
        else:
            out[f"read_{name}_s_error"] = f"{label} was not run (TOOLS)"
    syncd = out.get("read_syncd_s")
    for name in ("raw_httpx", "dlt", "airbyte"):
        other = out.get(f"read_{name}_s")
        if syncd and other:
            out[f"read_vs_{name}"] = other / syncd
        else:
            out[f"read_vs_{name}_error"] = out.get(f"read_{name}_s_error") or out.get("read_syncd_s_error")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("jsonl", nargs="+", help="the harness's run-*.jsonl")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True)
    args = ap.parse_args()
    rows = [json.loads(line) for path in args.jsonl for line in Path(path).read_text().splitlines() if line.strip()]
    write_figures(args.out, figures(rows, args.n), args.command)


if __name__ == "__main__":
    main()
