"""A real Prometheus, with the repository's scrape configuration (only the ports swapped for
free ones), scrapes the processes ``greenlight up`` started: every target is up and the key
series exist. Skipped when the ``prometheus`` binary (Debian package) is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from greenlight.procs import free_port
from tests.helpers import wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="the prometheus binary is not installed (apt-get install prometheus)",
    ),
]
REPO = Path(__file__).resolve().parents[2]
APP = ("engine", "bot", "router", "sim")
KEY_SERIES = (
    'greenlight_candles_ingested_total{job="engine"}',
    'greenlight_candle_processing_seconds_count{job="engine"}',
    'greenlight_queue_depth{job="engine"}',
    'greenlight_equity_quote{job="router",market="spot"}',
    'greenlight_kill_switch_engaged{job="router"}',
    'greenlight_venue_request_weight_used{job="router"}',
    'greenlight_sim_candles_replayed_total{job="sim"}',
    'process_cpu_seconds_total{job="bot"}',
)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _config(ports: dict[str, int], tmp: Path) -> Path:
    """The repository's scrape configuration with each job's target on the test's port."""
    cfg = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"] for j in cfg["scrape_configs"]}
    assert set(APP) <= jobs
    for job in cfg["scrape_configs"]:
        name = job["job_name"]
        if name in ports:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[name]}"]}]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_prometheus_scrapes_every_process(db_url: str, tmp_path: Path) -> None:
    ports = {p: free_port() for p in (*APP, "prometheus")}
    env = {
        **os.environ,
        "GREENLIGHT_DATABASE_URL": db_url,
        "GREENLIGHT_SIM_PORT": str(free_port()),
        "GREENLIGHT_ROUTER_PORT": str(free_port()),
        "GREENLIGHT_SIM_CANDLES_PER_SECOND": "40",
        "GREENLIGHT_BOT_CHART_DIR": str(tmp_path / "charts"),
        "GREENLIGHT_LOGS_DIR": str(tmp_path / "log"),
        **{f"GREENLIGHT_METRICS_{p.upper()}_PORT": str(ports[p]) for p in APP},
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "greenlight.cli", "up"],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(up.stdout or []), daemon=True).start()
    prom: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: any("Greenlight is up." in x for x in lines), 120, "the banner")
        prom = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={_config(ports, tmp_path)}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("wb"),
        )
        base = f"http://127.0.0.1:{ports['prometheus']}/api/v1"

        seen: list[Any] = []

        def all_up() -> bool:
            try:
                targets = _get(f"{base}/targets")["data"]["activeTargets"]
            except OSError as exc:
                seen.append(exc)
                return False
            health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
            seen.append(health)
            return all(health.get(job, ("",))[0] == "up" for job in (*APP, "prometheus"))

        try:
            wait_until(all_up, 90, "every target up")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {seen[-1:]}") from None

        def series(expr: str) -> bool:
            q = urllib.parse.quote(expr)
            return bool(_get(f"{base}/query?query={q}")["data"]["result"])

        for expr in KEY_SERIES:
            wait_until(lambda e=expr: series(e), 90, expr)  # type: ignore[misc]
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(30)
        up.terminate()
        assert up.wait(60) == 0, "\n".join(lines[-40:])
