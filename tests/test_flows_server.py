"""Against a real Prefect server on 127.0.0.1: redeploying, and the demo deployment end to end.

One server per module (temporary PREFECT_HOME, a free port), started and stopped by PID through
:mod:`flows.services`, the same code behind ``make server`` / ``make worker`` / ``make stop``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flows.services import SERVICES, LocalPrefect

pytestmark = pytest.mark.server

POOL = "lcz-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalPrefect, dict[str, str]]]:
    root = tmp_path_factory.mktemp("prefect")
    local = LocalPrefect(home=root / "home", port=_free_port())
    env = local.env()
    env.update(
        LCZ_RUNS_ROOT=str(root / "runs"),
        LCZ_DATA_ROOT=str(root / "data"),
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    try:
        local.start_server()
        yield local, env
    finally:
        for name in reversed(SERVICES):
            local.stop(name)
    assert local.running_pid("server") is None


@contextmanager
def _client_of(local: LocalPrefect) -> Iterator[Any]:
    """A Prefect client (and settings) aimed at the test server, in this process."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: local.api_url}):
        with get_client(sync_client=True) as client:
            yield client


def test_redeploy_keeps_one_schedule_and_one_trigger(
    server: tuple[LocalPrefect, dict[str, str]], tmp_path: Path
) -> None:
    from flows.deployments import ZOMBIE_AUTOMATION, build_deployments, deploy

    local, _ = server
    with _client_of(local) as client:
        for _ in range(2):  # as `make deploy` run twice
            deploy(POOL, build_deployments(tmp_path / "data", tmp_path / "runs"))
        found = {}
        automations = client.read_automations()
        for name in ("lcz-map/wuhan", "lcz-map/demo"):
            d = client.read_deployment_by_name(name)
            owned = [
                a for a in automations
                if getattr(a.actions[0], "deployment_id", None) == d.id
            ]  # fmt: skip
            found[name] = {
                "schedules": [s.slug for s in d.schedules],
                "triggers": len(owned),
                "pool": d.work_pool_name,
                "limit": d.global_concurrency_limit.limit if d.global_concurrency_limit else None,
            }
        zombie = client.read_automations_by_name(ZOMBIE_AUTOMATION)
    assert found == {
        "lcz-map/wuhan": {
            "schedules": ["scheduled-remap"],
            "triggers": 1,
            "pool": POOL,
            "limit": 1,
        },
        "lcz-map/demo": {"schedules": [], "triggers": 0, "pool": POOL, "limit": 1},
    }
    assert len(zombie) == 1


