"""Architecture configurations used by the hardware tests (named by the edge they cover)."""

from accss3d.arch import CONFIGS, ArchConfig

SMALL = CONFIGS["small"]  # 4x4, full-row multicast, 32-bit bus
#: Non-square, non-power-of-two rows, two multicast groups per row.
NONSQUARE = ArchConfig(
    name="nonsquare",
    pe_rows=12,
    pe_cols=8,
    multicast_fanout=4,
    bus_data_bits=32,
    ifm_bank_bytes=12 * 64,
    wgt_bank_bytes=512,
    rbk_bank_bytes=512,
    ofm_bank_bytes=2048,
    max_burst_beats=8,
    queue_depth=4,
    clock_mhz=100.0,
)
#: Fan-out 1: every column its own multicast group (longest chain).
FANOUT1 = CONFIGS["small"].replace(name="fanout1", multicast_fanout=1)
