"""Reading a server's JSON answer (Jenkins, GitHub, an OCI registry, AWS): fields are checked,
a missing or mistyped one is one line naming the endpoint and the field, never ``KeyError``.

``where`` is the endpoint as the user can look it up (``jenkins HOST GET api/json``,
``github GET /repos/o/r/issues/1/comments``, ``registry HOST GET /v2/REPO/manifests/REF``).
Paths are keys and list indexes: ``require(doc, "config", "digest", kind=str, where=…)``
reads ``doc["config"]["digest"]`` and names ``config.digest`` when it is not there.

Errors: :class:`~pipeline_lib.core.errors.BadAnswer` (exit 2), e.g.
``gantry: jenkins 127.0.0.1:8080 GET api/json: answer has no field 'views'``.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import BadAnswer

_KIND_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer",
               float: "a number", bool: "true or false", type(None): "null"}
_MISSING = object()


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False   # JSON true is not a number
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return True    # JSON has one number type
    return isinstance(value, kinds)


def _name(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def parse(body: bytes | str, where: str) -> Any:
    """``body`` as JSON; BadAnswer ``<where>: answer is not JSON`` otherwise."""
    try:
        return json.loads(body)
    except (ValueError, TypeError):
        raise BadAnswer(where, "answer is not JSON") from None


def json_of(resp: Any, where: str) -> Any:
    """The JSON body of a ``requests.Response`` (BadAnswer when it is not JSON)."""
    try:
        return resp.json()
    except ValueError:
        raise BadAnswer(where, f"answer is not JSON (HTTP {resp.status_code})") from None


def _walk(doc: Any, path: tuple[str | int, ...], where: str) -> Any:
    cur = doc
    for i, key in enumerate(path):
        container = dict if isinstance(key, str) else list
        if cur is None and i > 0:
            return _MISSING, path[:i]   # JSON null on the way: the field is not there
        if not isinstance(cur, container):
            if i == 0:
                raise BadAnswer(where, f"answer is {_kind_name(type(cur))}, expected {_kind_name(container)}")
            raise BadAnswer(where, f"answer's field {_name(path[:i])!r} is {_kind_name(type(cur))}, "
                                   f"expected {_kind_name(container)}")
        if isinstance(key, str):
            if key not in cur:
                return _MISSING, path[: i + 1]
            cur = cur[key]
        else:
            if not -len(cur) <= key < len(cur):
                return _MISSING, path[: i + 1]
            cur = cur[key]
    return cur, path


def require(doc: Any, *path: str | int, kind: type | tuple[type, ...] = object, where: str) -> Any:
    """``doc[path[0]][path[1]]…``, which must exist and be a ``kind`` (``float`` accepts integers,
    ``int`` refuses ``true``). BadAnswer ``<where>: answer has no field 'a.b'`` or
    ``<where>: answer's field 'a.b' is a string, expected an integer``."""
    value, at = _walk(doc, path, where)
    if value is _MISSING:
        if isinstance(at[-1], int):
            if len(at) == 1:
                raise BadAnswer(where, f"answer has no entry {at[-1]}")
            raise BadAnswer(where, f"answer's field {_name(at[:-1])!r} has no entry {at[-1]}")
        raise BadAnswer(where, f"answer has no field {_name(at)!r}")
    _check_kind(value, path, kind, where)
    return value


def _check_kind(value: Any, path: tuple[str | int, ...], kind: type | tuple[type, ...], where: str) -> None:
    if kind is object or _is(value, kind):
        return
    if not path:
        raise BadAnswer(where, f"answer is {_kind_name(type(value))}, expected {_kind_name(kind)}")
    raise BadAnswer(where, f"answer's field {_name(path)!r} is {_kind_name(type(value))}, expected {_kind_name(kind)}")


def optional(doc: Any, *path: str | int, kind: type | tuple[type, ...] = object, default: Any = None,
             where: str) -> Any:
    """Like :func:`require`, but a missing field (or JSON null) is ``default``; a present one of
    another type is still BadAnswer."""
    value, _ = _walk(doc, path, where)
    if value is _MISSING or value is None:
        return default
    _check_kind(value, path, kind, where)
    return value
