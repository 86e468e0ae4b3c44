"""Validating 1,000,000 resident ID numbers and 1,000,000 unified social credit codes (one core)."""

from __future__ import annotations

import datetime as dt
import random
import time

from tongban.core import codes

N = 1_000_000


def _id_numbers(n: int, rng: random.Random) -> list[str]:
    start = dt.date(1930, 1, 1)
    areas = ["110101", "310115", "440305", "339902", "510107"]
    return [
        codes.make_resident_id(
            rng.choice(areas), start + dt.timedelta(days=rng.randrange(33000)), rng.randrange(1000)
        )
        for _ in range(n)
    ]


def _credit_codes(n: int, rng: random.Random) -> list[str]:
    alphabet = codes.USCC_ALPHABET
    return [
        codes.make_uscc("9", "1", "339902", "".join(rng.choice(alphabet) for _ in range(8))) for _ in range(n)
    ]


def _time(parse, values: list[str]) -> tuple[float, int]:
    invalid = 0
    started = time.perf_counter()
    for value in values:
        try:
            parse(value)
        except codes.CodeError:
            invalid += 1
    return time.perf_counter() - started, invalid


def run(scale: float = 1.0) -> list[tuple[str, str]]:
    n = max(1000, int(N * scale))
    rng = random.Random(1)
    ids = _id_numbers(n, rng)
    # One in a hundred has a wrong check character, as real input does.
    for i in range(0, n, 100):
        ids[i] = ids[i][:17] + ("0" if ids[i][17] != "0" else "1")
    usccs = _credit_codes(n, rng)
    for i in range(0, n, 100):
        usccs[i] = usccs[i][:17] + ("0" if usccs[i][17] != "0" else "1")
    id_seconds, id_invalid = _time(codes.parse_resident_id, ids)
    cc_seconds, cc_invalid = _time(codes.parse_uscc, usccs)
    return [
        (
            f"resident ID numbers validated ({n:,}, {id_invalid:,} refused)",
            f"{id_seconds:.2f} s  {n / id_seconds:,.0f}/s",
        ),
        (
            f"credit codes validated ({n:,}, {cc_invalid:,} refused)",
            f"{cc_seconds:.2f} s  {n / cc_seconds:,.0f}/s",
        ),
    ]
