"""Owns the program container: the ``.sspn`` file that carries code, memory image and manifest.

A compiled program is everything the core (or the functional and cycle models) needs to
run: the instruction stream, the initialized part of the external memory (features,
weights, biases, rulebooks), where every tensor lives (the JSON *manifest*) and the
architecture config it was compiled for.  Layout (all integers little-endian)::

    offset size  field
    0      8     magic b"SSPNPROG"
    8      2     ISA major       (must equal accss3d.isa.ISA_VERSION[0])
    10     2     ISA minor       (at most the loader's minor)
    12     4     header_size     (96 + 32 * n_sections)
    16     4     flags           (0)
    20     4     crc32           (CRC-32 of the whole file with these 4 bytes zeroed)
    24     8     file_size
    32     8     prog_addr       (PROG_ADDR: external byte address of instruction 0)
    40     8     prog_len        (PROG_LEN: number of instructions)
    48     8     mem_bytes       (MEM_LIMIT: external memory size; beyond the image: zeros)
    56     4     n_sections
    60     4     reserved        (0)
    64     32    config digest   (SHA-256 of the config's canonical JSON, raw bytes)
    96     32*n  section table: kind u32, flags u32 (0), offset u64, size u64, addr u64

Sections: ``CODE`` (at ``prog_addr``, ``16 * prog_len`` bytes), ``IMAGE`` (the initialized
external memory from its ``addr``), ``MANIFEST`` (UTF-8 JSON object) and ``CONFIG`` (the
config's canonical JSON), each exactly once.  :func:`Program.from_bytes` validates all of
it and every instruction (decoding, legality against the config and ``mem_bytes``, token
consistency) and raises a one-line :class:`~accss3d.errors.ProgramError` for anything
wrong: truncation, bad magic, unsupported version, CRC mismatch, sections out of bounds,
a malformed manifest, a config digest other than the one it is run on.
"""

from __future__ import annotations

import enum
import json
import os
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from .arch import ArchConfig
from .errors import AccssError, ProgramError
from .isa import INSTR_BYTES, ISA_VERSION
from .isatable import check_legal, check_tokens, decode_table, encode_table, program_end

__all__ = [
    "MAGIC",
    "HEADER_BYTES",
    "SECTION_BYTES",
    "Section",
    "Program",
    "load_program",
    "program_path",
    "PROGRAM_FILE",
]

MAGIC = b"SSPNPROG"
_HEADER = struct.Struct("<8sHHIIIQQQQII32s")
_SECTION = struct.Struct("<IIQQQ")
HEADER_BYTES = _HEADER.size
SECTION_BYTES = _SECTION.size
_CRC_OFFSET = 20
#: File name of the program inside a compiled directory.
PROGRAM_FILE = "program.sspn"
_MANIFEST_FORMAT = "accss3d-program"

assert HEADER_BYTES == 96 and SECTION_BYTES == 32


class Section(enum.IntEnum):
    """Section kinds of the container."""

    CODE = 1
    IMAGE = 2
    MANIFEST = 3
    CONFIG = 4


