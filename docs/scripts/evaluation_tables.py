"""Print the tables of docs/evaluation.md from a report and a sweep.

    python docs/scripts/evaluation_tables.py build/demo/results.json [SWEEP/results.json]

The first argument is the ``results.json`` of ``accss3d report`` (or ``accss3d demo``), the
optional second one a sweep's ``results.json`` (the fan-out table).
"""

import json
import sys


def speedup_table(r: dict) -> None:
    e2e = r["speedup"]["end_to_end"]
    mach = r["cpu"]["machine"]
    print(f"{r['network']['name']} on {r['scene']['name']} ({r['scene']['voxels']} voxels), "
          f"config {r['config']['name']}; CPU {mach['cpu']}, {mach['cores']} cores "
          f"(os.cpu_count()), load average {mach['load_average']}\n")  # fmt: skip
    print("| layer | conv | accel us | CPU 1 thread ms (path) | speedup | energy ratio on chip "
          "| energy ratio with DRAM | PE util |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    acc = {a["name"]: a for a in r["accelerator"]["layers"]}
    for s in r["speedup"]["layers"]:
        a = acc[s["name"]]
        print(f"| {s['name']} | {a['conv']} {a['cin']}->{a['cout']} | {s['accel_s'] * 1e6:,.0f} "
              f"| {s['cpu_1t_s'] * 1e3:.2f} ({s['cpu_1t_path']}) | {s['speedup_1t']:.2f} "
              f"| {s['energy_ratio_1t_on_chip']:,.0f} | {s['energy_ratio_1t_total']:.1f} "
              f"| {a['utilization']:.0%} |")  # fmt: skip
    print(f"| **all layers** | | {e2e['accel_s'] * 1e6:,.0f} | {e2e['cpu_1t_s'] * 1e3:.1f} "
          f"| **{e2e['conv_speedup_1t']:.2f}** | **{e2e['conv_energy_1t_on_chip']:,.0f}** "
          f"| **{e2e['conv_energy_1t_total']:.1f}** | {r['accelerator']['utilization']:.0%} |")
    print()
    paper = r["paper"]
    print("| | paper | this run |")
    print("|---|---|---|")
    print(f"| sparse convolution speedup | {paper['speedup_conv']}x | "
          f"{e2e['conv_speedup_best']:.2f}x (best CPU path per layer) |")
    print(f"| sparse convolution energy efficiency | {paper['energy_conv']:g}x | "
          f"{e2e['conv_energy_best_on_chip']:,.0f}x on chip, {e2e['conv_energy_1t_total']:.1f}x "
          "with DRAM |")
    print(f"| end-to-end speedup | {paper['speedup_e2e']}x | {e2e['e2e_speedup_best']:.2f}x "
          f"(rulebooks {e2e['rulebook_s'] * 1e3:.1f} ms on the host in both flows) |")
    print(f"| end-to-end energy efficiency | {paper['energy_e2e']}x | "
          f"{e2e['e2e_energy_best_on_chip']:.1f}x on chip, {e2e['e2e_energy_1t_total']:.1f}x with "
          "DRAM |")
    print(f"| area | {paper['area_mm2']} mm^2 (16 nm) | {r['area']['area_mm2_16nm']:.3f} mm^2 "
          f"({r['area']['area_kind']}) |")
    en = r["energy"]["total_pj"]
    print()
    print("energy (uJ): " + ", ".join(f"{k} {v * 1e-6:,.1f}" for k, v in en.items()))
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r["stage_seconds"].items()))


def sweep_table(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    print(f"\n{doc['name']}: {doc['workload']} on {doc['scene']}, base {doc['base']}\n")
    print("| point | cycles | PE util | energy uJ (on chip) | area mm^2 (16 nm) | area source |")
    print("|---|---|---|---|---|---|")
    for r in doc["rows"]:
        label = ", ".join(f"{k}={v}" for k, v in sorted(r["values"].items()))
        if r["status"] != "ok":
            print(f"| {label} | {r['status']}: {r['error']} | | | | |")
            continue
        print(f"| {label} | {r['cycles']:,} | {r['utilization']:.1%} | {r['energy_uj']:,.0f} "
              f"({r['on_chip_uj']:,.1f}) | {r['area_mm2']:.4f} | {r['area_source']} |")


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        speedup_table(json.load(fh))
    if len(sys.argv) > 2:
        sweep_table(sys.argv[2])


if __name__ == "__main__":
    main()
