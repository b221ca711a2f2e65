"""Benchmark of identifier validation: validations per second on one core, and peak memory.

    .venv/bin/python bench/identifiers.py [--n N] [--seed S]

Generates N USCCs and N resident ID numbers, about 70 % valid and 30 % broken in the ways real data is broken
(bad check digit, letter I/O in a USCC, wrong length, impossible birth date, lower-case or spaced input, legacy
15-digit numbers), then times ``uscc.is_valid``, ``uscc.validate``, ``resident_id.is_valid`` and
``resident_id.validate`` over them (best of 3 rounds). The answers are cross-checked (the fast and the explained
path must agree) so the figures are of correct code.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta

from xinyong.identifiers import resident_id, uscc

REGIONS = ["410882", "410800", "110105", "350100", "350211", "440305", "510185", "320582", "130502", "999999"]
ALPHABET = uscc.ALPHABET


def _uscc_codes(rng: random.Random, n: int) -> tuple[list[str], int]:
    prefixes = [a + c for a, cats in uscc.CATEGORIES.items() for c in cats]
    weights = [40 if p == "91" else 15 if p == "92" else 1 for p in prefixes]
    codes, expected_valid = [], 0
    for _ in range(n):
        prefix = rng.choices(prefixes, weights)[0]
        code = uscc.make(
            authority=prefix[0],
            category=prefix[1],
            region=rng.choice(REGIONS),
            org_body="".join(rng.choice(ALPHABET) for _ in range(8)),
        )
        roll = rng.random()
        if roll < 0.6:
            expected_valid += 1
        elif roll < 0.7:  # needs clean-up, still valid
            code = " ".join((code[:6].lower(), code[6:]))
            expected_valid += 1
        elif roll < 0.8:  # wrong check character
            code = code[:17] + ALPHABET[(ALPHABET.index(code[17]) + 1) % 31]
        elif roll < 0.87:  # letter outside the alphabet
            i = rng.randrange(8, 16)
            code = code[:i] + rng.choice("IOZSV") + code[i + 1 :]
        elif roll < 0.94:  # wrong length
            code = code[: rng.randrange(10, 18)]
        else:  # unknown authority/category
            code = "95" + code[2:]
        codes.append(code)
    return codes, expected_valid


def _resident_ids(rng: random.Random, n: int) -> tuple[list[str], int]:
    start = date(1930, 1, 1)
    codes, expected_valid = [], 0
    for _ in range(n):
        born = start + timedelta(days=rng.randrange(80 * 365))
        number = resident_id.make(region=rng.choice(REGIONS), birth_date=born, sequence=rng.randrange(1000))
        roll = rng.random()
        if roll < 0.6:
            expected_valid += 1
        elif roll < 0.65:  # lower-case x / spaced
            number = number[:6] + " " + number[6:].lower()
            expected_valid += 1
        elif roll < 0.7 and born.year < 2000:  # legacy 15-digit
            number = number[:6] + number[8:17]
            expected_valid += 1
        elif roll < 0.82:  # wrong check digit
            number = number[:17] + ("0" if number[17] != "0" else "1")
        elif roll < 0.9:  # impossible birth date with a correct check digit
            first17 = number[:10] + "1332" + number[14:17]
            number = first17 + resident_id.calc_check_digit(first17)
        elif roll < 0.95:  # wrong length (but not 15: that is a legacy number)
            number = number[: rng.choice((10, 11, 12, 13, 14, 16, 17))]
        else:  # letter inside
            number = number[:9] + "A" + number[10:]
        codes.append(number)
    return codes, expected_valid


def _rate(fn: Callable[[str], object], codes: list[str], rounds: int = 3) -> tuple[float, float]:
    """Best of ``rounds``: (per CPU-second of this process, per wall-clock second). On a busy machine the CPU
    figure is the fair one for "one core"; on an idle one they agree."""
    best_cpu = best_wall = float("inf")
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        for code in codes:
            fn(code)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return len(codes) / best_cpu, len(codes) / best_wall


def _peak_alloc(fn: Callable[[str], object], codes: list[str]) -> int:
    tracemalloc.start()
    results = [fn(code) for code in codes]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del results
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="codes per kind (default 200000)")
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    rng = random.Random(args.seed)
    usccs, uscc_expected = _uscc_codes(rng, args.n)
    ids, id_expected = _resident_ids(rng, args.n)
    uscc.validate(usccs[0])  # load the region table outside the timings
    resident_id.validate(ids[0])

    fast_u = sum(map(uscc.is_valid, usccs))
    full_u = sum(uscc.validate(c).valid for c in usccs)
    fast_r = sum(map(resident_id.is_valid, ids))
    full_r = sum(resident_id.validate(c).valid for c in ids)
    if not (fast_u == full_u == uscc_expected and fast_r == full_r == id_expected):
        sys.exit(f"mismatch: uscc {fast_u}/{full_u}/{uscc_expected}, resident_id {fast_r}/{full_r}/{id_expected}")

    print(f"identifiers benchmark — Python {sys.version.split()[0]}, {args.n:,} codes per kind, one core")
    print(f"  mix: USCC {uscc_expected / args.n:.0%} valid, resident ID {id_expected / args.n:.0%} valid")
    for name, fn, codes in (
        ("uscc.is_valid", uscc.is_valid, usccs),
        ("uscc.validate", uscc.validate, usccs),
        ("resident_id.is_valid", resident_id.is_valid, ids),
        ("resident_id.validate", resident_id.validate, ids),
    ):
        cpu, wall = _rate(fn, codes)
        print(f"  {name:<22} {cpu:>10,.0f} /s per CPU-second   ({wall:>10,.0f} /s wall clock)")
    sample = usccs[:10_000]
    explained, fast = _peak_alloc(uscc.validate, sample), _peak_alloc(uscc.is_valid, sample)
    print(f"  tracemalloc peak, 10,000 uscc.validate results kept: {explained / 2**20:.1f} MiB")
    print(f"  tracemalloc peak, 10,000 uscc.is_valid results kept: {fast / 2**10:.1f} KiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"  peak RSS of the process (inputs included): {rss:.1f} MiB")


if __name__ == "__main__":
    main()
