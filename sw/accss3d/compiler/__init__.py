"""Owns the compiler: from layer plans, integer parameters and schedules to a program.

:func:`compile_plans` is the core: it runs the integer golden forward pass
(:mod:`accss3d.netgolden`, which calibrates each layer's requantization), lays out external
memory (:mod:`~accss3d.compiler.layout`), tiles every layer (:mod:`~accss3d.compiler.tiles`),
emits its instruction streams for its :class:`~accss3d.schedule.Schedule`
(:mod:`~accss3d.compiler.emit`), orders them and inserts the tokens
(:mod:`~accss3d.compiler.order`), and packs one program for the whole network - layers
separated by SYNC, a HALT at the end - with a manifest of where every tensor lives and the
SHA-256 of every golden output, so that a run can be checked without the golden model.
Same inputs, same bytes.

:func:`compile_network` and :func:`compile_layer` bind a network or a single layer
(``subm3:32:32``, ``conv2s2:32:64``, ``deconv2s2:64:32``) to a scene first.  Schedules come
from the dataflow optimizer (``accss3d.optimizer.choose_schedule``) unless given (``--schedule
default`` takes :func:`default_schedule`).  docs/compiler.md describes the memory image, the
tiling and the token protocol.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..arch import ArchConfig
from ..cyclemodel import Timing
from ..errors import ConfigError, InputError
from ..isa import INSTR_BYTES, Op
from ..netgolden import LayerParams, NetResult, forward, random_input, random_params, tensor_sha256
from ..network import INPUT, CoordinateManager, LayerPlan, LayerSpec, Network
from ..optimizer import choose_schedule as optimize
from ..optimizer import gapless_rows
from ..optimizer import tile_bounds as cut
from ..program import Program
from ..rulebook import ConvSpec, build_kernel_map
from ..schedule import Schedule
from .emit import NCOL, LayerEmitter, _rows
from .layout import DataArena, Layout, align
from .order import place, program_order
from .tiles import distinct_inputs, plain_bounds

__all__ = [
    "CompileResult",
    "compile_plans",
    "compile_network",
    "compile_layer",
    "default_schedule",
    "choose_schedule",
    "parse_layer_spec",
    "single_layer_plan",
]

log = logging.getLogger(__name__)
_LAYER_RE = re.compile(r"^(subm|conv|deconv)(\d+)(?:s(\d+))?(?:d(\d+))?:(\d+):(\d+)$")
_KINDS = {"subm": "submanifold", "conv": "strided", "deconv": "transposed"}


@dataclass(eq=False)
class CompileResult:
    """A compiled program with the golden forward pass it was checked against."""

    program: Program
    golden: NetResult
    schedules: dict[str, Schedule] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- schedules
def _tiles_of(n: int, size: int) -> int:
    return -(-n // size)


def default_schedule(plan: LayerPlan, cfg: ArchConfig) -> Schedule:
    """A simple feasible schedule: voxel tiles outer, Cout outer, double-buffered.

    The tile is the largest power of two (at most one OFM bank of accumulator rows) whose
    gathered inputs fit an IFM bank one Cin tile at a time; weights stay resident when all
    the layer's weight tiles of one Cout tile fit WGT.
    """
    M = plan.kmap.n_out
    R = cfg.pe_rows
    n_ci = _tiles_of(plan.cin, R)
    n_cr = _tiles_of(plan.residual_channels, R)
    ofm_rows = cfg.words("ofm") // 2
    ifm_words = cfg.words("ifm") // 2
    T = 1
    while T * 2 <= ofm_rows:
        T *= 2
    T = min(T, max(M, 1))
    while T > 1:
        slots = distinct_inputs(plan.kmap, plain_bounds(M, T)).max() if M else 0
        if slots <= ifm_words and T <= ifm_words:
            break
        T = max(1, T // 2) if T & (T - 1) == 0 else 1 << (T.bit_length() - 1)
    planes = int(np.count_nonzero(plan.kmap.pair_counts()))
    resident = (planes * n_ci + n_cr) * R <= cfg.words("wgt")
    return Schedule(T, "tile", False, resident, True)


def choose_schedule(
    plan: LayerPlan, cfg: ArchConfig, gapless: bool | tuple[bool, bool] = True
) -> tuple[Schedule, str]:
    """The dataflow optimizer's schedule (:func:`accss3d.optimizer.choose_schedule`).

    ``gapless``: whether the layer's gathered input rows and its output rows are contiguous
    in DRAM (``accss3d.optimizer.gapless_rows`` of the network's plans)."""
    return optimize(plan, cfg, gapless=gapless), "optimizer"


def tile_bounds(plan: LayerPlan, cfg: ArchConfig, schedule: Schedule) -> np.ndarray:
    """Voxel tile boundaries of a schedule: the optimizer's cut (``pack`` included) when it
    can tile the layer with all Cin tiles resident, else plain tiles of ``tile_outputs``
    (the compiler then gathers the inputs in several IFM passes)."""
    M = plan.kmap.n_out
    plain = plain_bounds(M, min(schedule.tile_outputs, max(M, 1)))
    try:
        bounds = np.asarray(cut(plan, cfg, schedule), dtype=np.int64)
    except ConfigError:
        return plain
    if len(bounds) < 1 or bounds[0] != 0 or bounds[-1] != M or np.any(np.diff(bounds) < 1):
        return plain
    return bounds


def _fallback(plan: LayerPlan, cfg: ArchConfig, sched: Schedule, source: str):
    """The schedule to try when ``sched`` (from ``source``) cannot be compiled, with its
    source, or None: the optimizer's gives way to the default one, a default one with
    resident weights to the same with streamed weights."""
    if source == "optimizer":
        sched, source = default_schedule(plan, cfg), "default"
        return sched, source
    if source == "default" and sched.weights_resident:
        return replace(sched, weights_resident=False), "default"
    return None


# --------------------------------------------------------------------------- plans
def parse_layer_spec(text: str) -> tuple[ConvSpec, int, int]:
    """``subm3:32:32`` / ``conv2s2:32:64`` / ``deconv2s2:64:32`` (optional ``dD`` dilation)."""
    m = _LAYER_RE.match(text.strip().lower())
    if not m:
        raise ConfigError(
            f"bad layer spec {text!r}: expected KIND K[sS][dD]:CIN:COUT with KIND subm, conv or "
            f"deconv, e.g. subm3:32:32, conv2s2:32:64, deconv2s2:64:32"
        )
    kind = _KINDS[m.group(1)]
    k = int(m.group(2))
    s = int(m.group(3) or 1)
    d = int(m.group(4) or 1)
    cin, cout = int(m.group(5)), int(m.group(6))
    if cin < 1 or cout < 1:
        raise ConfigError(f"bad layer spec {text!r}: channel counts must be positive")
    return ConvSpec(kind, k, s, d), cin, cout


def single_layer_plan(
    coords: np.ndarray, spec: ConvSpec, cin: int, cout: int, relu: bool = False, name: str = "layer"
) -> LayerPlan:
    """A one-layer plan on a scene's voxels (a transposed layer restores them from the
    stride-``s`` level made by the strided convolution of the same kernel)."""
    coords = np.asarray(coords, dtype=np.int32)
    layer = LayerSpec(name, spec, (INPUT,), cout, relu)
    if spec.kind == "transposed":
        down = ConvSpec("strided", spec.kernel_size, spec.stride, spec.dilation)
        _, coarse = build_kernel_map(coords, down)
        kmap, out = build_kernel_map(coarse, spec, in_stride=spec.stride, out_coords=coords)
        return LayerPlan(layer, kmap, cin, 0, coarse, out)
    kmap, out = build_kernel_map(coords, spec)
    return LayerPlan(layer, kmap, cin, 0, coords, out)


# --------------------------------------------------------------------------- compile
def _lane_weights(plan, params: LayerParams, layout: Layout, R: int, C: int):
    """Weights in lane layout: ``(K + 1, n_max * R, n_co * C)``, plane K = residual."""
    layer = plan.layer
    chans = {n: layout.tensors[n][1] for n in layout.tensors}
    win = layout.window(layer.inputs)
    n_ci = _tiles_of(win.span // layout.act_bytes, R)
    n_cr = 0
    win_res = None
    if layer.residual:
        win_res = layout.window(layer.residual)
        n_cr = _tiles_of(win_res.span // layout.act_bytes, R)
    K = plan.kmap.volume
    n_co = _tiles_of(layer.cout, C)
    w = np.zeros((K + 1, max(n_ci, n_cr) * R, n_co * C), dtype=np.int64)
    w[:K, win.lane_index(chans), : layer.cout] = np.asarray(params.weight, dtype=np.int64)
    if win_res is not None:
        w[K, win_res.lane_index(chans), : layer.cout] = np.asarray(
            params.residual_weight, dtype=np.int64
        )
    return w, win, win_res, n_ci, n_cr


def _tensor_entry(layout: Layout, name: str, stride: int, golden: np.ndarray, role: str):
    buf = layout.buffer_of[name]
    return {
        "addr": layout.tensor_addr(name),
        "rows": int(layout.tensors[name][0]),
        "channels": int(layout.tensors[name][1]),
        "row_stride": int(buf.row_stride),
        "bytes_per_channel": layout.act_bytes,
        "buffer": buf.name,
        "tensor_stride": int(stride),
        "role": role,
        "golden_sha256": tensor_sha256(golden),
    }


def compile_plans(
    plans: list[LayerPlan],
    feats: np.ndarray,
    params: dict,
    cfg: ArchConfig,
    *,
    schedules: dict | None = None,
    timing: Timing | None = None,
    manifest_extra: dict | None = None,
    progress=None,
    golden: NetResult | None = None,
) -> CompileResult:
    """Compile layers (in execution order) into one program.

    Parameters
    ----------
    plans : list of LayerPlan
        Layers whose inputs are ``"input"`` or earlier layers.
    feats : ndarray (N, Cin) int
        Input features (int ``act_bits``).
    params : dict of str to LayerParams
    cfg : ArchConfig
    schedules : dict of str to Schedule, optional
        Per-layer schedules; the others come from :func:`choose_schedule`.
    timing : Timing, optional
        The cost rules the program order is estimated with.
    manifest_extra : dict, optional
        Extra manifest fields (scene, seed...).
    progress : callable, optional
        Called with each layer's name.
    golden : NetResult, optional
        The golden forward pass of these plans, parameters and features when already
        computed (:func:`accss3d.netgolden.forward`); run here otherwise.

    Raises
    ------
    ConfigError
        One line when a layer cannot be tiled on ``cfg`` (naming the layer and why).
    """
    timing = timing or Timing()
    schedules = dict(schedules or {})
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    if golden is None:
        golden = forward(plans, feats, params, cfg)
    secs["golden"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tensors = {INPUT: (len(feats), int(np.shape(feats)[1]))}
    strides = {INPUT: plans[0].kmap.in_stride if plans else 1}
    for plan in plans:
        tensors[plan.layer.name] = (plan.kmap.n_out, plan.layer.cout)
        strides[plan.layer.name] = plan.kmap.out_stride
        for n in plan.layer.inputs + plan.layer.residual:
            if n not in tensors:
                raise ConfigError(f"layer {plan.layer.name} reads {n!r} before it is made")
    groups = [p.layer.inputs for p in plans] + [p.layer.residual for p in plans if p.layer.residual]
    layout = Layout(cfg, tensors, groups, data_tensors={INPUT})
    arena = DataArena(layout.act_end)
    # The input buffer lives in the data arena (it is initialized).
    ibuf = layout.buffer_of[INPUT]
    rows = np.zeros((ibuf.rows, ibuf.row_stride), dtype=np.uint8)
    ab = layout.act_bytes
    for m in ibuf.members:
        x = np.asarray(golden.tensors[m]).astype(f"<i{ab}").view(np.uint8)
        rows[:, ibuf.offsets[m] : ibuf.offsets[m] + x.shape[1]] = x.reshape(ibuf.rows, -1)
    ibuf.addr = arena.add(rows)
    R, C = cfg.pe_rows, cfg.pe_cols
    tables, layers_info = [], []
    pc = 0
    gapless = gapless_rows(plans)
    for plan in plans:
        name = plan.layer.name
        if progress is not None:
            progress(name)
        source = "given"
        sched = schedules.get(name)
        if sched is None:
            sched, source = choose_schedule(plan, cfg, gapless[name])
        w, win, win_res, n_ci, n_cr = _lane_weights(plan, params[name], layout, R, C)
        out_buf = layout.buffer_of[name]

        args = (
            plan.kmap, None, bool(plan.layer.residual), n_ci, n_cr,
            win, win_res,
            layout.tensor_addr(name), out_buf.row_stride, plan.layer.cout, w,
            params[name].bias, golden.requant[name], arena,
        )  # fmt: skip
        # The optimizer's schedule, else the default one, else the default with streamed
        # weights (concatenated inputs may need more Cin lanes than the optimizer assumes).
        mark = arena.size, len(arena.chunks)
        while True:
            try:
                bounds = tile_bounds(plan, cfg, sched)
                em = LayerEmitter(cfg, timing, name, sched, args[0], bounds, *args[2:])
                blocks = em.emit()
                break
            except ConfigError as exc:
                arena.size, arena.chunks = mark[0], arena.chunks[: mark[1]]
                fallback = _fallback(plan, cfg, sched, source)
                if fallback is None:
                    raise
                log.warning(
                    "layer %s: schedule %s not compilable (%s)", name, sched.describe(), exc
                )
                sched, source = fallback
        schedules[name] = sched
        order, tokens, est = program_order(blocks, cfg, timing)
        n_rows = blocks.n_rows
        per_op = blocks.op_counts()
        counts = {op.name: int(per_op[op]) for op in Op if per_op[op]}
        layers_info.append(
            {
                "name": name,
                "conv": plan.layer.conv.describe(),
                "cin": plan.cin,
                "cout": plan.layer.cout,
                "cres": plan.residual_channels,
                "inputs": list(plan.layer.inputs),
                "residual": list(plan.layer.residual),
                "relu": plan.layer.relu,
                "in_voxels": plan.kmap.n_in,
                "out_voxels": plan.kmap.n_out,
                "pairs": plan.kmap.n_pairs,
                "cin_tiles": n_ci,
                "cres_tiles": n_cr,
                "requant": golden.requant[name].to_dict(),
                "schedule": {**sched.to_dict(), "source": source},
                "schedule_text": sched.describe(),
                "pc": [pc, pc + n_rows],
                "instructions": counts,
                "estimated_cycles": int(est),
                "tiles": em.info.tiles,
                "ifm_passes": em.info.passes,
                "rulebook_chunks": em.info.chunks,
                "weight_groups": em.info.weight_groups,
                "weights": {"addr": em.w_addr, "bytes": em.seq_len * em.n_co * em.tile_bytes},
                "bias": {"addr": em.bias_addr, "bytes": em.bias_row * em.n_co},
                "rulebook": {"addr": em.rbk_addr, "entries": int(len(em.tiles.ent_word))},
            }
        )
        tables.append((blocks, order, tokens))
        pc += n_rows
        sync = _rows(1, Op.SYNC if plan is not plans[-1] else Op.HALT)
        tables.append((sync, None, None))
        pc += 1
    if not plans:
        tables.append((_rows(1, Op.HALT), None, None))
        pc += 1
    code = np.zeros((pc, NCOL), dtype=np.int64)
    pc = 0
    for part, order, tokens in tables:
        if order is None:
            code[pc : pc + len(part)] = part
            pc += len(part)
        else:
            place(part, order, tokens, code[pc : pc + len(order)])
            pc += len(order)
    del tables
    prog_addr = align(arena.base + arena.size, 64)
    mem_bytes = prog_addr + len(code) * INSTR_BYTES
    roles = {INPUT: "input"}
    outputs = [plans[-1].layer.name] if plans else []
    for o in outputs:
        roles[o] = "output"
    manifest = {
        "format": "accss3d-program",
        "version": 1,
        "config": cfg.name,
        "config_digest": cfg.digest(),
        "inputs": [INPUT],
        "outputs": outputs,
        "tensors": {
            n: _tensor_entry(layout, n, strides[n], golden.tensors[n], roles.get(n, "activation"))
            for n in tensors
        },
        "layers": layers_info,
        "memory": {
            "activations": [0, layout.act_end],
            "data": [arena.base, arena.base + arena.size],
            "code": [prog_addr, mem_bytes],
        },
        "timing": {k: v for k, v in vars(timing).items()},
        **(manifest_extra or {}),
    }
    program = Program(cfg, code, arena.image(), arena.base, mem_bytes, manifest, prog_addr)
    program.check()  # the compiler's own output must be legal and token-consistent
    secs["compile"] = time.perf_counter() - t0
    return CompileResult(program, golden, schedules, secs)


def compile_network(
    network: Network,
    coords: np.ndarray,
    cfg: ArchConfig,
    *,
    seed: int = 0,
    params: dict | None = None,
    feats: np.ndarray | None = None,
    schedules: dict | None = None,
    orders: dict | None = None,
    timing: Timing | None = None,
    manifest_extra: dict | None = None,
    progress=None,
    golden: NetResult | None = None,
) -> CompileResult:
    """Compile a whole network on a scene's voxels.

    ``orders`` maps a tensor stride to a permutation of that level's voxels (the processing
    order; default: the coordinate manager's raster order).  Parameters and input features
    are drawn from ``seed`` unless given.
    """
    cm = CoordinateManager(coords)
    for stride, perm in sorted((orders or {}).items()):
        level = cm.coords(stride)
        perm = np.asarray(perm, dtype=np.int64)
        if perm.shape != (len(level),) or not np.array_equal(np.sort(perm), np.arange(len(level))):
            raise InputError(f"order of stride {stride} is not a permutation of its voxels")
        cm.set_coords(stride, level[perm])
    plans = cm.plan(network)
    if params is None:
        params = random_params(plans, seed, cfg)
    if feats is None:
        feats = random_input(len(cm.coords(1)), network.in_channels, seed, cfg)
    extra = {"network": network.name, "seed": seed, **(manifest_extra or {})}
    return compile_plans(
        plans,
        feats,
        params,
        cfg,
        schedules=schedules,
        timing=timing,
        manifest_extra=extra,
        progress=progress,
        golden=golden,
    )


def compile_layer(
    coords: np.ndarray,
    spec: str | tuple,
    cfg: ArchConfig,
    *,
    seed: int = 0,
    relu: bool = False,
    schedule: Schedule | None = None,
    timing: Timing | None = None,
    manifest_extra: dict | None = None,
) -> CompileResult:
    """Compile one layer (``subm3:32:32`` or ``(ConvSpec, cin, cout)``) on a scene's voxels."""
    conv, cin, cout = parse_layer_spec(spec) if isinstance(spec, str) else spec
    plan = single_layer_plan(coords, conv, cin, cout, relu)
    params = random_params([plan], seed, cfg)
    feats = random_input(plan.kmap.n_in, cin, seed, cfg)
    extra = {
        "layer_spec": spec if isinstance(spec, str) else conv.describe(),
        "seed": seed,
        **(manifest_extra or {}),
    }
    return compile_plans(
        [plan],
        feats,
        params,
        cfg,
        schedules={"layer": schedule} if schedule is not None else None,
        timing=timing,
        manifest_extra=extra,
    )