def _wait_for_final_run(local: LocalPrefect, deployment: str, timeout: float) -> Any:
    """The state of the first run of ``deployment`` once it is final (polls the API)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    with _client_of(local) as client:
        dep = client.read_deployment_by_name(deployment)
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id]))
            )
            final = [r.state for r in runs if r.state is not None and r.state.is_final()]
            if final:
                return final[0]
            time.sleep(2)
    raise AssertionError(f"no finished run of {deployment} within {timeout:.0f} s")


@pytest.mark.slow
def test_demo_deployment_runs_to_completion(server: tuple[LocalPrefect, dict[str, str]]) -> None:
    local, env = server
    subprocess.run(  # `make deploy`
        [sys.executable, "-m", "flows.deployments", "deploy", "--pool", POOL],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    local.start_worker(POOL, env)
    run = subprocess.run(
        [str(Path(sys.executable).with_name("prefect")), "deployment", "run", "lcz-map/demo",
         "--watch", "--watch-timeout", "900"],
        env=env,
        capture_output=True,
        text=True,
        timeout=960,
    )  # fmt: skip
    log = run.stdout + run.stderr + (local.log_file("worker").read_text(errors="replace")[-4000:])
    assert run.returncode == 0, log
    assert "Completed" in run.stdout, log

    root = Path(env["LCZ_RUNS_ROOT"]) / "demo"
    latest = json.loads((root / "latest.json").read_text())
    assert latest["version"] == "v0001"
    version = root / latest["path"]
    areas = sorted(p.name for p in version.iterdir() if (p / "lcz_dominant.tif").is_file())
    assert "city" in areas and len(areas) == 6  # the city and its five districts
    assert (version / "city" / "quicklook.png").stat().st_size > 0
    assert json.loads((version / "version.json").read_text())["mode"] == "full"
    assert (root / "work" / "patches" / "index.parquet").is_file()

    with _client_of(local) as client:
        keys = {a.key for a in client.read_artifacts() if a.key}
    assert {"demo-map", "demo-metrics", "demo-tiling"} <= keys

    # New imagery announced for Wuhan starts its deployment through the trigger; with no Wuhan
    # data on this machine the run fails at once, naming what is missing.
    prefect = str(Path(sys.executable).with_name("prefect"))
    subprocess.run(
        [prefect, "event", "emit", "lcz.imagery.arrived", "--resource-id", "lcz.city.wuhan"],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    state = _wait_for_final_run(local, "lcz-map/wuhan", timeout=240)
    assert state.type.value == "FAILED"
    # The one-line reason is the run's state message (what --watch and the UI show).
    assert "wuhan/lcz-map.yaml: no such city file" in (state.message or ""), state.message
    local.stop("worker")
    assert local.running_pid("worker") is None
    assert os.environ.get("PREFECT_API_URL") != env["PREFECT_API_URL"]  # nothing leaked here


def _make_city(
    env: dict[str, str], name: str, size: int, east: int, config: str
) -> tuple[Path, Path]:
    """A city folder under the data root: one ``size`` m scene (LCZ 2 | LCZ G), the district
    Hanyang reaching ``east`` m from the scene's west edge, a random model and a city file
    (``config`` appended to the model, CRS and Dask lines). Returns it and its map root."""
    from mapping_fixtures import LEFT, TOP, random_bundle, split_scene, write_districts

    city = Path(env["LCZ_DATA_ROOT"]) / name
    (city / "scenes").mkdir(parents=True)
    split_scene(city / "scenes" / "a.tif", 2, 17, size=size)
    box = (LEFT + 32, TOP - size + 32, LEFT + east, TOP - 32)
    write_districts(city / "districts.gpkg", {"Hanyang": box})
    random_bundle(city / "model.safetensors")
    (city / "lcz-map.yaml").write_text(
        "model: model.safetensors\ncrs: EPSG:32650\ndask_workers: 0\n" + config, encoding="utf-8"
    )
    return city, Path(env["LCZ_RUNS_ROOT"]) / name


def _runs_of(local: LocalPrefect, deployment: str) -> list[Any]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with _client_of(local) as client:
        dep = client.read_deployment_by_name(deployment)
        return list(
            client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id]))
            )
        )


def _wait(what: str, ready: Any, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-6000:] if log.is_file() else ""
            raise AssertionError(f"{what} not within {timeout:.0f} s; serve log:\n{tail}")
        time.sleep(2)


@pytest.mark.slow
def test_a_city_configured_by_its_file_remaps_on_event_and_schedule(
    server: tuple[LocalPrefect, dict[str, str]],
) -> None:
    """Only the city's folder and `make serve`: the event and the schedule each bring a new
    version, with the model named in the file, and nothing trains."""
    from mapping_fixtures import LEFT, split_scene

    local, env = server
    city, out = _make_city(
        env, "tcity", 192, 352, "settle_seconds: 0\nmapping: {stride: 16, progress: false, "
        "cells_layer: false, novelty_windows: 0}\ndeployment: {schedule: '* * * * *', "
        "watch_inbox: null}\n",
    )  # fmt: skip
    (city / "inbox").mkdir()
    prefect = str(Path(sys.executable).with_name("prefect"))
    local.start_serve(env)
    log = local.log_file("serve")
    try:
        _wait("the deployment", lambda: "tcity" in log.read_text(errors="replace"), 240, log)
        emit = [prefect, "event", "emit", "lcz.imagery.arrived", "--resource-id", "lcz.city.tcity"]
        time.sleep(5)  # the trigger is in place once the deployment is
        t0 = time.monotonic()
        subprocess.run(emit, env=env, check=True, capture_output=True, timeout=120)
        _wait("v0001", lambda: (out / "versions" / "v0001").is_dir(), 420, log)
        t1 = time.monotonic()

        split_scene(city / "inbox" / "b.tif", 11, 11, size=192, left=LEFT + 192)
        subprocess.run(emit, env=env, check=True, capture_output=True, timeout=120)
        _wait("v0002", lambda: (out / "versions" / "v0002").is_dir(), 420, log)
        print(
            f"event -> v0001: {t1 - t0:.0f} s; inbox + event -> v0002: {time.monotonic() - t1:.0f} s"
        )
        # The every-minute schedule runs too (no new imagery by then: it publishes nothing).
        _wait(
            "a scheduled run",
            lambda: any(
                r.parameters.get("started_by") == "schedule" and r.state and r.state.is_final()
                for r in _runs_of(local, "lcz-map/tcity")
            ),
            300,
            log,
        )
    finally:
        local.stop("serve")
    runs = _runs_of(local, "lcz-map/tcity")
    finished = [r for r in runs if r.state is not None and r.state.is_final()]
    assert finished and all(r.state.is_completed() for r in finished), [
        (r.parameters, r.state.message) for r in finished
    ]
    assert {"event", "schedule"} <= {r.parameters.get("started_by") for r in finished}
    changes = json.loads((out / "versions" / "v0002" / "changes" / "changes.json").read_text())
    assert (changes["before"], changes["after"]) == ("v0001", "v0002")
    assert changes["districts"]["Hanyang"]["covered_m2"] > 0
    assert not (out / "work" / "models").exists()  # automation trained nothing
    with _client_of(local) as client:
        by_run = {}
        for a in client.read_artifacts():
            by_run.setdefault(a.key, set()).add(a.flow_run_id)
    parents = {r.id for r in runs}
    assert by_run.get("tcity-map", set()) & parents  # on the run the trigger started
    assert by_run.get("tcity-changes", set()) & parents


@pytest.mark.slow
def test_kill_9_mid_map_then_the_rerun_reuses_the_finished_batches(
    server: tuple[LocalPrefect, dict[str, str]],
) -> None:
    import signal

    local, env = server
    _, out = _make_city(
        env, "kcity", 384, 352, "mapping: {stride: 16, batch_size: 4, progress: false, "
        "cells_layer: false, novelty_windows: 0}\ndeployment: {schedule: null, "
        "watch_inbox: null}\n",
    )  # fmt: skip
    prefect = str(Path(sys.executable).with_name("prefect"))
    run = [prefect, "deployment", "run", "lcz-map/kcity"]
    log = local.log_file("serve")
    local.start_serve(env)
    try:
        _wait("the deployment", lambda: "kcity" in log.read_text(errors="replace"), 240, log)
        subprocess.run(run, env=env, check=True, capture_output=True, timeout=120)
        finished = lambda: len(list(out.glob("versions/.resume-*/*.npz")))  # noqa: E731
        _wait("ten finished batches", lambda: finished() >= 10, 420, log)
        os.killpg(local.running_pid("serve") or 0, signal.SIGKILL)  # the machine "dies"
        time.sleep(1)
        kept = finished()
        assert not (out / "versions" / "v0001").exists()
        local.start_serve(env)
        subprocess.run(run, env=env, check=True, capture_output=True, timeout=120)
        _wait(
            "a completed run",
            lambda: any(
                r.state is not None and r.state.is_completed()
                for r in _runs_of(local, "lcz-map/kcity")
            ),
            900,
            log,
        )
    finally:
        local.stop("serve")
    mapping = json.loads((out / "versions" / "v0001" / "version.json").read_text())["mapping"]
    assert mapping["batches_reused"] >= kept >= 10
    assert mapping["batches"] > mapping["batches_reused"]
    assert not list(out.glob("versions/.resume-*"))
