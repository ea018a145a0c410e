"""accss3d.program: the .sspn container round-trips and rejects every corruption in one line."""

import json
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accss3d.arch import CONFIGS
from accss3d.asm import assemble_table
from accss3d.errors import ProgramError
from accss3d.program import HEADER_BYTES, MAGIC, Program, load_program

CFG = CONFIGS["small"]
CODE = """\
LOAD.WGT l1_addr=0 rows=4 ext_addr=0x100 row_bytes=4 ext_stride=4 l1_stride=1
LOAD.IFM l1_addr=0 rows=2 ext_addr=0x110 row_bytes=4 ext_stride=4 l1_stride=1
LOAD.RBK l1_addr=0 rows=1 ext_addr=0x118 row_bytes=8 ext_stride=0 l1_stride=2 sn
COMPUTE pairs=2 ifm_stride=1 use_first wp sn
CONFIG multiplier=32768 shift=15
STORE.REQUANT ofm_row=0 rows=2 ext_addr=0x200 ext_stride=4 channels=4 wp
HALT
"""


def make_program(cfg=CFG) -> Program:
    image = bytes(range(256)) * 1  # 0x100..0x1ff
    manifest = {
        "format": "accss3d-program",
        "tensors": {"out": {"addr": 0x200, "rows": 2, "row_stride": 4, "channels": 4}},
        "layers": [],
        "outputs": ["out"],
    }
    return Program(cfg, assemble_table(CODE), image, 0x100, 0x400, manifest)


@pytest.fixture(scope="module")
def blob() -> bytes:
    return make_program().to_bytes()


def recrc(data: bytearray) -> bytes:
    struct.pack_into("<I", data, 20, 0)
    struct.pack_into("<I", data, 20, zlib.crc32(data) & 0xFFFFFFFF)
    return bytes(data)


def test_round_trip_and_determinism(blob, tmp_path):
    prog = Program.from_bytes(blob, CFG)
    assert prog.to_bytes() == blob == make_program().to_bytes()
    assert prog.prog_len == 7 and prog.image_base == 0x100 and prog.mem_bytes == 0x400
    mem = prog.memory()
    assert len(mem) == 0x400 and mem[0x1FF] == 255 and mem[0x200:].sum() == 0
    assert bytes(mem[:16]) == prog.code_bytes()[:16]
    (tmp_path / "program.sspn").write_bytes(blob)
    assert load_program(tmp_path).manifest == prog.manifest


def test_truncated(blob):
    with pytest.raises(ProgramError, match=r"^truncated program: 10 bytes, the header alone"):
        Program.from_bytes(blob[:10])
    with pytest.raises(ProgramError, match=rf"^truncated program: {len(blob) - 1} bytes, the h"):
        Program.from_bytes(blob[:-1])
    with pytest.raises(ProgramError, match=r"^trailing bytes in program"):
        Program.from_bytes(blob + b"\0")


def test_bad_magic(blob):
    with pytest.raises(ProgramError, match=r"^not an SSpNNA program: bad magic b'XSPNPROG'"):
        Program.from_bytes(b"X" + blob[1:])


@pytest.mark.parametrize("major, minor", [(2, 0), (0, 0), (1, 1)])
def test_unsupported_version(blob, major, minor):
    data = bytearray(blob)
    struct.pack_into("<HH", data, 8, major, minor)
    with pytest.raises(ProgramError, match=rf"^unsupported ISA version {major}\.{minor} "):
        Program.from_bytes(recrc(data))


def test_crc_mismatch(blob):
    data = bytearray(blob)
    data[-70] ^= 0x10
    with pytest.raises(ProgramError, match=r"^CRC mismatch: the file says 0x[0-9a-f]{8}, its"):
        Program.from_bytes(bytes(data))


def test_config_mismatch(blob):
    with pytest.raises(
        ProgramError,
        match=r"^program compiled for config 'small' \(digest [0-9a-f]+\.\.\.\), not "
        r"for 'default'",
    ):
        Program.from_bytes(blob, CONFIGS["default"])


def test_header_digest_mismatch(blob):
    data = bytearray(blob)
    data[64] ^= 1
    with pytest.raises(ProgramError, match=r"^config digest mismatch: the header says"):
        Program.from_bytes(recrc(data))


