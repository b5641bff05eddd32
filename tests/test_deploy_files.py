"""The deploy kit stays consistent with the code: configs load, probes hit the real endpoints, the unit and
the image stop gracefully. (No container engine here: the files are checked, not run.)"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

from pipeline.config import load_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_docker_worker_config_is_valid(tmp_path: Path) -> None:
    cfg = tmp_path / "worker.yaml"
    cfg.write_text((DEPLOY / "worker.docker.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "rules").mkdir()
    loaded = load_config(cfg)
    assert loaded.metrics_port == 9464 and loaded.metrics_host == "0.0.0.0"


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "USER newswatch" in text and "HEALTHCHECK" in text and "/healthz" in text and "STOPSIGNAL SIGTERM" in text
    # the C kernels are built in a stage with a compiler, and the image build fails without them
    assert "AS build" in text and "gcc" in text and 'python -c "import pipeline.dedup._native"' in text


def test_compose_mounts_rules_read_only() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    svc = compose["services"]["newswatch"]
    assert "../rules:/etc/newswatch/rules:ro" in svc["volumes"] and svc["restart"] == "unless-stopped"


def test_kubernetes_probes_secret_and_config(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "newswatch.yaml").read_text(encoding="utf-8")))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"ConfigMap", "PersistentVolumeClaim", "Deployment"}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["envFrom"][0]["secretRef"]["name"] == "newswatch-slack" and pod["securityContext"]["runAsNonRoot"]
    cfg = tmp_path / "worker.yaml"
    cfg.write_text(kinds["ConfigMap"]["data"]["worker.yaml"], encoding="utf-8")
    assert load_config(cfg).metrics_port == 9464


def test_systemd_unit_stops_gracefully_and_restarts() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "newswatch.service")
    svc = unit["Service"]
    assert svc["TimeoutStopSec"] == "30" and svc["Restart"] == "on-failure" and svc["KillSignal"] == "SIGTERM"
    assert svc["ExecStart"].endswith("run --config /etc/newswatch/worker.yaml") and svc["User"] == "newswatch"


def test_the_c_kernels_are_built_where_a_compiler_is() -> None:
    """The dedup stage's C kernels are optional at install (without a compiler newswatch runs without them), so a
    build that broke would go unseen: where the machine has the C compiler Python builds with, they must load."""
    import shutil
    import sysconfig

    from pipeline.dedup import native

    if native.switched_off():
        pytest.skip("NEWSWATCH_PURE_PYTHON is set: the kernels are off on purpose")
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) on this machine: newswatch runs without the kernels")
    assert native.KERNELS is not None, (
        "pipeline/dedup/_native.c was not built or does not load: run `.venv/bin/python -m pip install -e .` and "
        "read its build output")
