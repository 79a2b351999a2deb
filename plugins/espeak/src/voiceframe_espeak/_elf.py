"""Read the static symbol table of a 64-bit little-endian ELF shared library.

Used only to find espeak-ng's wave-generator state (see ``_native``); returns ``{}`` for anything
it does not understand, so callers can fall back gracefully.
"""

from __future__ import annotations

import struct
from pathlib import Path

_SHT_SYMTAB = 2


def read_symbols(path: str | Path) -> dict[str, tuple[int, int]]:
    """Map symbol name -> (value, size) from the ``.symtab`` section (empty if stripped)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return {}
    # ELF magic, ELFCLASS64, little-endian: the only layout espeakng-loader ships for Linux x86_64/arm64.
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    symbols: dict[str, tuple[int, int]] = {}
    for sec in sections:
        if sec[1] != _SHT_SYMTAB:
            continue
        str_off = sections[sec[6]][4]
        for off in range(sec[4], sec[4] + sec[5], 24):
            name_off, _info, _other, _shndx, value, size = struct.unpack_from("<IBBHQQ", data, off)
            end = data.index(b"\0", str_off + name_off)
            name = data[str_off + name_off : end].decode("ascii", "replace")
            if name:
                symbols[name] = (value, size)
    return symbols


def find_static(symbols: dict[str, tuple[int, int]], name: str) -> tuple[int, int] | None:
    """Find a C static, including function-local ones that GCC renames ``name.1234``."""
    if name in symbols:
        return symbols[name]
    matches = [v for k, v in symbols.items() if k.startswith(name + ".") and k[len(name) + 1 :].isdigit()]
    return matches[0] if len(matches) == 1 else None
