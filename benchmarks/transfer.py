"""Another city: how a model maps a city it was not trained on, and what a few labels buy.

Everything here goes through the ``lcz-map`` commands a user runs (synth, tile, train, map,
assess, suggest); this script only chooses inputs and collects ``assessment.json`` figures into
``ROOT/results.jsonl``. Results depend on no time budget: schedules are counted in steps, and
fine-tuning runs with ``--max-minutes 0`` (its wall time is recorded beside the figures).

    python -m benchmarks.transfer cities                  # seed-1 city in every look
    python -m benchmarks.transfer split                   # its polygons: pool / test halves
    python -m benchmarks.transfer zero-shot --model M --name NAME [--looks ...]
    python -m benchmarks.transfer fine-tune --model M --name NAME --look Y --fraction 0.05
    python -m benchmarks.transfer scratch --name NAME --look Y --fraction 0.05 --like M
    python -m benchmarks.transfer loop --model M --name NAME --look Y --n 40 --strategy informative
    python -m benchmarks.transfer table

The target city (seed 1) is another city than the demo's (seed 0): other blocks, other river.
Its label polygons are split once, per class at random, into a *pool* (labels a user may draw)
and a *test* half (never used for training, and the only reference of every assessment). A
fine-tuning run draws a share of *all* polygons from the pool; a suggestion loop labels the
suggested squares with the pool polygons inside them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path("runs/transfer")
SEED = 1
LOOKS = ("default", "winter", "monsoon", "arid", "satellite-16bit", "ge-jpeg")
LCZ_MAP = str(Path(sys.executable).with_name("lcz-map"))


def _run(*args: str) -> float:
    """Run one lcz-map command; returns its wall time in seconds."""
    t0 = time.perf_counter()
    cmd = [LCZ_MAP, *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def city(look: str) -> Path:
    return ROOT / "cities" / look


def _record(entry: dict[str, object]) -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    with (ROOT / "results.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    print(json.dumps(entry), flush=True)


def _stretch(model: Path) -> str:
    from sunet.bundle import read_bundle_meta

    return read_bundle_meta(model).radiometry.stretch


def make_cities(looks: list[str]) -> None:
    for look in looks:
        if not (city(look) / "city.json").is_file():
            _run("synth", "--seed", str(SEED), "--look", look, "--out", str(city(look)), "--quiet")


def split_labels() -> None:
    labels = gpd.read_file(city(LOOKS[0]) / "labels.gpkg", layer="labels")
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), dtype=bool)
    for _, rows in labels.groupby("lcz").indices.items():
        picked = rng.permutation(rows)[: len(rows) // 2]
        test[picked] = True
    out = ROOT / "labels"
    out.mkdir(parents=True, exist_ok=True)
    labels[test].to_file(out / "test.gpkg", layer="labels")
    labels[~test].to_file(out / "pool.gpkg", layer="labels")
    print(f"{len(labels)} polygons: {int(test.sum())} test, {int((~test).sum())} pool")


def map_and_assess(model: Path, look: str, out: Path) -> dict[str, object]:
    """Map the target city's districts with ``model`` and assess against the test polygons."""
    seconds = 0.0
    if not (out / "map" / "config.json").is_file():
        seconds = _run("map", "--model", str(model), "--scenes", str(city(look) / "scenes"),
                       "--districts", str(city(look) / "districts.gpkg"), "--out",
                       str(out / "map"), "--no-progress")  # fmt: skip
    _run("assess", "--map", str(out / "map"), "--reference", str(ROOT / "labels" / "test.gpkg"),
         "--out", str(out / "assessment"))  # fmt: skip
    result = json.loads((out / "assessment" / "assessment.json").read_text())
    novelty = out / "map" / "scene_novelty.csv"
    flagged = None
    if novelty.is_file():
        import pandas as pd

        table = pd.read_csv(novelty)
        flagged = [int(table["flagged"].sum()), len(table),
                   float(table["unfamiliar_share"].median())]  # fmt: skip
    return {"oa": result["figures"]["oa"], "oa_ci": result["intervals"]["oa"],
            "kappa": result["figures"]["kappa"], "oa_weighted": result["figures"]["oa_weighted"],
            "cells": result["cells"], "polygons": result["polygons"], "map_seconds": seconds,
            "novelty_flagged": flagged}  # fmt: skip


def zero_shot(model: Path, name: str, looks: list[str]) -> None:
    for look in looks:
        figures = map_and_assess(model, look, ROOT / "zero-shot" / name / look)
        _record({"kind": "zero-shot", "model": name, "look": look, **figures})


def _sample(fraction: float, seed: int) -> gpd.GeoDataFrame:
    pool = gpd.read_file(ROOT / "labels" / "pool.gpkg")
    total = len(pool) + len(gpd.read_file(ROOT / "labels" / "test.gpkg"))
    n = max(1, round(fraction * total))
    if n > len(pool):
        raise ValueError(f"{fraction:.0%} of {total} polygons is more than the pool holds")
    return pool.iloc[np.random.default_rng(seed).permutation(len(pool))[:n]]


