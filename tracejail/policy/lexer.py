"""Tokenizer for the policy language, with ``#include`` spliced in.

``#include "a.policy" "b.policy"`` (ended by newline or ';') is resolved
relative to the including file's directory, then the include search paths;
recursion and depth > 16 are errors.  Every token carries file:line:col.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from tracejail.errors import PolicyError
from tracejail.policy.ast import Loc

MAX_INCLUDE_DEPTH = 16
MAX_SOURCE_BYTES = 4 << 20
U64 = (1 << 64) - 1

PUNCT2 = ("==", "!=", "<=", ">=", "&&", "||")
PUNCT1 = "<>&|!(){}[],.;#"


@dataclass(frozen=True)
class Token:
    kind: str      # IDENT NUMBER STRING PUNCT EOF
    value: object
    loc: Loc
    text: str = ""

    def __repr__(self) -> str:
        return f"{self.kind}:{self.value!r}@{self.loc}"


def clean(text: str) -> str:
    """User text inside a one-line message: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def err(loc: Loc, msg: str) -> PolicyError:
    return PolicyError(clean(f"{loc}: {msg}"))


def decode_source(data: bytes, name: str) -> str:
    if len(data) > MAX_SOURCE_BYTES:
        raise PolicyError(f"{name}:1:1: policy file too large ({len(data)} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise PolicyError(f"{name}:{line}:{col}: invalid UTF-8 byte 0x{data[e.start]:02x}") from None


def _is_ident_start(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c == "_")


def _is_ident_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def parse_number(text: str, loc: Loc) -> int:
    neg = text.startswith("-")
    body = text[1:] if neg else text
    try:
        if body[:2] in ("0x", "0X"):
            v = int(body[2:], 16)
        elif body[:2] in ("0b", "0B"):
            v = int(body[2:], 2)
        elif len(body) > 1 and body[0] == "0":
            v = int(body[1:], 8)
        else:
            v = int(body, 10)
    except ValueError:
        raise err(loc, f"malformed number `{text}'") from None
    if v > U64 or (neg and v > (1 << 63)):
        raise err(loc, f"number `{text}' out of range")
    return (-v) & U64 if neg else v


class Lexer:
    def __init__(self, include_paths=(), sources=None):
        self.include_paths = list(include_paths)
        self.sources = sources if sources is not None else []
        self.stack: list[str] = []

    def tokenize_file(self, path: str) -> list[Token]:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_SOURCE_BYTES + 1)
        except OSError as e:
            raise PolicyError(f"{path}: cannot read policy: {e.strerror}") from None
        return self.tokenize(decode_source(data, path), path, os.path.dirname(os.path.abspath(path)))

    def tokenize(self, text: str, name: str, basedir: str | None) -> list[Token]:
        key = os.path.realpath(name) if basedir is not None else name
        if key in self.stack:
            raise PolicyError(f"{name}:1:1: recursive #include of {name}")
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            raise PolicyError(f"{name}:1:1: #include nested deeper than {MAX_INCLUDE_DEPTH}")
        self.stack.append(key)
        self.sources.append((name, text))
        try:
            return self._tokenize(text, name, basedir)
        finally:
            self.stack.pop()

    def _tokenize(self, text: str, name: str, basedir: str | None) -> list[Token]:
        toks: list[Token] = []
        i, n, line, lstart = 0, len(text), 1, 0
        while i < n:
            c = text[i]
            loc = Loc(name, line, i - lstart + 1)
            if c == "\n":
                line += 1
                lstart = i + 1
                i += 1
                continue
            if c in " \t\r\f\v":
                i += 1
                continue
            if text.startswith("//", i):
                j = text.find("\n", i)
                i = n if j < 0 else j
                continue
            if text.startswith("/*", i):
                j = text.find("*/", i + 2)
                if j < 0:
                    raise err(loc, "unterminated comment")
                line += text.count("\n", i, j)
                k = text.rfind("\n", i, j)
                if k >= 0:
                    lstart = k + 1
                i = j + 2
                continue
            if c.isdigit() or (c == "-" and i + 1 < n and text[i + 1].isdigit()):
                j = i + 1
                while j < n and (_is_ident_char(text[j])):
                    j += 1
                s = text[i:j]
                toks.append(Token("NUMBER", parse_number(s, loc), loc, s))
                i = j
                continue
            if _is_ident_start(c):
                j = i + 1
                while j < n and _is_ident_char(text[j]):
                    j += 1
                s = text[i:j]
                if s == "include" and toks and toks[-1].value == "#" and toks[-1].kind == "PUNCT":
                    hash_tok = toks.pop()
                    i, line, lstart, inc = self._include(text, j, line, lstart, name, basedir, hash_tok.loc)
                    toks.extend(inc)
                    continue
                toks.append(Token("IDENT", s, loc, s))
                i = j
                continue
            if c == '"':
                s, i = self._string(text, i, loc)
                toks.append(Token("STRING", s, loc))
                continue
            two = text[i:i + 2]
            if two in PUNCT2:
                toks.append(Token("PUNCT", two, loc, two))
                i += 2
                continue
            if c in PUNCT1:
                toks.append(Token("PUNCT", c, loc, c))
                i += 1
                continue
            shown = c if c.isprintable() else repr(c)
            raise err(loc, f"unexpected character `{shown}'")
        toks.append(Token("EOF", None, Loc(name, line, n - lstart + 1)))
        return toks

    @staticmethod
    def _string(text: str, i: int, loc: Loc) -> tuple[str, int]:
        out = []
        j = i + 1
        esc = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "0": "\0", "r": "\r"}
        while True:
            if j >= len(text) or text[j] == "\n":
                raise err(loc, "unterminated string")
            ch = text[j]
            if ch == '"':
                return "".join(out), j + 1
            if ch == "\\":
                nx = text[j + 1:j + 2]
                if nx in esc:
                    out.append(esc[nx])
                    j += 2
                    continue
                if nx == "x" and len(text) > j + 3:
                    try:
                        out.append(chr(int(text[j + 2:j + 4], 16)))
                        j += 4
                        continue
                    except ValueError:
                        pass
                raise err(loc, "bad escape in string")
            out.append(ch)
            j += 1

    def _include(self, text, i, line, lstart, name, basedir, loc):
        """Parse the file names after ``#include`` up to newline/';'; return tokens."""
        n = len(text)
        files = []
        while i < n and text[i] not in "\n;":
            c = text[i]
            if c in " \t\r":
                i += 1
                continue
            floc = Loc(name, line, i - lstart + 1)
            if c != '"':
                raise err(floc, "#include expects \"file\" names")
            s, i = self._string(text, i, floc)
            files.append((s, floc))
        if i < n and text[i] == ";":
            i += 1
        if not files:
            raise err(loc, "#include without a file name")
        out = []
        for fname, floc in files:
            path = self._resolve(fname, basedir, floc)
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_SOURCE_BYTES + 1)
            except OSError as e:
                raise err(floc, f"cannot read included file {fname}: {e.strerror}") from None
            rk = os.path.realpath(path)
            if rk in self.stack:
                raise err(floc, f"recursive #include of {fname}")
            toks = self.tokenize(decode_source(data, path), path, os.path.dirname(os.path.abspath(path)))
            out.extend(toks[:-1])   # drop the included file's EOF
        return i, line, lstart, out

    def _resolve(self, fname: str, basedir: str | None, loc: Loc) -> str:
        cands = []
        if os.path.isabs(fname):
            cands.append(fname)
        else:
            if basedir is not None:
                cands.append(os.path.join(basedir, fname))
            cands.extend(os.path.join(p, fname) for p in self.include_paths)
        for c in cands:
            if os.path.isfile(c):
                return c
        raise err(loc, f"included file {fname} not found")
