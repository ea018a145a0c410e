"""Print the per-block area tables of docs/area.md (cached synthesis results are reused).

Usage: ``python docs/scripts/area_table.py small:sg13g2 small:generic default:sg13g2 ...``
(flows: ``sg13g2`` = cells + SRAM macros, ``sg13g2-flops``, ``asap7``, ``generic``).  Each
uncached run synthesizes (minutes for the default config); the time is printed.
"""

import sys
import time

from accss3d.arch import CONFIGS
from accss3d.area import BLOCK_LABELS, BLOCKS, area_report, pdk_files


def run(config: str, flow: str) -> tuple[dict, float]:
    cfg = CONFIGS[config]
    start = time.monotonic()
    if flow == "generic":
        rep = area_report(cfg)
    else:
        pdk = flow.split("-")[0]
        lib, sram, node = pdk_files(pdk)
        sram = [] if flow.endswith("flops") else sram
        rep = area_report(cfg, liberty=lib, sram_libs=sram, node_nm=node)
    return rep, time.monotonic() - start


def um2(value: float) -> str:
    """um^2 with thousands separators; one decimal below 10,000 (ASAP7)."""
    return f"{value:,.0f}" if value >= 10_000 else f"{value:,.1f}"


def main(argv: list[str]) -> None:
    reports = []
    for item in argv:
        config, flow = item.split(":")
        rep, seconds = run(config, flow)
        reports.append((f"{config}, {flow}", rep))
        print(f"{item}: {seconds:.0f} s (0 s = cached)", file=sys.stderr)
    print("| block | " + " | ".join(name for name, _ in reports) + " |")
    print("|---|" + "---:|" * len(reports))
    for block in BLOCKS:
        cells = [um2(r["blocks"][block]["area"]) for _, r in reports]
        print(f"| {BLOCK_LABELS[block]} | " + " | ".join(cells) + " |")
    print(
        "| **total** | " + " | ".join(f"**{um2(r['total_area_um2'])}**" for _, r in reports) + " |"
    )
    scaled = [
        f"{r['scaled_16nm']['area_mm2']:.3f}" if "scaled_16nm" in r else "-" for _, r in reports
    ]
    print("| scaled to 16 nm, mm^2 | " + " | ".join(scaled) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
