"""The chaos bench as a test: seeded kill -9 of engine, router and bot, every simulator fault
and a database restart over a stepped replay with approvals; every safety promise holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
REPO = Path(__file__).resolve().parents[2]


def test_chaos_run_keeps_every_promise() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "chaos.py"), "--seed", "1", "--candles", "160"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1])
    assert result["ok"], result
    assert result["faults_injected"] >= 15 and result["duplicate_client_order_ids"] == 0
    assert result["worst_unprotected_s"] <= 5.0
    assert result["stuck_decisions"] == [] and result["false_kill_switch_trips"] == []
    assert result["db_orders_not_on_venue"] == []
