"""Streaming JSON reading for large reports: walk the structure, decode each element in C.

``json.load`` of a 100 MB Trivy report builds every object at once (several times the file
size in memory). :class:`JsonStream` reads the file in chunks and lets the caller walk objects
and arrays key by key; each leaf element (one vulnerability) is decoded by the C decoder with
``raw_decode``. Errors carry the report path and say "truncated" when the file ends early.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import IO, Any

from pipeline_lib.core.errors import GantryError

_WS = " \t\n\r"
_NUMBER_TAIL = frozenset("0123456789.eE+-")
_SKIP_WS = re.compile(r"[ \t\n\r]*").match
# fast paths (complete matches only; anything else falls back to the careful slow path)
_FIRST_KEY = re.compile(r'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:').match
_NEXT_KEY = re.compile(r'[ \t\n\r]*,[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:').match
_OBJ_END = re.compile(r"[ \t\n\r]*}").match
_ARR_SEP = re.compile(r"[ \t\n\r]*([,\]])").match
_DECODER = json.JSONDecoder()
CHUNK = 1 << 20


def load_json(path: Path) -> Any:
    """The whole JSON document of a (small) report file; a UTF-8 BOM is skipped.

    Raises GantryError(path, "truncated JSON …" | "invalid JSON …") with the character offset.
    """
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        size = path.stat().st_size
        what = "truncated JSON" if exc.pos >= size - 16 or exc.msg.startswith("Unterminated") else "invalid JSON"
        raise GantryError(str(path), f"{what} at character {exc.pos}: {exc.msg}") from None


class JsonStream:
    """A cursor over a JSON text file; ``where`` names the file in errors."""

    def __init__(self, fh: IO[str], where: str, chunk: int | None = None) -> None:
        self.fh = fh
        self.where = where
        self.chunk = chunk or CHUNK
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.consumed = 0  # characters dropped from the front of buf

    # -- buffer -------------------------------------------------------------------------
    def _more(self, size: int | None = None) -> bool:
        if self.eof:
            return False
        try:
            data = self.fh.read(size or self.chunk)
        except UnicodeDecodeError as exc:
            raise GantryError(self.where, f"not UTF-8 text (byte {exc.start} of a chunk)") from None
        if not data:
            self.eof = True
            return False
        if self.pos > (len(self.buf) >> 1):
            self.consumed += self.pos
            self.buf = self.buf[self.pos:] + data
            self.pos = 0
        else:
            self.buf += data
        return True

    def _fail(self, what: str) -> GantryError:
        return GantryError(self.where, what)

    def truncated(self) -> GantryError:
        return self._fail("truncated JSON (the file ends before the document does)")

    def peek(self) -> str:
        """The next non-blank character without consuming it ('' at end of file)."""
        while True:
            buf, pos = self.buf, self.pos
            if pos < len(buf) and buf[pos] not in _WS:
                return buf[pos]
            pos = self.pos = _SKIP_WS(buf, pos).end()
            if pos < len(buf):
                return buf[pos]
            if not self._more():
                return ""

    def expect(self, ch: str) -> None:
        got = self.peek()
        if got != ch:
            if not got:
                raise self.truncated()
            raise self._fail(f"invalid JSON at character {self.consumed + self.pos}: expected {ch!r}, found {got!r}")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next complete JSON value."""
        pos = self.pos
        if (pos >= len(self.buf) or self.buf[pos] in _WS) and not self.peek():
            raise self.truncated()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                near_end = exc.pos >= len(self.buf) - 16 or exc.msg.startswith("Unterminated string")
                if near_end and self._more(max(self.chunk, len(self.buf) - self.pos)):
                    continue
                if near_end:
                    raise self.truncated() from None
                raise self._fail(f"invalid JSON at character {self.consumed + exc.pos}: {exc.msg}") from None
            except RecursionError:
                raise self._fail("JSON nested too deeply") from None
            if not self.eof and not isinstance(obj, (dict, list, str)) and (
                    end >= len(self.buf) or self.buf[end] in _NUMBER_TAIL):
                # a number cut by the chunk boundary ("0" of "0.5") continues in the next chunk
                if self._more():
                    continue
            self.pos = end
            return obj

    skip = value

    def try_value(self) -> tuple[bool, Any]:
        """Decode the next value only if it lies wholly in the current buffer (no refill).

        A whole small element in one C call is much cheaper than walking it; on failure the
        cursor does not move and the caller walks the element instead (which also reports
        errors precisely). Memory stays bounded by the buffer size.
        """
        if not self.peek():
            return False, None
        try:
            obj, end = _DECODER.raw_decode(self.buf, self.pos)
        except (json.JSONDecodeError, RecursionError):
            return False, None
        if not isinstance(obj, (dict, list)):
            return False, None
        self.pos = end
        return True, obj

    def iter_object(self, path: str) -> Iterator[str]:
        """Yield each key of the object at the cursor; the caller consumes each value."""
        ch = self.peek()
        if ch != "{":
            if not ch:
                raise self.truncated()
            raise self._fail(f"{path or 'document'}: expected a JSON object")
        self.pos += 1
        if self.peek() == "}":
            self.pos += 1
            return
        m = _FIRST_KEY(self.buf, self.pos)
        while True:
            if m is not None:
                self.pos = m.end()
                key = m.group(1)
            else:
                if self.peek() != '"':
                    if not self.peek():
                        raise self.truncated()
                    raise self._fail(f"invalid JSON in {path or 'document'}: expected a key")
                key = self.value()
                if not isinstance(key, str):
                    raise self._fail(f"invalid JSON in {path or 'document'}: expected a key")
                self.expect(":")
            yield key
            m = _NEXT_KEY(self.buf, self.pos)
            if m is not None:
                continue
            e = _OBJ_END(self.buf, self.pos)
            if e is not None:
                self.pos = e.end()
                return
            ch = self.peek()
            if ch == ",":
                self.pos += 1
                m = _FIRST_KEY(self.buf, self.pos)
                continue
            if ch == "}":
                self.pos += 1
                return
            if not ch:
                raise self.truncated()
            raise self._fail(f"invalid JSON in {path or 'document'}: expected ',' or '}}'")

    def iter_array(self, path: str) -> Iterator[int]:
        """Yield the index of each element of the array at the cursor; the caller consumes it."""
        ch = self.peek()
        if ch == "n":  # null is tolerated where a list is expected (Trivy writes null lists)
            if self.value() is None:
                return
            raise self._fail(f"{path}: expected a list")
        if ch != "[":
            if not ch:
                raise self.truncated()
            raise self._fail(f"{path}: expected a list")
        self.pos += 1
        if self.peek() == "]":
            self.pos += 1
            return
        i = 0
        while True:
            yield i
            i += 1
            m = _ARR_SEP(self.buf, self.pos)
            if m is not None:
                self.pos = m.end()
                if m.group(1) == ",":
                    continue
                return
            ch = self.peek()
            if ch == ",":
                self.pos += 1
                continue
            if ch == "]":
                self.pos += 1
                return
            if not ch:
                raise self.truncated()
            raise self._fail(f"invalid JSON in {path}: expected ',' or ']'")

    def end(self) -> None:
        """Only whitespace may follow the document."""
        if self.peek():
            raise self._fail(f"invalid JSON: extra data at character {self.consumed + self.pos}")
