"""RFC 9162 Merkle proofs: generated proofs verify with the RFC's verification algorithms for every leaf
and size, and any tampering (a changed leaf, a wrong index, a truncated or altered proof, a rewritten
history) is caught. Known roots checked against an independent naive definition."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.core import merkle


def naive_root(data):
    """MTH straight from RFC 9162 §2.1.1, over the raw entries."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(data[:k]) + naive_root(data[k:])).digest()


def entries(n):
    return [f"entry {i}".encode() for i in range(n)]


def test_known_small_trees():
    assert (
        merkle.root_from_leaves([]).hex()
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    for n in range(1, 40):
        data = entries(n)
        leaves = [merkle.leaf_hash(d) for d in data]
        assert merkle.root_from_leaves(leaves) == naive_root(data)
        assert merkle.root(n, merkle.subtree_from_leaves(leaves)) == naive_root(data)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33])
def test_every_inclusion_proof_verifies_and_tampering_fails(size):
    leaves = [merkle.leaf_hash(d) for d in entries(size)]
    subtree = merkle.subtree_from_leaves(leaves)
    root = merkle.root(size, subtree)
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, subtree)
        assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, root)
        if size > 1:
            assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, proof, root)
        if proof:
            assert not merkle.verify_inclusion(leaves[index], index, size, proof[:-1], root)
            altered = [bytes(32), *proof[1:]]
            assert not merkle.verify_inclusion(leaves[index], index, size, altered, root)


@pytest.mark.parametrize("new_size", [1, 2, 3, 5, 8, 9, 15, 16, 17, 33])
def test_every_consistency_proof_verifies_and_a_rewritten_history_fails(new_size):
    leaves = [merkle.leaf_hash(d) for d in entries(new_size)]
    subtree = merkle.subtree_from_leaves(leaves)
    new_root = merkle.root(new_size, subtree)
    for old_size in range(1, new_size + 1):
        old_root = merkle.root(old_size, subtree)
        proof = merkle.consistency_proof(old_size, new_size, subtree)
        assert merkle.verify_consistency(old_size, new_size, proof, old_root, new_root)
        # A log that rewrote an old entry cannot prove consistency with the checkpoint taken before.
        rewritten = list(leaves)
        rewritten[old_size - 1] = merkle.leaf_hash(b"rewritten")
        other = merkle.subtree_from_leaves(rewritten)
        forged_proof = merkle.consistency_proof(old_size, new_size, other)
        if old_size < new_size:
            assert not merkle.verify_consistency(
                old_size, new_size, forged_proof, old_root, merkle.root(new_size, other)
            )


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_random_sizes(size, data):
    leaves = [merkle.leaf_hash(d) for d in entries(size)]
    subtree = merkle.subtree_from_leaves(leaves)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    old = data.draw(st.integers(min_value=1, max_value=size))
    root = merkle.root(size, subtree)
    assert merkle.verify_inclusion(
        leaves[index], index, size, merkle.inclusion_proof(index, size, subtree), root
    )
    assert merkle.verify_consistency(
        old, size, merkle.consistency_proof(old, size, subtree), merkle.root(old, subtree), root
    )


def test_bad_arguments():
    subtree = merkle.subtree_from_leaves([merkle.leaf_hash(b"a")])
    with pytest.raises(ValueError):
        merkle.inclusion_proof(1, 1, subtree)
    with pytest.raises(ValueError):
        merkle.consistency_proof(0, 1, subtree)
    assert not merkle.verify_inclusion(b"x" * 32, 5, 3, [], b"y" * 32)
    assert not merkle.verify_consistency(3, 2, [], b"", b"")
