"""The deploy files: the systemd units pass `systemd-analyze verify`, the compose file and
the Dockerfile name only what exists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_the_systemd_units_verify(unit: Path, tmp_path: Path) -> None:
    # As installed: /opt/vibot is where the unit expects vibot; here it is this checkout.
    installed = tmp_path / unit.name
    installed.write_text(unit.read_text().replace("/opt/vibot/.venv", str(REPO / ".venv")))
    found = subprocess.run(
        ["systemd-analyze", "verify", str(installed)], capture_output=True, text=True, check=False
    )
    assert found.returncode == 0, found.stderr
    assert "vibot" not in found.stderr, found.stderr  # no warning about the unit itself


def test_compose_runs_postgres_the_daemon_a_ray_head_and_a_gpu_worker() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "daemon", "ray-head", "gpu-worker"} <= set(services)
    # The daemon's container joins the cluster as a node without CPUs, then runs the daemon.
    assert "&& exec vibot daemon" in services["daemon"]["command"]
    assert "ray start --address=ray-head:6379 --num-cpus=0" in services["daemon"]["command"]
    assert services["daemon"]["environment"]["VIBOT_EXECUTOR"] == "ray"
    gpu = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and "--num-gpus=1" in services["gpu-worker"]["command"]
    text = (REPO / "deploy" / "compose.yaml").read_text()
    assert "PASSWORD:" not in text.replace("POSTGRES_PASSWORD:", "")  # secrets come from .env only


def test_the_dockerfile_installs_what_the_package_declares() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    for extra in ("local", "postgres", "ray", "s3"):
        assert f"{extra} = [" in pyproject and extra in dockerfile.split(".[", 1)[1].split("]", 1)[0]
    for folder in ("bot", "content", "storage"):
        assert f"COPY {folder} {folder}" in dockerfile
    assert "torch==2.14.1 torchvision==0.29.1" in dockerfile  # pinned, as the Makefile pins it
