"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, proofs and their verification.

Leaves hash as SHA-256(0x00 ‖ data), nodes as SHA-256(0x01 ‖ left ‖ right); the tree over n leaves splits
at the largest power of two smaller than n (§2.1.1). Proof generation takes a function that returns the
hash of a complete subtree (``subtree(start, size)``), so a store can answer from cached subtree hashes in
O(log n) reads; the in-memory helpers here build one from a list of leaf hashes. Verification follows the
algorithms of §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step, so it can check proofs from
any RFC 9162 log, not only this one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Subtree = Callable[[int, int], bytes]  # (first leaf index, number of leaves) -> that subtree's hash


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n ≥ 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (already hashed with ``leaf_hash``); the empty tree is SHA-256 of nothing."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root_from_leaves(leaves[:k]), root_from_leaves(leaves[k:]))


def subtree_from_leaves(leaves: Sequence[bytes]) -> Subtree:
    return lambda start, size: root_from_leaves(leaves[start : start + size])


def root(size: int, subtree: Subtree) -> bytes:
    """MTH of the first ``size`` leaves, from complete subtrees (the perfect ones a store keeps)."""
    if size == 0:
        return hashlib.sha256(b"").digest()
    return _mth(0, size, subtree)


def _mth(start: int, size: int, subtree: Subtree) -> bytes:
    if size & (size - 1) == 0:  # a perfect subtree: stored (or a single leaf)
        return subtree(start, size)
    k = _split(size)
    return node_hash(_mth(start, k, subtree), _mth(start + k, size - k, subtree))


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 for leaf ``index`` in a tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    return _path(index, 0, size, subtree)


def _path(m: int, start: int, n: int, subtree: Subtree) -> list[bytes]:
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, start, k, subtree), _mth(start + k, n - k, subtree)]
    return [*_path(m - k, start + k, n - k, subtree), _mth(start, k, subtree)]


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1: the old tree of ``old_size`` leaves is a prefix of the new."""
    if not 0 < old_size <= new_size:
        raise ValueError("sizes must satisfy 0 < old ≤ new")
    if old_size == new_size:
        return []
    return _subproof(old_size, 0, new_size, True, subtree)


def _subproof(m: int, start: int, n: int, complete: bool, subtree: Subtree) -> list[bytes]:
    if m == n:
        return [] if complete else [_mth(start, n, subtree)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, start, k, complete, subtree), _mth(start + k, n - k, subtree)]
    return [*_subproof(m - k, start + k, n - k, False, subtree), _mth(start, k, subtree)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2, for a leaf hash ``leaf`` at ``index`` in a tree of ``size`` with ``root_hash``."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2: the tree of ``new_size`` with ``new_root`` extends the one with ``old_root``."""
    if old_size > new_size or old_size == 0:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path = [old_root, *path]
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
