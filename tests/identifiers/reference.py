"""Independent reference implementations, written straight from the standards' formulas (standards.md §2), to
check the package's optimised arithmetic against."""

from __future__ import annotations

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_check(first17: str) -> str:
    """GB 32100: weights 3^(i-1) mod 31, C18 = (31 - Σ mod 31) mod 31."""
    total = sum(USCC_ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_check(body8: str) -> str:
    """GB 11714: weights 3 7 9 10 5 8 4 2, A=10 … Z=35, C9 = 11 - Σ mod 11, 10 -> X, 11 -> 0."""
    total = sum(int(ch, 36) * w for ch, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2), strict=False))
    c = 11 - total % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def rid_check(first17: str) -> str:
    """GB 11643 / ISO 7064 MOD 11-2: weights 2^(18-i) mod 11, check = "10X98765432"[Σ mod 11]."""
    total = sum(int(ch) * pow(2, 17 - i, 11) for i, ch in enumerate(first17))
    return "10X98765432"[total % 11]


def build_uscc(prefix2: str, region: str, body8: str) -> str:
    first17 = prefix2 + region + body8 + org_check(body8)
    return first17 + uscc_check(first17)