def _section(data, index):
    return list(struct.unpack_from("<IIQQQ", data, HEADER_BYTES + 32 * index))


def _set_section(data, index, values):
    struct.pack_into("<IIQQQ", data, HEADER_BYTES + 32 * index, *values)


def test_section_out_of_bounds(blob):
    data = bytearray(blob)
    sec = _section(data, 1)
    sec[3] = len(blob)  # size beyond the file
    _set_section(data, 1, sec)
    with pytest.raises(ProgramError, match=r"^section 1 \(IMAGE\): bytes \d+\.\.\d+ outside"):
        Program.from_bytes(recrc(data))
    data = bytearray(blob)
    sec = _section(data, 0)
    sec[0] = 9
    _set_section(data, 0, sec)
    with pytest.raises(ProgramError, match=r"^section 0: unknown section kind 9$"):
        Program.from_bytes(recrc(data))


def test_image_outside_memory(blob):
    data = bytearray(blob)
    sec = _section(data, 1)
    sec[4] = 0x380  # 256 bytes at 0x380 end beyond the 0x400-byte memory
    _set_section(data, 1, sec)
    with pytest.raises(ProgramError, match=r"^image at 0x380\.\.0x480 lies outside the 1024"):
        Program.from_bytes(recrc(data))


def _with_manifest(manifest) -> bytes:
    prog = make_program()
    prog.manifest = manifest
    return prog.to_bytes()


@pytest.mark.parametrize(
    "manifest, message",
    [
        ([], r"not an object with format 'accss3d-program'"),
        ({"format": "x"}, r"not an object with format"),
        ({"format": "accss3d-program", "tensors": []}, r"'tensors' must be an object"),
        ({"format": "accss3d-program", "tensors": {"a": {"addr": -1}}}, r"tensor 'a' addr must"),
        (
            {
                "format": "accss3d-program",
                "tensors": {"a": {"addr": 0x3F0, "rows": 2, "row_stride": 16, "channels": 4}},
            },
            r"tensor 'a' extends beyond the 1024-byte memory",
        ),
        ({"format": "accss3d-program", "layers": {}}, r"'layers' must be a list"),
    ],
)
def test_malformed_manifest(manifest, message):
    with pytest.raises(ProgramError, match=r"^malformed manifest: " + message):
        Program.from_bytes(_with_manifest(manifest))


def test_illegal_code_is_rejected():
    prog = make_program()
    prog.code = assemble_table(CODE.replace("ext_addr=0x200", "ext_addr=0x3fc"))
    with pytest.raises(ProgramError, match=r"^instruction 5: STORE.REQUANT writes external bytes"):
        Program.from_bytes(prog.to_bytes())
    prog.code = assemble_table(CODE.replace(" sn\nCOMPUTE", "\nCOMPUTE"))
    with pytest.raises(ProgramError, match=r"^instruction 3: COMPUTE waits for a load->compute"):
        Program.from_bytes(prog.to_bytes())
    prog.code = assemble_table(CODE.replace("HALT", "SYNC"))
    with pytest.raises(ProgramError, match=r"has no HALT"):
        Program.from_bytes(prog.to_bytes())


def test_manifest_is_json(blob):
    prog = Program.from_bytes(blob)
    assert json.loads(json.dumps(prog.manifest)) == prog.manifest


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data):
    with pytest.raises(ProgramError):
        Program.from_bytes(data)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_after_magic(data):
    with pytest.raises(ProgramError):
        Program.from_bytes(MAGIC + struct.pack("<HH", 1, 0) + data)


@FUZZ
@given(st.data())
def test_fuzz_bit_flips(blob, data):
    buf = bytearray(blob)
    bits = data.draw(st.sets(st.integers(0, 8 * len(buf) - 1), min_size=1, max_size=3))
    for bit in bits:
        buf[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProgramError):
        Program.from_bytes(bytes(buf), CFG)


@FUZZ
@given(st.data())
def test_fuzz_truncations(blob, data):
    n = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ProgramError):
        Program.from_bytes(blob[:n])


@FUZZ
@given(st.data())
def test_fuzz_corruption_with_valid_crc(blob, data):
    """Corrupt header or sections and fix the CRC: still one-line ProgramErrors or a program."""
    buf = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(8, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    try:
        Program.from_bytes(recrc(buf))
    except ProgramError as exc:
        assert "\n" not in str(exc)