# Least labelled share of a patch from sparse labels (see README "Another city": a patch half
# in an unlabelled neighbour would otherwise be stored as pure).
MIN_LABELLED = float(__import__("os").environ.get("LCZ_MIN_LABELLED", "0.9"))


def _tile(labels: gpd.GeoDataFrame, look: str, stretch: str, name: str) -> Path:
    """The patch store of ``labels`` on the target city's scenes (shared by every run that
    uses the same labels and radiometry)."""
    folder = ROOT / "stores" / f"{look}-{name}-{stretch}-{MIN_LABELLED:g}"
    store = folder / "patches"
    if not (store / "index.parquet").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        labels.to_file(folder / "labels.gpkg", layer="labels")
        _run("tile", "--scenes", str(city(look) / "scenes"), "--labels",
             str(folder / "labels.gpkg"), "--out", str(store), "--stretch", stretch,
             "--min-labelled", str(MIN_LABELLED), "--workers", "2")  # fmt: skip
    return store


def _replay_args(replay: Path | None) -> list[str]:
    # The models here predate bundles recording their store: name it (None: no replay).
    return ["--replay", str(replay)] if replay is not None else ["--no-replay"]


def _train_on_sample(
    kind: str,
    name: str,
    look: str,
    fraction: float,
    seed: int,
    stretch_of: Path,
    train_args: list[str],
    **record: object,
) -> None:
    """Tile a sample of the pool's labels, train with ``train_args``, map, assess, record."""
    out = ROOT / kind / name / look / f"{fraction:g}-{seed}-{MIN_LABELLED:g}"
    labels = _sample(fraction, seed)
    store = _tile(labels, look, _stretch(stretch_of), f"{fraction:g}-{seed}")
    seconds = 0.0
    if not (out / "train" / "model.safetensors").is_file():
        seconds = _run("train", "--patches", str(store), "--out", str(out / "train"),
                       "--max-minutes", "0", "--nproc", "2", "--threads", "1", "--no-progress",
                       *train_args)  # fmt: skip
    figures = map_and_assess(out / "train" / "model.safetensors", look, out)
    _record({"kind": kind, "model": name, "look": look, "fraction": fraction, "seed": seed,
             "min_labelled": MIN_LABELLED, "polygons_used": len(labels),
             "train_seconds": seconds, **record, **figures})  # fmt: skip


def fine_tune(
    model: Path, name: str, look: str, fraction: float, seed: int = 0, replay: Path | None = None
) -> None:
    _train_on_sample("fine-tune", name, look, fraction, seed, model,
                     ["--init-from", str(model), *_replay_args(replay)],
                     replay=replay is not None)  # fmt: skip


def scratch(name: str, look: str, fraction: float, like: Path, seed: int = 0) -> None:
    """From scratch on the same labels: the preset's schedule, no time budget."""
    _train_on_sample("scratch", name, look, fraction, seed, like, ["--appearance", "looks"])


def loop(
    model: Path,
    name: str,
    look: str,
    n: int,
    strategy: str,
    seed: int = 0,
    replay: Path | None = None,
) -> None:
    """suggest -> label -> fine-tune -> map -> assess.

    The analyst labels each suggested square by drawing the LCZ zone it lies in: here, the pool
    polygons that reach into the square, whole (clipped to the square, they would rarely hold a
    whole patch: 40 squares gave 8-11 patches).
    """
    base = ROOT / "zero-shot" / name / look / "map"
    if not (base / "config.json").is_file():
        raise FileNotFoundError(f"{base}: run zero-shot for {name} first")
    out = ROOT / "loop" / name / look / f"{strategy}-{n}-{seed}-{MIN_LABELLED:g}-zones"
    out.mkdir(parents=True, exist_ok=True)
    places = out / "suggestions.gpkg"
    if not places.is_file():
        _run("suggest", "--map", str(base), "--n", str(n), "--out", str(places), "--avoid",
             str(ROOT / "labels" / "test.gpkg"), "--strategy", strategy, "--seed", str(seed))  # fmt: skip
    squares = gpd.read_file(places, layer="suggestions")
    pool = gpd.read_file(ROOT / "labels" / "pool.gpkg").to_crs(squares.crs)
    touched = pool.geometry.intersects(shapely.union_all(squares.geometry.to_numpy()))
    labelled = pool[touched.to_numpy()]
    store = _tile(
        labelled[["lcz", "geometry"]], look, _stretch(model), f"{name}-{strategy}-{n}-{seed}-zones"
    )
    seconds = 0.0
    if not (out / "train" / "model.safetensors").is_file():
        seconds = _run("train", "--patches", str(store), "--out", str(out / "train"),
                       "--init-from", str(model), "--max-minutes", "0", "--nproc", "2",
                       "--threads", "1", "--no-progress", *_replay_args(replay))  # fmt: skip
    figures = map_and_assess(out / "train" / "model.safetensors", look, out)
    area = float(shapely.union_all(labelled.geometry.to_numpy()).area) / 1e6
    _record({"kind": "loop", "model": name, "look": look, "strategy": strategy, "n": n,
             "seed": seed, "min_labelled": MIN_LABELLED, "polygons_used": len(labelled),
             "labelled_km2": area, "train_seconds": seconds, **figures})  # fmt: skip


