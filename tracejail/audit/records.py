"""Record building blocks shared by the writer, the decoder and the reports.

Why a separate module: tracee data (paths, argv, socket paths) is hostile.
Everything that ends up in a record or on a terminal goes through
``escape_bytes``/``escape_str`` first, so a newline, an ANSI escape or invalid
UTF-8 in a path can neither break a JSONL line nor reach a terminal raw.

Escaping is strace/C style and unambiguous: ``\\\\`` for a backslash,
``\\n \\t \\r`` and ``\\xNN`` for every other control or non-printable byte
(including each byte of invalid UTF-8 and of non-printable code points such as
U+202E); printable UTF-8 is kept as is.  ``unescape`` reverses it exactly.
"""
from __future__ import annotations

import os

from tracejail._values import _Node

SCHEMA_VERSION = 1

_NAMED = {0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r"}


def _escape_slow(b: bytes) -> str:
    out = []
    text = b.decode("utf-8", "surrogateescape")
    for ch in text:
        o = ord(ch)
        if o == 0x5C:
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= o <= 0xDCFF:            # an invalid byte, kept by surrogateescape
            out.append("\\x%02x" % (o - 0xDC00))
        elif o in _NAMED:
            out.append(_NAMED[o])
        else:                                  # control / non-printable: its UTF-8 bytes
            out.extend("\\x%02x" % c for c in ch.encode("utf-8"))
    return "".join(out)


def escape_bytes(b: bytes) -> str:
    """Tracee bytes -> safe, unambiguous text (see module docstring)."""
    if b.isascii():
        s = b.decode("ascii")
        if s.isprintable() and "\\" not in s:
            return s                           # fast path: the common case costs ~200 ns
    return _escape_slow(b)


def escape_str(s: str) -> str:
    """Same as escape_bytes for text that came from the tracee as str
    (os.fsdecode-style, surrogateescape for invalid bytes)."""
    if s.isascii() and s.isprintable() and "\\" not in s:
        return s
    return _escape_slow(os.fsencode(s))


def unescape(s: str) -> bytes:
    """Inverse of escape_bytes (for tools and tests)."""
    out = bytearray()
    i, n = 0, len(s)
    simple = {"\\": 0x5C, "n": 0x0A, "t": 0x09, "r": 0x0D}
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n:
            nx = s[i + 1]
            if nx == "x" and i + 4 <= n:
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            if nx in simple:
                out.append(simple[nx])
                i += 2
                continue
        out += ch.encode("utf-8")
        i += 1
    return bytes(out)


def safe_cell(v) -> str:
    """Any value -> text that is safe to print on a terminal (report tables)."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        return escape_bytes(v)
    s = v if isinstance(v, str) else str(v)
    if s.isprintable():
        return s
    return escape_str(s)


def json_default(o):
    """json encoder hook: bytes -> escaped text, dataclasses/Verdicts -> dicts,
    sets -> sorted lists, anything else -> str (never raises: a record must not
    be lost because a caller passed an odd type)."""
    if isinstance(o, (bytes, bytearray, memoryview)):
        return escape_bytes(bytes(o))
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    if isinstance(o, os.PathLike):
        return escape_str(os.fspath(o))
    # tracejail._values classes (Verdict, SockAddr, policy AST) as the dataclasses they were
    fields = o._fields if isinstance(o, _Node) else getattr(o, "__dataclass_fields__", None)
    if fields is not None:
        return {k: getattr(o, k) for k in fields}
    return str(o)
