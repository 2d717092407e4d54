"""End-to-end latency of the three live paths, measured on the real processes.

Runs ``greenlight demo`` (sim, router, engine and bot as separate processes on loopback,
auto-approving) over N replayed candles and prints one JSON line per path with p50/p95 in
milliseconds, from the timestamps each process wrote to PostgreSQL:
close_to_decision, decision_to_confirmation (chart rendered and sent), approval_to_exchange_ack.

    python bench/bench_latency.py [--candles 5000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PATHS = ("close_to_decision", "decision_to_confirmation", "approval_to_exchange_ack")


def main() -> int:
    """Run the demo and print the latency lines."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--candles", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        cmd = [
            sys.executable,
            "-m",
            "greenlight.cli",
            "demo",
            "--candles",
            str(args.candles),
            "--auto-approve",
            "--report",
            str(report),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        r = json.loads(report.read_text())
    for path in PATHS:
        print(json.dumps({"bench": path, "unit": "ms", **r[path]}))
    print(
        json.dumps(
            {
                "bench": "demo",
                "candles": r["candles_ingested"],
                "decisions": r["decisions"],
                "fills": r["fills"],
                "duplicate_client_order_ids": r["duplicate_client_order_ids"],
                "wall_seconds": r["wall_seconds"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
