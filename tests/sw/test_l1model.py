"""The IFM buffer model against brute-force references: tile policy, LRU, runs, errors."""

import numpy as np
import pytest

from accss3d.arch import ArchConfig
from accss3d.errors import ConfigError, InputError
from accss3d.l1model import ifm_capacity, pair_stream, replay, tile_input_sets
from accss3d.rulebook import ConvSpec, build_kernel_map


def random_map(seed: int, n: int = 60, box: int = 5, kind: str = "submanifold"):
    rng = np.random.default_rng(seed)
    cells = rng.choice(box**3, size=min(n, box**3), replace=False)
    xyz = np.stack(np.unravel_index(cells, (box,) * 3), axis=1)
    coords = np.column_stack([np.zeros(len(xyz), np.int64), xyz]).astype(np.int32)
    spec = ConvSpec("submanifold", 3) if kind == "submanifold" else ConvSpec("strided", 2, 2)
    kmap, _ = build_kernel_map(coords, spec)
    return kmap, rng


def tile_reference(kmap, order, tile, capacity):
    """Dict-based tile policy: keep the tile's inputs, then the most recently used others."""
    last: dict[int, int] = {}  # resident input -> last tile that needed it
    misses = runs = 0
    for t, start in enumerate(range(0, kmap.n_out, tile)):
        outs = order[start : start + tile]
        need = sorted({int(i) for o in outs for i in kmap.table[:, o] if i >= 0})
        assert len(need) <= capacity
        new = [i for i in need if i not in last]
        misses += len(new)
        runs += sum(1 for j, i in enumerate(new) if j == 0 or new[j - 1] != i - 1)
        for i in need:
            last[i] = t
        while len(last) > capacity:
            victim = min((stamp, i) for i, stamp in last.items() if stamp < t)[1]
            del last[victim]
    return misses, runs


def lru_reference(kmap, order, tile, capacity):
    """List-based LRU over the per-pair stream (tile, weight plane, output)."""
    stream = [
        int(kmap.table[k, o])
        for start in range(0, kmap.n_out, tile)
        for k in range(kmap.volume)
        for o in order[start : start + tile]
        if kmap.table[k, o] >= 0
    ]
    cache: list[int] = []
    missed = []
    for x in stream:
        if x in cache:
            cache.remove(x)
        else:
            missed.append(x)
            if len(cache) == capacity:
                cache.pop(0)
        cache.append(x)
    runs = sum(1 for j, i in enumerate(missed) if j == 0 or missed[j - 1] != i - 1)
    return stream, len(missed), runs


def config_for(capacity: int) -> tuple[ArchConfig, int]:
    """A config whose IFM holds ``capacity`` voxels of Cin=16 (one 16-byte word each)."""
    return ArchConfig(), capacity * 16


@pytest.mark.parametrize("seed", range(6))
def test_tile_policy_matches_reference(seed):
    kmap, rng = random_map(seed)
    order = rng.permutation(kmap.n_out)
    tile = int(rng.integers(1, 6))
    need = np.diff(tile_input_sets(kmap, order, tile)[0]).max()
    for capacity in (int(need), int(need) + 7, 10_000):
        cfg, nbytes = config_for(capacity)
        stats = replay(kmap, order, cfg, 16, tile, "tile", capacity_bytes=nbytes)
        assert stats.capacity_voxels == capacity
        assert (stats.misses, stats.runs) == tile_reference(kmap, order, tile, capacity)
        assert stats.misses >= stats.compulsory


@pytest.mark.parametrize("seed", range(6))
def test_lru_policy_matches_reference(seed):
    kmap, rng = random_map(seed + 10, kind="strided" if seed % 2 else "submanifold")
    order = rng.permutation(kmap.n_out)
    tile = int(rng.integers(1, 9))
    for capacity in (1, 5, 17, 10_000):
        cfg, nbytes = config_for(capacity)
        stats = replay(kmap, order, cfg, 16, tile, "lru", capacity_bytes=nbytes)
        stream, misses, runs = lru_reference(kmap, order, tile, capacity)
        assert pair_stream(kmap, order, tile).tolist() == stream
        assert stats.accesses == len(stream) == kmap.n_pairs
        assert (stats.misses, stats.runs) == (misses, runs)
        assert stats.misses >= stats.compulsory