def _cell(r: dict[str, object] | None) -> str:
    if r is None:
        return "-"
    lo, hi = r["oa_ci"]  # type: ignore[misc]
    return f"{r['oa']:.3f} [{lo:.2f}, {hi:.2f}]"


def table(models: list[str] | None = None) -> None:
    """Markdown tables of the latest result of every run (OA with its 95 % interval)."""
    latest: dict[tuple[object, ...], dict[str, object]] = {}
    for line in (ROOT / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        key = (r["kind"], r["model"], r["look"], r.get("fraction"), r.get("strategy"),
               r.get("n"), r.get("seed"))  # fmt: skip
        latest[key] = r
    zero = {(k[1], k[2]): r for k, r in latest.items() if k[0] == "zero-shot"}
    names = models or sorted({m for m, _ in zero})
    print("| trained on | " + " | ".join(LOOKS) + " |")
    print("|---|" + "---|" * len(LOOKS))
    for m in names:
        print(f"| {m} | " + " | ".join(_cell(zero.get((m, look))) for look in LOOKS) + " |")
    tuned = [r for k, r in latest.items() if k[0] in ("fine-tune", "scratch") and k[1] in names]
    if tuned:
        print()
        print(
            "| model | look | polygons | zero-shot | fine-tuned | train s | from scratch | train s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        rows = sorted({(r["model"] if r["kind"] == "fine-tune" else None, r["look"], r["fraction"])
                       for r in tuned if r["kind"] == "fine-tune"}, key=str)  # fmt: skip
        for m, look, fraction in rows:
            ft = latest.get(("fine-tune", m, look, fraction, None, None, 0))
            sc = latest.get(("scratch", m, look, fraction, None, None, 0))
            used = ft["polygons_used"] if ft else "-"  # type: ignore[index]
            print(f"| {m} | {look} | {fraction:.0%} ({used}) | {_cell(zero.get((m, look)))} | "
                  f"{_cell(ft)} | {ft['train_seconds'] if ft else 0:.0f} | {_cell(sc)} | "
                  f"{sc['train_seconds'] if sc else 0:.0f} |")  # fmt: skip
    # Loops of the zone protocol only (see loop(); earlier runs clipped the labels to the squares).
    loops = [r for k, r in latest.items() if k[0] == "loop" and k[1] in names
             and "polygons_used" in r]  # fmt: skip
    if loops:
        print()
        print("| model | look | places | strategy | seed | polygons | labelled km2 | zero-shot "
              "| OA after fine-tuning |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for r in sorted(loops, key=lambda r: (str(r["look"]), str(r["strategy"]), r["seed"])):
            print(f"| {r['model']} | {r['look']} | {r['n']} | {r['strategy']} | {r['seed']} | "
                  f"{r.get('polygons_used', '-')} | {r['labelled_km2']:.2f} | "
                  f"{_cell(zero.get((r['model'], r['look'])))} | {_cell(r)} |")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("cities")
    c.add_argument("--looks", nargs="+", default=list(LOOKS))
    sub.add_parser("split")
    z = sub.add_parser("zero-shot")
    z.add_argument("--model", type=Path, required=True)
    z.add_argument("--name", required=True)
    z.add_argument("--looks", nargs="+", default=list(LOOKS))
    for action in ("fine-tune", "scratch"):
        f = sub.add_parser(action)
        f.add_argument("--name", required=True)
        f.add_argument("--look", required=True)
        f.add_argument("--fraction", type=float, nargs="+", required=True)
        f.add_argument("--seed", type=int, default=0)
        f.add_argument("--model" if action == "fine-tune" else "--like", type=Path, required=True)
        if action == "fine-tune":
            f.add_argument("--replay", type=Path, help="the model's training patch store")
    lp = sub.add_parser("loop")
    lp.add_argument("--model", type=Path, required=True)
    lp.add_argument("--name", required=True)
    lp.add_argument("--look", required=True)
    lp.add_argument("--n", type=int, default=40)
    lp.add_argument("--strategy", choices=("informative", "random"), nargs="+",
                    default=["informative", "random"])  # fmt: skip
    lp.add_argument("--seed", type=int, default=0)
    lp.add_argument("--replay", type=Path, help="the model's training patch store")
    tb = sub.add_parser("table")
    tb.add_argument("--models", nargs="+", default=None)
    a = p.parse_args()
    if a.action == "cities":
        make_cities(a.looks)
    elif a.action == "split":
        split_labels()
    elif a.action == "zero-shot":
        zero_shot(a.model, a.name, a.looks)
    elif a.action == "fine-tune":
        for fraction in a.fraction:
            fine_tune(a.model, a.name, a.look, fraction, a.seed, a.replay)
    elif a.action == "scratch":
        for fraction in a.fraction:
            scratch(a.name, a.look, fraction, a.like, a.seed)
    elif a.action == "loop":
        for strategy in a.strategy:
            loop(a.model, a.name, a.look, a.n, strategy, a.seed, a.replay)
    else:
        table(a.models)


if __name__ == "__main__":
    main()