def _align(value: int, to: int) -> int:
    return -(-value // to) * to


@dataclass(eq=False)
class Program:
    """A compiled program: code, memory image, manifest and config.

    Parameters
    ----------
    cfg : ArchConfig
        The architecture config the program was compiled for.
    code : ndarray
        The instruction table (:mod:`accss3d.isatable`).
    image : bytes
        Initialized external memory from ``image_base`` (code excluded).
    image_base : int
        External byte address of ``image[0]``.
    mem_bytes : int
        External memory size (``MEM_LIMIT``); bytes outside code and image are zero.
    manifest : dict
        Where every tensor lives, per-layer figures (JSON-ready).
    prog_addr : int
        External byte address of the first instruction (``PROG_ADDR``).
    """

    cfg: ArchConfig
    code: np.ndarray
    image: bytes
    image_base: int
    mem_bytes: int
    manifest: dict = field(default_factory=dict)
    prog_addr: int = 0

    @property
    def prog_len(self) -> int:
        """Number of instructions (``PROG_LEN``)."""
        return len(self.code)

    def code_bytes(self) -> bytes:
        """The encoded instruction stream (cached: the code table is not modified after)."""
        cached = getattr(self, "_code_bytes", None)
        if cached is None or cached[0] is not self.code:
            cached = (self.code, encode_table(self.code))
            self._code_bytes = cached
        return cached[1]

    def check(self) -> int:
        """Legality (for this config and ``MEM_LIMIT``) and token consistency of the code:
        :func:`~accss3d.isatable.check_legal`, :func:`~accss3d.isatable.program_end`,
        :func:`~accss3d.isatable.check_tokens`, in that order.  Returns the number of
        instructions executed (up to HALT).  Checked once per code table (cached: the table
        is not modified after), so a program loaded or compiled is not checked again when it
        runs."""
        cached = getattr(self, "_checked", None)
        if cached is None or cached[0] is not self.code:
            check_legal(self.code, self.cfg, self.mem_bytes)
            end = program_end(self.code)
            check_tokens(self.code)
            cached = (self.code, end)
            self._checked = cached
        return cached[1]

    def memory(self) -> np.ndarray:
        """The whole external memory (``mem_bytes`` uint8): code, image, zeros."""
        mem = np.zeros(self.mem_bytes, dtype=np.uint8)
        code = np.frombuffer(self.code_bytes(), dtype=np.uint8)
        mem[self.prog_addr : self.prog_addr + len(code)] = code
        img = np.frombuffer(self.image, dtype=np.uint8)
        mem[self.image_base : self.image_base + len(img)] = img
        return mem

    # ------------------------------------------------------------------ writing
    def to_bytes(self) -> bytes:
        """The ``.sspn`` file (deterministic: the same program gives the same bytes)."""
        manifest = json.dumps(self.manifest, sort_keys=True, indent=1).encode()
        sections = [
            (Section.CODE, self.code_bytes(), self.prog_addr),
            (Section.IMAGE, bytes(self.image), self.image_base),
            (Section.MANIFEST, manifest, 0),
            (Section.CONFIG, self.cfg.to_json().encode(), 0),
        ]
        header_size = HEADER_BYTES + SECTION_BYTES * len(sections)
        offset = _align(header_size, 64)
        table, payload = [], bytearray()
        for kind, data, addr in sections:
            table.append(_SECTION.pack(int(kind), 0, offset, len(data), addr))
            pad = _align(len(data), 64) - len(data)
            payload += data + b"\0" * pad
            offset += len(data) + pad
        head_pad = _align(header_size, 64) - header_size
        file_size = _align(header_size, 64) + len(payload)
        header = _HEADER.pack(
            MAGIC,
            ISA_VERSION[0],
            ISA_VERSION[1],
            header_size,
            0,
            0,
            file_size,
            self.prog_addr,
            self.prog_len,
            self.mem_bytes,
            len(sections),
            0,
            bytes.fromhex(self.cfg.digest()),
        )
        blob = bytearray(header + b"".join(table) + b"\0" * head_pad + payload)
        struct.pack_into("<I", blob, _CRC_OFFSET, zlib.crc32(blob) & 0xFFFFFFFF)
        return bytes(blob)

    def save(self, path: str | os.PathLike) -> None:
        """Write the ``.sspn`` file."""
        with open(path, "wb") as fh:
            fh.write(self.to_bytes())

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_bytes(
        cls, data: bytes, cfg: ArchConfig | None = None, *, check_code: bool = True
    ) -> Program:
        """Parse and validate a ``.sspn`` file.

        Parameters
        ----------
        data : bytes
        cfg : ArchConfig, optional
            The config the program will run on; its digest must match the program's.
        check_code : bool
            Validate every instruction (legality, tokens); default True.

        Raises
        ------
        ProgramError
            One line saying what is wrong (never another exception for bad bytes).
        """
        try:
            return _parse(bytes(data), cfg, check_code)
        except ProgramError:
            raise
        except (
            AccssError,
            ValueError,
            KeyError,
            TypeError,
            OverflowError,
            RecursionError,
            struct.error,
        ) as exc:  # pragma: no cover - defensive: always one line
            raise ProgramError(f"malformed program: {exc}") from None


def _parse(data: bytes, cfg: ArchConfig | None, check_code: bool) -> Program:
    n = len(data)
    if n < HEADER_BYTES:
        raise ProgramError(f"truncated program: {n} bytes, the header alone needs {HEADER_BYTES}")
    (
        magic,
        major,
        minor,
        header_size,
        flags,
        crc,
        file_size,
        prog_addr,
        prog_len,
        mem_bytes,
        n_sections,
        reserved,
        digest,
    ) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ProgramError(f"not an SSpNNA program: bad magic {magic!r} (expected {MAGIC!r})")
    if major != ISA_VERSION[0] or minor > ISA_VERSION[1]:
        raise ProgramError(
            f"unsupported ISA version {major}.{minor} (this build runs {ISA_VERSION[0]}."
            f"{ISA_VERSION[1]} and older minors)"
        )
    if file_size != n:
        what = "truncated" if n < file_size else "trailing bytes in"
        raise ProgramError(f"{what} program: {n} bytes, the header says {file_size}")
    if header_size != HEADER_BYTES + SECTION_BYTES * n_sections or header_size > n:
        raise ProgramError(
            f"bad header: header_size {header_size} for {n_sections} sections in {n} bytes"
        )
    blob = bytearray(data)
    struct.pack_into("<I", blob, _CRC_OFFSET, 0)
    actual = zlib.crc32(blob) & 0xFFFFFFFF
    if actual != crc:
        raise ProgramError(
            f"CRC mismatch: the file says 0x{crc:08x}, its bytes give 0x{actual:08x}"
        )
    if flags or reserved:
        raise ProgramError(f"bad header: flags 0x{flags:x} / reserved 0x{reserved:x} must be 0")
    sections: dict[Section, tuple[bytes, int]] = {}
    for i in range(n_sections):
        kind, sflags, offset, size, addr = _SECTION.unpack_from(data, HEADER_BYTES + i * 32)
        try:
            kind = Section(kind)
        except ValueError:
            raise ProgramError(f"section {i}: unknown section kind {kind}") from None
        if kind in sections:
            raise ProgramError(f"section {i}: a second {kind.name} section")
        if sflags or offset < header_size or offset + size > n:
            raise ProgramError(
                f"section {i} ({kind.name}): bytes {offset}..{offset + size} outside the "
                f"{n}-byte file"
            )
        sections[kind] = (data[offset : offset + size], addr)
    for kind in Section:
        if kind not in sections:
            raise ProgramError(f"program has no {kind.name} section")

    # The config it was compiled for.
    cfg_text = sections[Section.CONFIG][0]
    try:
        own = ArchConfig.from_dict(json.loads(cfg_text.decode()))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProgramError(f"config section is not valid JSON: {exc}") from None
    except AccssError as exc:
        raise ProgramError(f"config section: {exc}") from None
    if own.digest() != digest.hex():
        raise ProgramError(
            f"config digest mismatch: the header says {digest.hex()[:16]}..., the embedded "
            f"config '{own.name}' has {own.digest()[:16]}..."
        )
    if cfg is not None and cfg.digest() != own.digest():
        raise ProgramError(
            f"program compiled for config '{own.name}' (digest {own.digest()[:16]}...), not "
            f"for '{cfg.name}' (digest {cfg.digest()[:16]}...)"
        )

    # Address space.
    limit = 1 << own.addr_bits
    if mem_bytes > limit:
        raise ProgramError(
            f"memory of {mem_bytes} bytes exceeds the {own.addr_bits}-bit address space"
        )
    code, code_addr = sections[Section.CODE]
    image, image_base = sections[Section.IMAGE]
    if code_addr != prog_addr or len(code) != prog_len * INSTR_BYTES:
        raise ProgramError(
            f"CODE section ({len(code)} bytes at 0x{code_addr:x}) does not match PROG_ADDR "
            f"0x{prog_addr:x} / PROG_LEN {prog_len}"
        )
    if prog_addr % max(INSTR_BYTES, own.bus_bytes):
        raise ProgramError(f"PROG_ADDR 0x{prog_addr:x} is not aligned to an instruction")
    for name, base, size in (("code", prog_addr, len(code)), ("image", image_base, len(image))):
        if base + size > mem_bytes:
            raise ProgramError(
                f"{name} at 0x{base:x}..0x{base + size:x} lies outside the {mem_bytes}-byte memory"
            )
    if len(image) and prog_addr < image_base + len(image) and image_base < prog_addr + len(code):
        raise ProgramError("code and image sections overlap in external memory")

    manifest = _parse_manifest(sections[Section.MANIFEST][0], mem_bytes)
    table = decode_table(code)
    prog = Program(
        cfg=own,
        code=table,
        image=image,
        image_base=image_base,
        mem_bytes=mem_bytes,
        manifest=manifest,
        prog_addr=prog_addr,
    )
    prog._code_bytes = (table, code)
    if check_code:
        prog.check()
    return prog


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProgramError(f"malformed manifest: {what} must be a non-negative integer")
    return value


def _parse_manifest(text: bytes, mem_bytes: int) -> dict:
    try:
        manifest = json.loads(text.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProgramError(f"malformed manifest: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        raise ProgramError(f"malformed manifest: not an object with format {_MANIFEST_FORMAT!r}")
    tensors = manifest.get("tensors", {})
    if not isinstance(tensors, dict):
        raise ProgramError("malformed manifest: 'tensors' must be an object")
    for name, t in tensors.items():
        if not isinstance(t, dict):
            raise ProgramError(f"malformed manifest: tensor {name!r} must be an object")
        addr = _int(t.get("addr"), f"tensor {name!r} addr")
        rows = _int(t.get("rows"), f"tensor {name!r} rows")
        stride = _int(t.get("row_stride"), f"tensor {name!r} row_stride")
        channels = _int(t.get("channels"), f"tensor {name!r} channels")
        if rows and addr + (rows - 1) * stride + channels > mem_bytes:
            raise ProgramError(
                f"malformed manifest: tensor {name!r} extends beyond the {mem_bytes}-byte memory"
            )
    for key in ("layers", "outputs"):
        if not isinstance(manifest.get(key, []), list):
            raise ProgramError(f"malformed manifest: {key!r} must be a list")
    return manifest


def program_path(path: str | os.PathLike) -> str:
    """The ``.sspn`` file of a path: the path itself, or ``DIR/program.sspn``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return os.path.join(path, PROGRAM_FILE)
    return path


def load_program(path: str | os.PathLike, cfg: ArchConfig | None = None) -> Program:
    """Read and validate a program file (or a compiled directory's ``program.sspn``)."""
    with open(program_path(path), "rb") as fh:
        data = fh.read()
    return Program.from_bytes(data, cfg)