def test_infinite_capacity_is_compulsory():
    kmap, rng = random_map(3, n=80)
    order = rng.permutation(kmap.n_out)
    for policy in ("tile", "lru"):
        stats = replay(kmap, order, None, 16, 4, policy, capacity_bytes=1 << 20)
        assert stats.misses == stats.compulsory == len(np.unique(kmap.table[kmap.table >= 0]))
        assert stats.ratio == 1.0 and stats.dram_bytes == stats.compulsory_bytes


def test_line_of_voxels_runs_by_hand():
    # Voxels 0..9 on a line: in index order every tile fetches one contiguous run.
    coords = np.zeros((10, 4), np.int32)
    coords[:, 3] = np.arange(10)
    kmap, _ = build_kernel_map(coords, ConvSpec("submanifold", 3))
    stats = replay(kmap, None, None, 16, 2, "tile", capacity_bytes=16 * 100)
    assert (stats.misses, stats.runs, stats.tiles) == (10, 5, 5)
    assert stats.max_tile_inputs == 4 and stats.dram_bytes == 160
    # Outputs 0 and 5 first: {0, 1} and {4, 5, 6} are two runs; then {2, 3}, nothing
    # (inputs 2..5 resident), {7, 8}, {9}.
    order = [0, 5, 1, 2, 3, 4, 6, 7, 8, 9]
    stats = replay(kmap, order, None, 16, 2, "tile", capacity_bytes=1600)
    assert (stats.misses, stats.runs, stats.max_tile_inputs) == (10, 5, 5)
    # With room for 5 voxels, tile {1, 2} evicts 4 and 5 (least recent, lower index first),
    # which tile {3, 4} fetches again, and tile {6, 7} fetches 6 again: 13 misses, 6 runs.
    stats = replay(kmap, order, None, 16, 2, "tile", capacity_bytes=16 * 5)
    assert (stats.misses, stats.runs) == (13, 6) == tile_reference(kmap, order, 2, 5)


def test_capacity_from_config():
    cfg = ArchConfig()
    assert ifm_capacity(cfg, 16) == (1024, 16384, 16, 16)
    assert ifm_capacity(cfg, 17)[0] == 512  # 17 bytes take two 16-byte words
    assert ifm_capacity(cfg, 16, buffering="double")[0] == 512
    assert ifm_capacity(cfg.replace(ifm_bank_bytes=32768), 64)[0] == 1024


def test_stats_dict_keys():
    kmap, _ = random_map(1)
    data = replay(kmap).to_dict()
    for key in ("misses", "compulsory", "dram_bytes", "compulsory_bytes", "ratio", "runs"):
        assert key in data


def test_empty_layer():
    coords = np.zeros((0, 4), np.int32)
    kmap, _ = build_kernel_map(coords, ConvSpec("submanifold", 3))
    for policy in ("tile", "lru"):
        stats = replay(kmap, None, None, 16, 8, policy)
        assert (stats.misses, stats.compulsory, stats.runs, stats.ratio) == (0, 0, 0, 1.0)


def test_errors_are_one_line():
    kmap, _ = random_map(2)
    with pytest.raises(ConfigError, match=r"^unknown L1 policy 'fifo' \(choose from tile, lru\)$"):
        replay(kmap, policy="fifo")
    with pytest.raises(ConfigError, match=r"^tile \d+ needs \d+ input voxels but the IFM buffer"):
        replay(kmap, None, None, 16, 50, "tile", capacity_bytes=16 * 8)
    with pytest.raises(ConfigError, match=r"cannot hold one input voxel of Cin=32768"):
        replay(kmap, cin=32768)
    with pytest.raises(ConfigError, match=r"^unknown IFM buffering 'triple'"):
        replay(kmap, buffering="triple")
    with pytest.raises(ConfigError, match=r"^tile size \(outputs\) must be a positive integer"):
        replay(kmap, tile_outputs=0)
    with pytest.raises(InputError, match=r"^processing order is not a permutation of 0\.\.\d+$"):
        replay(kmap, np.zeros(kmap.n_out, np.int64))
    with pytest.raises(InputError, match=r"^processing order must be \d+ integer indices"):
        replay(kmap, np.arange(3))
