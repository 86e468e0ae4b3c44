"""RFC 8785 canonical JSON, fast for the values the audit log hashes on every gateway call.

The ``rfc8785`` package walks values in Python and cost a tenth of a gateway call. For JSON made only of
null, booleans, integers within ±2^53, strings and arrays, and objects with ASCII keys, the standard
library's ``json.dumps`` gives the same bytes:
- keys sorted (ASCII: code-unit order is string order);
- no spaces;
- non-ASCII left as is;
- the same short escapes and ``\\u00xx`` for other control characters.

Anything else (floats, non-ASCII keys, huge integers) goes to ``rfc8785``. The property tests check the
two agree."""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_SAFE_INT = 2**53


def _plain(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (bool, str)):
            continue
        if isinstance(item, int):
            if -_SAFE_INT < item < _SAFE_INT:
                continue
            return False
        if isinstance(item, dict):
            if not all(isinstance(k, str) and k.isascii() for k in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            return False
    return True


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of ``value``."""
    if _plain(value):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate: let rfc8785 refuse it its own way
            pass
    return rfc8785.dumps(value)
