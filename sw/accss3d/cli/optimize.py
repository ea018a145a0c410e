"""Owns ``accss3d optimize``: the per-layer dataflow decision of a network on a scene."""

from __future__ import annotations

import time

from ..arch import get_config
from ..errors import ConfigError
from ..optimizer import (
    METHODS,
    MemoryTiming,
    cost,
    gapless_rows,
    layer_stats,
    search,
    stats_seconds,
)
from ..optimizer import choose_schedule as fast_decision
from ._common import add_scene_options, dump_json
from .network import console, plan_network

__all__ = ["register", "optimize_plans"]


def register(sub) -> None:
    p = sub.add_parser(
        "optimize",
        help="choose each layer's tiling and loop order (the dataflow optimizer)",
        description="Bind a network to a scene and choose every layer's schedule: 'fast' is "
        "the ARF-based closed-form decision, 'oracle' the exhaustive search with the same "
        "cost model, 'both' runs both and reports the gap. Figures are modelled cycles, PE "
        "utilization and DRAM bytes of the SSpNNA core (docs/optimizer.md).",
    )
    add_scene_options(p)
    p.add_argument("--network", default="minkunet18", help="network name or .yaml/.json file")
    p.add_argument("--config", default="default", help="architecture config name or .json file")
    p.add_argument("--method", default="fast", help=f"{', '.join(METHODS)} (default fast)")
    p.add_argument(
        "--mem-latency",
        type=int,
        default=MemoryTiming.latency,
        metavar="CYCLES",
        help=f"external memory latency in cycles (default {MemoryTiming.latency})",
    )
    p.add_argument("--json", action="store_true", help="print figures as JSON")
    p.set_defaults(func=run)


def optimize_plans(plans, cfg, method: str = "fast", memory: MemoryTiming | None = None):
    """Per-layer rows (schedule, modelled cost, decision latency) and network totals."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    rows = []
    gapless = gapless_rows(plans)
    for plan in plans:
        g = gapless[plan.layer.name]
        stats = layer_stats(plan)  # measured once per kernel map, outside the latency
        row = {
            "layer": plan.layer.name,
            "conv": plan.layer.conv.describe(),
            "cin": plan.cin,
            "cout": plan.layer.cout,
            "outputs": stats.n_out,
            "pairs": stats.n_pairs,
            "arf": stats.arf,
            "macs": stats.macs,
            "stats_ms": 1e3 * stats_seconds(plan),
        }
        if method in ("fast", "both"):
            t0 = time.perf_counter()
            sched = fast_decision(plan, cfg, memory=memory, gapless=g)
            row["decision_us"] = 1e6 * (time.perf_counter() - t0)
            row.update(_figures(cost(plan, cfg, sched, memory=memory, gapless=g), sched))
        if method in ("oracle", "both"):
            t0 = time.perf_counter()
            best, c = search(plan, cfg, memory=memory, gapless=g)
            seconds = time.perf_counter() - t0
            figures = _figures(c, best)
            if method == "oracle":
                row.update(figures)
                row["decision_us"] = 1e6 * seconds
            else:
                row["oracle"] = {**figures, "search_ms": 1e3 * seconds}
                row["gap"] = row["cycles"] / c.cycles - 1.0 if c.cycles else 0.0
        rows.append(row)
    cycles = sum(r["cycles"] for r in rows)
    macs = sum(r["macs"] for r in rows)
    totals = {
        "layers": len(rows),
        "cycles": cycles,
        "milliseconds": cycles / (1e3 * cfg.clock_mhz),
        "dram_bytes": sum(r["dram_bytes"] for r in rows),
        "macs": macs,
        "utilization": macs / (cfg.num_pes * cycles) if cycles else 0.0,
    }
    if method == "both":
        oracle = sum(r["oracle"]["cycles"] for r in rows)
        totals["oracle_cycles"] = oracle
        totals["gap"] = cycles / oracle - 1.0 if oracle else 0.0
        totals["worst_gap"] = max(r["gap"] for r in rows)
    return rows, totals


def _figures(c, sched) -> dict:
    return {
        "schedule": sched.to_dict(),
        "choice": sched.describe(),
        "cycles": c.cycles,
        "utilization": c.useful_utilization,
        "array_busy": c.utilization,
        "dram_bytes": c.dram_bytes,
        "traffic": c.traffic,
        "tiles": c.tiles,
    }


def run(args) -> int:
    if args.method not in METHODS:
        raise ConfigError(f"unknown method {args.method!r} (choose from {', '.join(METHODS)})")
    if args.mem_latency < 0:
        raise ConfigError(f"--mem-latency must be non-negative, not {args.mem_latency}")
    cfg = get_config(args.config)
    memory = MemoryTiming(latency=args.mem_latency)
    net, plans, info = plan_network(args.scene, args.voxel_size, args.network)
    rows, totals = optimize_plans(plans, cfg, args.method, memory)
    info.update({"config": cfg.name, "method": args.method, "mem_latency": args.mem_latency})
    if args.json:
        dump_json({**info, "layers": rows, "totals": totals})
    else:
        _print_table(info, rows, totals)
    return 0


def _short(s: dict) -> str:
    """Compact schedule text: ``tile 128 in/Ws/db/pk`` (Cout inner, weights streamed...)."""
    flags = []
    if s["order"] == "tile":
        flags.append("in" if s["cout_inner"] else "out")
        flags.append("Wr" if s["weights_resident"] else "Ws")
    if s["double_buffer"]:
        flags.append("db")
    if s.get("pack"):
        flags.append("pk")
    return f"{s['order']} {s['tile_outputs']} {'/'.join(flags)}"


def _print_table(info, rows, totals) -> None:
    from rich.table import Table

    both = info["method"] == "both"
    table = Table(
        title=f"{info['network']} on {info['scene']} at {info['voxel_size']:g} "
        f"({info['voxels']} voxels), config {info['config']}, method {info['method']}"
    )
    cols = [
        "layer",
        "conv",
        "cin",
        "cout",
        "outputs",
        "ARF",
        "choice",
        "cycles",
        "util",
        "DRAM kB",
        "decision us",
    ]
    if both:
        cols += ["oracle choice", "oracle cycles", "gap"]
    for col in cols:
        left = col in ("layer", "conv", "choice", "oracle choice")
        table.add_column(col, justify="left" if left else "right")
    for r in rows:
        cells = [
            r["layer"],
            r["conv"],
            str(r["cin"]),
            str(r["cout"]),
            str(r["outputs"]),
            f"{r['arf']:.2f}",
            _short(r["schedule"]),
            str(r["cycles"]),
            f"{r['utilization']:.2f}",
            f"{r['dram_bytes'] / 1e3:.1f}",
            f"{r['decision_us']:.0f}",
        ]
        if both:
            o = r["oracle"]
            cells += [_short(o["schedule"]), str(o["cycles"]), f"{100 * r['gap']:.1f}%"]
        table.add_row(*cells)
    total = [
        "total",
        "",
        "",
        "",
        "",
        "",
        "",
        str(totals["cycles"]),
        f"{totals['utilization']:.2f}",
        f"{totals['dram_bytes'] / 1e3:.1f}",
        "",
    ]
    if both:
        total += ["", str(totals["oracle_cycles"]), f"{100 * totals['gap']:.1f}%"]
    table.add_row(*total)
    console().print(table)
    print(
        f"{totals['cycles']} cycles = {totals['milliseconds']:.2f} ms at the config's clock, "
        f"{totals['dram_bytes'] / 1e6:.1f} MB DRAM, PE utilization {totals['utilization']:.2f}"
    )
