"""Owns the architecture parameters of the SSpNNA core: the single source of truth.

Both the hardware generator (``sspnna``) and the software (compiler, models, reports)
import :class:`ArchConfig` from here; nothing else restates a width, a bank count or a size.
This module is plain Python (no Amaranth) so that software-only users need no HDL toolchain.

Index conventions
-----------------
* The PE array has ``pe_rows`` rows and ``pe_cols`` columns; ``pe[r][c]`` is the PE at row
  ``r``, column ``c``.  Row ``r`` holds input channel ``r`` of the current Cin tile, column
  ``c`` output channel ``c`` of the current Cout tile (one weight plane tile of
  ``pe_rows x pe_cols`` weights is resident).
* L1 is split into four bank kinds: input features (``ifm``), weights (``wgt``), rulebook
  lines (``rbk``) and output accumulators (``ofm``).  Sizes are in bytes.

# Ref: AccSS3D (arXiv 2011.12669): SSpNNA core + 64 KB L1; US 11,620,818 (rulebook lines,
# weight planes, partial accumulation across PEs).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = ["ArchConfig", "CONFIGS", "get_config", "config_names"]


def _is_pow2(value: int) -> bool:
    return value > 0 and (value & (value - 1)) == 0


@dataclass(frozen=True)
class ArchConfig:
    """A validated, immutable SSpNNA architecture configuration.

    Parameters
    ----------
    name : str
        Configuration name (informational; part of the digest).
    pe_rows, pe_cols : int
        PE array dimensions (Cin lanes x Cout lanes).
    act_bits, weight_bits : int
        Operand widths of the multipliers (signed two's complement).
    acc_bits : int
        Accumulator width (signed; wraps modulo ``2**acc_bits``).
    requant_mult_bits : int
        Width of the unsigned requantization multiplier.
    multicast_fanout : int
        PEs of one row that receive an input feature in the same cycle; ``pe_cols`` means a
        full-row multicast, smaller values split the row into systolically linked groups.
    ifm_bank_bytes, wgt_bank_bytes, rbk_bank_bytes, ofm_bank_bytes : int
        Size in bytes of one L1 bank of each kind (a multiple of its SRAM row:
        ``max(word, bus)`` bytes).
    ifm_banks, wgt_banks, rbk_banks, ofm_banks : int
        Number of banks of each kind (a power of two).
    bus_data_bits : int
        Width of the external memory data bus (the DMA moves this many bits per beat).
    addr_bits : int
        External memory address width in bits (at most 32 in ISA version 1).
    max_burst_beats : int
        Longest AXI burst the DMA issues (a power of two, at most 256).
    queue_depth : int
        Depth of each engine's instruction queue (a power of two).
    clock_mhz : float
        Target clock frequency, used by the cycle->time conversion and the SDC constraint.
    """

    name: str = "default"
    pe_rows: int = 16
    pe_cols: int = 16
    act_bits: int = 8
    weight_bits: int = 8
    acc_bits: int = 32
    requant_mult_bits: int = 16
    multicast_fanout: int = 16
    ifm_bank_bytes: int = 8192
    ifm_banks: int = 2
    wgt_bank_bytes: int = 4096
    wgt_banks: int = 2
    rbk_bank_bytes: int = 4096
    rbk_banks: int = 2
    ofm_bank_bytes: int = 16384
    ofm_banks: int = 2
    bus_data_bits: int = 128
    addr_bits: int = 32
    max_burst_beats: int = 16
    queue_depth: int = 8
    clock_mhz: float = 1000.0

    def __post_init__(self) -> None:
        def positive(field: str, limit: int | None = None) -> None:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{field} must be a positive integer, not {value!r}")
            if limit is not None and value > limit:
                raise ConfigError(f"{field} must be at most {limit}, not {value}")

        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a non-empty string, not {self.name!r}")
        positive("pe_rows", 256)
        positive("pe_cols", 256)
        for field in ("act_bits", "weight_bits"):
            positive(field, 16)
            if getattr(self, field) < 2:
                raise ConfigError(f"{field} must be at least 2, not {getattr(self, field)}")
        positive("acc_bits", 64)
        product_bits = self.act_bits + self.weight_bits
        if self.acc_bits < product_bits:
            raise ConfigError(
                f"acc_bits must be at least act_bits + weight_bits = {product_bits}, "
                f"not {self.acc_bits}"
            )
        positive("requant_mult_bits", 32)
        positive("multicast_fanout", 256)
        if self.multicast_fanout > self.pe_cols or self.pe_cols % self.multicast_fanout:
            raise ConfigError(
                f"multicast_fanout must divide pe_cols ({self.pe_cols}), "
                f"not {self.multicast_fanout}"
            )
        for kind in ("ifm", "wgt", "rbk", "ofm"):
            positive(f"{kind}_bank_bytes")
            positive(f"{kind}_banks", 16)
            banks = getattr(self, f"{kind}_banks")
            if not _is_pow2(banks):
                raise ConfigError(f"{kind}_banks must be a power of two, not {banks}")
        positive("bus_data_bits", 1024)
        if not _is_pow2(self.bus_data_bits) or self.bus_data_bits < 8:
            raise ConfigError(
                f"bus_data_bits must be a power of two >= 8, not {self.bus_data_bits}"
            )
        positive("addr_bits", 32)
        if self.addr_bits < 16:
            raise ConfigError(f"addr_bits must be at least 16, not {self.addr_bits}")
        for field, limit in (("max_burst_beats", 256), ("queue_depth", 64)):
            positive(field, limit)
            if not _is_pow2(getattr(self, field)):
                raise ConfigError(f"{field} must be a power of two, not {getattr(self, field)}")
        for field in ("act_bits", "weight_bits"):
            if getattr(self, field) % 8:
                raise ConfigError(
                    f"{field} must be a multiple of 8 (bytes in memory), not {getattr(self, field)}"
                )
        if self.acc_bits % 8:
            raise ConfigError(f"acc_bits must be a multiple of 8, not {self.acc_bits}")
        # DMA rows of one Cin/Cout tile must start on bus beats.
        for what, nbytes in (
            ("pe_rows * act_bits / 8", self.pe_rows * self.act_bits // 8),
            ("pe_cols * act_bits / 8", self.pe_cols * self.act_bits // 8),
        ):
            if nbytes % (self.bus_data_bits // 8):
                raise ConfigError(
                    f"{what} ({nbytes} B) must be a multiple of the bus width "
                    f"({self.bus_data_bits // 8} B)"
                )
        if (
            isinstance(self.clock_mhz, bool)
            or not isinstance(self.clock_mhz, (int, float))
            or not (0 < self.clock_mhz <= 10000)
        ):
            raise ConfigError(f"clock_mhz must be in (0, 10000], not {self.clock_mhz!r}")
        for kind in ("ifm", "wgt", "rbk", "ofm"):
            word = max(self.word_bytes(kind), self.bus_bytes)
            bank = getattr(self, f"{kind}_bank_bytes")
            if bank % word:
                raise ConfigError(
                    f"{kind}_bank_bytes ({bank}) must be a multiple of its SRAM row ({word} B)"
                )
            if self.words(kind) > 1 << 16:
                raise ConfigError(
                    f"{kind} L1 has {self.words(kind)} words; instructions address at most 65536"
                )
        # The smallest useful L1: one weight tile, one feature vector per bank.
        wgt_tile = self.pe_rows * self.pe_cols * self.weight_bits // 8
        if self.wgt_bytes < wgt_tile:
            raise ConfigError(
                f"weight L1 ({self.wgt_bytes} B) is smaller than one "
                f"{self.pe_rows}x{self.pe_cols} weight tile ({wgt_tile} B)"
            )

    # ----------------------------------------------------------------- derived values
    @property
    def num_pes(self) -> int:
        """Number of processing elements (``pe_rows * pe_cols``)."""
        return self.pe_rows * self.pe_cols

    @property
    def ifm_bytes(self) -> int:
        """Total input-feature L1 bytes."""
        return self.ifm_bank_bytes * self.ifm_banks

    @property
    def wgt_bytes(self) -> int:
        """Total weight L1 bytes."""
        return self.wgt_bank_bytes * self.wgt_banks

    @property
    def rbk_bytes(self) -> int:
        """Total rulebook-line L1 bytes."""
        return self.rbk_bank_bytes * self.rbk_banks

    @property
    def ofm_bytes(self) -> int:
        """Total output-accumulator L1 bytes."""
        return self.ofm_bank_bytes * self.ofm_banks

    @property
    def l1_bytes(self) -> int:
        """Total L1 bytes over all bank kinds."""
        return self.ifm_bytes + self.wgt_bytes + self.rbk_bytes + self.ofm_bytes

    @property
    def bus_bytes(self) -> int:
        """External bus bytes per beat."""
        return self.bus_data_bits // 8

    @property
    def groups(self) -> int:
        """Multicast groups per PE row (``pe_cols / multicast_fanout``)."""
        return self.pe_cols // self.multicast_fanout

    def word_bytes(self, kind: str) -> int:
        """Bytes of one L1 word of a bank kind (the unit of L1 addresses in instructions).

        ``ifm``: ``pe_rows`` activations; ``wgt``: ``pe_cols`` weights; ``rbk``: one 32-bit
        rulebook entry; ``ofm``: ``pe_cols`` accumulators.
        """
        sizes = {
            "ifm": self.pe_rows * self.act_bits // 8,
            "wgt": self.pe_cols * self.weight_bits // 8,
            "rbk": 4,
            "ofm": self.pe_cols * self.acc_bits // 8,
        }
        try:
            return sizes[kind]
        except KeyError:
            raise ConfigError(f"unknown L1 bank kind {kind!r} (ifm, wgt, rbk, ofm)") from None

    def words(self, kind: str) -> int:
        """Total words of a bank kind (all its banks)."""
        return (
            getattr(self, f"{kind}_bank_bytes")
            * getattr(self, f"{kind}_banks")
            // (self.word_bytes(kind))
        )

    def bank_words(self, kind: str) -> int:
        """Words of one bank of a kind; word ``a`` lives in bank ``a // bank_words``."""
        return getattr(self, f"{kind}_bank_bytes") // self.word_bytes(kind)

    # ----------------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the same config always gives the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchConfig:
        """Build a config from a dict, rejecting unknown fields with their name."""
        if not isinstance(data, dict):
            raise ConfigError(f"an architecture config must be a JSON object, not {data!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown architecture parameter {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        return cls(**data)

    def replace(self, **changes: Any) -> ArchConfig:
        """Return a copy with ``changes`` applied (and validated)."""
        return ArchConfig.from_dict({**self.to_dict(), **changes})

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON: identifies the config in compiled programs."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()


#: Named configurations.  ``default`` is comparable with the paper's core (16x16 int8 PEs,
#: 64 KB L1); ``small`` is a 4x4 core with 8 KB of L1 for fast simulation.
CONFIGS: dict[str, ArchConfig] = {
    "default": ArchConfig(),
    "small": ArchConfig(
        name="small",
        pe_rows=4,
        pe_cols=4,
        multicast_fanout=4,
        ifm_bank_bytes=1024,
        wgt_bank_bytes=512,
        rbk_bank_bytes=512,
        ofm_bank_bytes=2048,
        bus_data_bits=32,
        max_burst_beats=8,
        queue_depth=4,
        clock_mhz=100.0,
    ),
}


def config_names() -> list[str]:
    """Names of the built-in configurations."""
    return sorted(CONFIGS)


def get_config(name_or_path: str) -> ArchConfig:
    """Return a named configuration, or load one from a JSON file path.

    Raises
    ------
    ConfigError
        For an unknown name or an invalid file.
    """
    if name_or_path in CONFIGS:
        return CONFIGS[name_or_path]
    if name_or_path.endswith(".json"):
        try:
            with open(name_or_path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"no such config file: {name_or_path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {name_or_path} is not valid JSON: {exc.msg}") from None
        return ArchConfig.from_dict(data)
    raise ConfigError(
        f"unknown config {name_or_path!r} (known: {', '.join(config_names())}, or a .json file)"
    )
