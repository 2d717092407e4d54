"""docker-compose.yml, the image, Prometheus' scrape configuration and the Grafana dashboard
agree with the settings and the code (no Docker engine is needed to check them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import bot.metrics  # noqa: F401  (registers the bot's families)
import router.metrics  # noqa: F401
import sim.metrics  # noqa: F401
from greenlight import cli
from greenlight.core.secrets import SECRET_NAMES
from greenlight.core.settings import ENV_KEYS, Settings

ROOT = Path(__file__).resolve().parents[2]
APP = ("engine", "bot", "router", "sim")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return {k: str(v) for k, v in env.items()} if isinstance(env, dict) else {}


def test_every_process_has_a_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"db", "migrate", *APP, "prometheus", "grafana"} <= set(services)
    assert services["sim"]["profiles"] == ["sim"]
    dotenv = (ROOT / ".env").read_text()
    assert "COMPOSE_PROFILES=sim" in dotenv  # the simulator is the default
    assert services["engine"]["depends_on"]["sim"]["required"] is False  # binance: no sim


def test_commands_exist(compose: dict[str, Any]) -> None:
    for name in (*APP, "migrate"):
        cmd = compose["services"][name]["command"]
        assert cmd[0] == "greenlight"
        with pytest.raises(SystemExit) as done:  # argparse exits 2 on an unknown command
            cli.main([*cmd[1:], "--help"])
        assert done.value.code == 0, cmd


def test_environment_names_are_settings_or_secrets(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if name in ("db", "prometheus", "grafana"):
            continue
        for key in _env(svc):
            assert key in ENV_KEYS or key in SECRET_NAMES, f"{name}: {key} is not a setting"


def test_shared_namespace_health_and_scrape_ports_match_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    m = Settings().metrics
    assert m.host == "127.0.0.1"
    for name in ("sim", "engine", "bot", "prometheus"):
        assert services[name]["network_mode"] == "service:router"
    for name in APP:
        port = getattr(m, f"{name}_port")
        assert f"127.0.0.1:{port}/" in " ".join(services[name]["healthcheck"]["test"])
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in scrape["scrape_configs"]}
    for name in APP:
        assert targets[name] == [f"127.0.0.1:{getattr(m, f'{name}_port')}"]
    mounts = services["prometheus"]["volumes"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "127.0.0.1:9090:9090" in services["router"]["ports"]  # published from its netns
    ds = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert ds["datasources"][0]["url"] == "http://router:9090"


def test_volumes_and_files_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), f"{name}: {src} missing"
            else:
                assert src in declared, f"{name}: volume {src} not declared"
    assert "gl-var:/app/var" in compose["services"]["bot"]["volumes"]


def test_image_runs_as_a_user_who_can_write_charts_logs_and_numba_cache() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", docker, re.M)
    assert users and users[-1] not in ("root", "0", "nobody")
    assert "NUMBA_CACHE_DIR=/app/var/numba" in docker and "MPLCONFIGDIR=/app/var/" in docker
    assert "/app/var/charts" in docker and "chown -R greenlight:greenlight /app/var" in docker
    for src in re.findall(r"^COPY (\S+)", docker, re.M):
        assert (ROOT / src).exists(), src
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", "secrets.env"} <= set(ignored)


def _known_series() -> set[str]:
    names = {"up"}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    for family in REGISTRY.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def test_dashboard_references_only_metrics_that_exist() -> None:
    dash = json.loads((ROOT / "deploy/grafana/dashboards/greenlight.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(?:greenlight_[a-z0-9_]+|up)\b", e)}
    assert used - _known_series() == set()
    titles = " ".join(p["title"] for p in dash["panels"])
    for needed in ("Equity in R", "Profit factor", "Guard timeline", "Alert health"):
        assert needed in titles
