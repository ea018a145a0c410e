"""accss3d.arch: validation messages, named configs, serialization, digest."""

import json

import pytest

from accss3d.arch import CONFIGS, ArchConfig, get_config
from accss3d.errors import ConfigError


def test_default_matches_paper_core():
    cfg = CONFIGS["default"]
    assert (cfg.pe_rows, cfg.pe_cols, cfg.act_bits, cfg.weight_bits) == (16, 16, 8, 8)
    assert cfg.l1_bytes == 64 * 1024


def test_small_is_small():
    cfg = CONFIGS["small"]
    assert cfg.num_pes == 16 and cfg.l1_bytes == 8 * 1024


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("pe_rows", 0, r"^pe_rows must be a positive integer, not 0$"),
        ("pe_cols", -3, r"^pe_cols must be a positive integer, not -3$"),
        ("pe_rows", 2.5, r"^pe_rows must be a positive integer, not 2\.5$"),
        ("pe_rows", True, r"^pe_rows must be a positive integer, not True$"),
        ("pe_cols", 512, r"^pe_cols must be at most 256, not 512$"),
        ("acc_bits", 12, r"^acc_bits must be at least act_bits \+ weight_bits = 16, not 12$"),
        ("multicast_fanout", 5, r"^multicast_fanout must divide pe_cols \(16\), not 5$"),
        ("ifm_bank_bytes", 3000, r"^ifm_bank_bytes \(3000\) must be a multiple of its SRAM row"),
        ("ofm_banks", 3, r"^ofm_banks must be a power of two, not 3$"),
        ("bus_data_bits", 48, r"^bus_data_bits must be a power of two >= 8, not 48$"),
        ("clock_mhz", 0, r"^clock_mhz must be in \(0, 10000\], not 0$"),
        ("act_bits", 1, r"^act_bits must be at least 2, not 1$"),
    ],
)
def test_invalid_parameters(field, value, message):
    with pytest.raises(ConfigError, match=message):
        ArchConfig(**{field: value})


def test_weight_l1_must_hold_one_tile():
    with pytest.raises(ConfigError, match=r"^weight L1 \(128 B\) is smaller than one 16x16"):
        ArchConfig(wgt_bank_bytes=128, wgt_banks=1)


def test_json_round_trip_and_digest(tmp_path):
    cfg = CONFIGS["small"]
    path = tmp_path / "c.json"
    path.write_text(cfg.to_json())
    again = get_config(str(path))
    assert again == cfg and again.digest() == cfg.digest()
    assert cfg.digest() != CONFIGS["default"].digest()
    assert json.loads(cfg.to_json())["pe_rows"] == 4


def test_unknown_field_and_name(tmp_path):
    with pytest.raises(ConfigError, match=r"^unknown architecture parameter 'pe_rowz'"):
        ArchConfig.from_dict({"pe_rowz": 4})
    with pytest.raises(ConfigError, match=r"^unknown config 'huge' \(known: default, small"):
        get_config("huge")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"is not valid JSON"):
        get_config(str(bad))


def test_replace_validates():
    assert CONFIGS["default"].replace(pe_rows=32).pe_rows == 32
    with pytest.raises(ConfigError):
        CONFIGS["default"].replace(pe_rows=0)
