"""A tiny TOML writer for what :func:`tomllib.loads` returns from a pipeline config.

Tables become ``[a.b]`` sections, lists of tables ``[[a.b]]`` sections, other
lists inline arrays; strings, integers, floats and booleans only (a pipeline
config has no dates). :func:`dumps` checks its own output by parsing it back,
so a value it cannot write faithfully raises instead of changing the config.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from typing import Any, Final

_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} values as TOML: {value!r}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _emit(lines: list[str], path: list[str], table: Mapping[str, Any], array_item: bool = False) -> None:
    if path:
        header = ".".join(_key(p) for p in path)
        lines.append(f"[[{header}]]" if array_item else f"[{header}]")
    for key, value in table.items():
        if not isinstance(value, Mapping) and not _is_table_array(value):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        if isinstance(value, Mapping):
            lines.append("")
            _emit(lines, [*path, key], value)
        elif _is_table_array(value):
            for item in value:
                lines.append("")
                _emit(lines, [*path, key], item, array_item=True)


def dumps(data: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _emit(lines, [], data)
    text = "\n".join(lines).lstrip("\n") + "\n"
    if tomllib.loads(text) != data:
        raise ValueError("the TOML written does not read back as the same data")
    return text
