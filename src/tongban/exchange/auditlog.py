"""The append-only RFC 9162 Merkle audit log of data sharing.

Appending is one INSERT in the caller's transaction: the entry is acknowledged when that transaction
commits, and it is never rewritten. The leaf index is the row's identity value, so concurrent appends never
wait on each other. Integration (``log_integrate``, run every couple of seconds by Celery beat) extends the
tree over the contiguous prefix of committed entries, stores the hashes of complete subtrees of 16, 256,
4096 … leaves, and signs a checkpoint with the platform's seal. On PostgreSQL a rolled-back append leaves a
hole in the identity sequence; once it is older than ``GAP_SECONDS`` integration fills it with a ``gap``
leaf, and a transaction that would still commit into it fails on the primary key instead (it was never
acknowledged). So the tree only ever grows, and a crash can neither lose an acknowledged entry nor fork it.

Proofs read at most a few dozen rows: every subtree the RFC's algorithms ask for is a stored node or is
made from at most 15 stored hashes or leaves (``_Store``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tongban.core import merkle, statements
from tongban.core.canonical import canonical_json
from tongban.core.fastinsert import insert

from .models import Checkpoint, LogEntry, LogNode, LogState
from .verify import CHECKPOINT_FORMAT, CONSISTENCY_FORMAT, RECEIPT_FORMAT, check_checkpoint

STRIDE = 4  # stored node levels: 4, 8, 12, … (1/15 as many rows as leaves)
KEY_SHIFT = 48
GAP_SECONDS = 60
INTEGRATE_BATCH = 200_000


class LogError(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def entry_bytes(kind: str, data: Mapping[str, Any], at: dt.datetime) -> str:
    """The leaf: canonical JSON (RFC 8785) of the metadata, so anyone can recompute its hash."""
    return canonical_json({"kind": kind, "at": at.isoformat(), **data}).decode()


def log_append(kind: str, data: Mapping[str, Any]) -> int:
    """Append one entry in the caller's transaction; returns its leaf index."""
    now = timezone.now()
    entry = insert(LogEntry(kind=kind, leaf=entry_bytes(kind, data, now), at=now))
    _checkpoint_on_commit()
    return entry.pk - 1


def append_statement(kind: str, data: Mapping[str, Any], at: dt.datetime) -> tuple[str, list[Any]]:
    """The INSERT … RETURNING id of one entry, for a caller that folds it into a statement of its own (the
    gateway writes the entry and its tracker rows in one round trip). Call ``appended()`` after it."""
    sql = "INSERT INTO exchange_logentry (kind, leaf, at) VALUES (%s, %s, %s) RETURNING id"
    return sql, [kind, entry_bytes(kind, data, at), at]


def appended() -> None:
    _checkpoint_on_commit()


def _checkpoint_on_commit() -> None:
    # Celery beat signs every 2 s in production; where Celery is eager (the demo) nobody runs beat, so the
    # entry is integrated and signed right after its commit, and its receipt's proof is there at once.
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(checkpoint_sign)


def log_append_many(items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[int]:
    """Append a batch in one statement (one durable commit for thousands of entries)."""
    now = timezone.now()
    rows = [LogEntry(kind=kind, leaf=entry_bytes(kind, data, now), at=now) for kind, data in items]
    indexes = [row.pk - 1 for row in LogEntry.objects.bulk_create(rows, batch_size=5000)]
    _checkpoint_on_commit()
    return indexes


def _key(level: int, index: int) -> int:
    return (level << KEY_SHIFT) + index


def _leaf_hash(text: str) -> bytes:
    return merkle.leaf_hash(text.encode())


# ---- reading the tree -------------------------------------------------------------------------------------


class _Store:
    """Subtree hashes for ``core.merkle`` from the stored nodes and leaves, fetched in two queries."""

    def __init__(self) -> None:
        self.hashes: dict[tuple[int, int], bytes] = {}  # (level, index there) -> hash

    @staticmethod
    def _parts(start: int, size: int) -> tuple[int, int, int]:
        """(stored level, first index there, count) the subtree is made from."""
        k = size.bit_length() - 1
        level = k - k % STRIDE
        return level, start >> level, 1 << (k - level)

    def need(self, subtrees: Iterable[tuple[int, int]]) -> None:
        wanted = set()
        for start, size in subtrees:
            level, first, count = self._parts(start, size)
            wanted.update((level, i) for i in range(first, first + count))
        self.hashes.update(_stored_hashes(wanted - self.hashes.keys()))

    def subtree(self, start: int, size: int) -> bytes:
        level, first, count = self._parts(start, size)
        try:
            parts = [self.hashes[level, i] for i in range(first, first + count)]
        except KeyError:
            raise LogError(f"the log is missing data for leaves {start}..{start + size - 1}") from None
        return merkle.root_from_leaves(parts)


def _with_store(compute: Any) -> Any:
    """Run ``compute(subtree)`` twice: once to learn which subtrees it needs, once on fetched data."""
    wanted: list[tuple[int, int]] = []

    def record(start: int, size: int) -> bytes:
        wanted.append((start, size))
        return b"\0" * 32

    compute(record)
    store = _Store()
    store.need(wanted)
    return compute(store.subtree)


def tree_size() -> int:
    # Read before every proof: one plain statement (the ORM's compilation cost a fifth of a proof).
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT size FROM {statements.table(LogState)} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else 0


def tree_root(size: int) -> bytes:
    if size > tree_size():
        raise LogError("tree size beyond the integrated log")
    return _with_store(lambda subtree: merkle.root(size, subtree))


def inclusion(index: int, size: int) -> list[bytes]:
    if not 0 <= index < size <= tree_size():
        raise LogError("leaf index or tree size outside the integrated log")
    return _with_store(lambda subtree: merkle.inclusion_proof(index, size, subtree))


def consistency(old_size: int, new_size: int) -> list[bytes]:
    if not 0 < old_size <= new_size <= tree_size():
        raise LogError("tree sizes outside the integrated log")
    return _with_store(lambda subtree: merkle.consistency_proof(old_size, new_size, subtree))


# ---- integration and checkpoints --------------------------------------------------------------------------


def _fill_gaps(start: int) -> bool:
    """Fill holes left by rolled-back appends once they are old enough; True if any was filled."""
    ids = list(
        LogEntry.objects.filter(pk__gt=start, at__lt=timezone.now() - dt.timedelta(seconds=GAP_SECONDS))
        .order_by("pk")
        .values_list("pk", flat=True)[:INTEGRATE_BATCH]
    )
    if not ids:
        return False
    present = set(ids)
    missing = [pk for pk in range(start + 1, ids[-1]) if pk not in present]
    if not missing:
        return False
    now = timezone.now()
    LogEntry.objects.bulk_create(
        [
            LogEntry(id=pk, kind="gap", leaf=entry_bytes("gap", {"index": pk - 1}, now), at=now)
            for pk in missing
        ],
        ignore_conflicts=True,  # an append that committed meanwhile keeps its place
    )
    return True


def log_integrate() -> int:
    """Extend the tree over newly committed entries; returns the new tree size."""
    while True:
        with transaction.atomic(durable=True):
            state, _ = LogState.objects.select_for_update().get_or_create(pk=1)
            start = state.size
            rows = list(
                LogEntry.objects.filter(pk__gt=start)
                .order_by("pk")
                .values_list("pk", "leaf")[:INTEGRATE_BATCH]
            )
            count = 0
            for pk, _text in rows:
                if pk != start + count + 1:
                    break
                count += 1
            progressed = count > 0
            if count:
                _extend(start, [_leaf_hash(text) for _pk, text in rows[:count]])
                state.size = start + count
                state.updated_at = timezone.now()
                state.save(update_fields=["size", "updated_at"])
            elif rows:
                progressed = _fill_gaps(start)
        if not progressed or (count == len(rows) < INTEGRATE_BATCH):
            return state.size


def _extend(start: int, new: list[bytes]) -> None:
    """Store every complete subtree node the leaves [start, start + len(new)) complete."""
    block = 1 << STRIDE
    level, below = 0, dict(enumerate(new, start))  # hashes one stored level down, by index there
    old_count, count = start, start + len(new)  # complete items one level down, before and after
    while True:
        lo, hi = old_count // block, count // block  # parents [lo, hi) are newly complete
        if lo >= hi:
            return
        missing = [(level, i) for i in range(lo * block, old_count) if i not in below]
        if missing:  # the start of a block that was completed by this batch: stored already
            below.update((i, h) for (_level, i), h in _stored_hashes(missing).items())
        level += STRIDE
        parents = {
            p: merkle.root_from_leaves([below[i] for i in range(p * block, (p + 1) * block)])
            for p in range(lo, hi)
        }
        LogNode.objects.bulk_create(
            [LogNode(key=_key(level, p), hash=h) for p, h in parents.items()], batch_size=5000
        )
        below, old_count, count = parents, lo, hi


def _stored_hashes(wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Hashes of leaves (level 0, from their text) and stored nodes, by (level, index): one statement, one
    round trip (a proof needs up to 15 leaves and a few dozen nodes)."""
    leaves = [i + 1 for level, i in wanted if level == 0]
    nodes = [_key(level, i) for level, i in wanted if level]
    parts, params = [], []
    if leaves:
        parts.append(
            f"SELECT 0, id, leaf, NULL FROM {statements.table(LogEntry)} "  # noqa: S608
            f"WHERE id IN ({statements.placeholders(leaves)})"
        )
        params += leaves
    if nodes:
        parts.append(
            f"SELECT 1, key, NULL, hash FROM {statements.table(LogNode)} "  # noqa: S608
            f"WHERE key IN ({statements.placeholders(nodes)})"
        )
        params += nodes
    found: dict[tuple[int, int], bytes] = {}
    if not parts:
        return found
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for is_node, key, text, value in cursor.fetchall():
            if is_node:
                found[key >> KEY_SHIFT, key & ((1 << KEY_SHIFT) - 1)] = bytes(value)
            else:
                found[0, key - 1] = _leaf_hash(text)
    return found


def origin() -> str:
    return settings.TONGBAN_AUDIT_ORIGIN


def checkpoint_note(size: int, root_hash: bytes, signed_at: dt.datetime) -> str:
    """The signed text, after the C2SP tlog-checkpoint layout: origin, size, root, then the time."""
    return f"{origin()}\n{size}\n{_b64(root_hash)}\n{signed_at.isoformat()}\n"


def _operator_key() -> Any:
    from tongban.identity.models import Department
    from tongban.licences.services import _signing_key

    department = Department.objects.filter(code=settings.TONGBAN_EXCHANGE_OPERATOR).first()
    if department is None:
        raise LogError(f"no department {settings.TONGBAN_EXCHANGE_OPERATOR!r} to sign checkpoints")
    return _signing_key(department)


def checkpoint_sign() -> Checkpoint | None:
    """Integrate, then sign a checkpoint if the tree grew since the last one; returns the newest."""
    from tongban.licences.keystore import key_store

    size = log_integrate()
    latest = latest_checkpoint()
    if size == 0 or (latest is not None and latest.tree_size >= size):
        return latest
    root_hash = tree_root(size)
    with transaction.atomic(durable=True):
        key = _operator_key()  # made on first use: sign after it exists
        now = timezone.now()
        note = checkpoint_note(size, root_hash, now)
        signature = key_store().sign(key.algorithm, bytes(key.private_key), note.encode())
        checkpoint, _ = Checkpoint.objects.get_or_create(
            tree_size=size,
            defaults={
                "root_hash": root_hash,
                "signed_at": now,
                "note": note,
                "key_id": key.key_id,
                "algorithm": key.algorithm,
                "signature": _b64(signature),
            },
        )
    return checkpoint


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "origin": origin(),
        "tree_size": checkpoint.tree_size,
        "root_hash": _b64(bytes(checkpoint.root_hash)),
        "signed_at": checkpoint.signed_at.isoformat(),
        "note": checkpoint.note,
        "key_id": checkpoint.key_id,
        "algorithm": checkpoint.algorithm,
        "signature": checkpoint.signature,
    }


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.first()


def receipt_path(index: int) -> str:
    """Where the entry's receipt bundle (its inclusion proof) is served once a checkpoint covers it."""
    return f"/api/exchange/audit/receipts/{index}"


def receipt_bundle(index: int, checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """Everything an offline verifier needs to show that entry ``index`` is in a signed checkpoint: the
    entry, its leaf hash, the inclusion proof and the checkpoint."""
    checkpoint = checkpoint or latest_checkpoint()
    if checkpoint is None or index >= checkpoint.tree_size:
        raise LogError("the entry is not in a signed checkpoint yet; try again in a few seconds")
    entry = LogEntry.objects.filter(pk=index + 1).values_list("leaf", flat=True).first()
    if entry is None:
        raise LogError("no such entry")
    return {
        "format": RECEIPT_FORMAT,
        "index": index,
        "entry": entry,
        "leaf_hash": _b64(_leaf_hash(entry)),
        "proof": [_b64(h) for h in inclusion(index, checkpoint.tree_size)],
        "checkpoint": checkpoint_json(checkpoint),
    }


def receipt_for(index: int, client_id: str, checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """The receipt as a system client may fetch it: the whole entry for its own calls, for any other entry
    only the leaf hash and the proof (enough to verify that the leaf is in the log; the entry would tell
    another department who read what, and when)."""
    bundle = receipt_bundle(index, checkpoint)
    try:
        own = json.loads(bundle["entry"]).get("client") == client_id
    except (ValueError, AttributeError):
        own = False
    if not own:
        del bundle["entry"]
    return bundle


def consistency_bundle(old_size: int, new_size: int) -> dict[str, Any]:
    first = Checkpoint.objects.filter(tree_size=old_size).first()
    second = Checkpoint.objects.filter(tree_size=new_size).first()
    if first is None or second is None:
        raise LogError("both tree sizes must be signed checkpoints")
    return {
        "format": CONSISTENCY_FORMAT,
        "first": checkpoint_json(first),
        "second": checkpoint_json(second),
        "proof": [_b64(h) for h in consistency(old_size, new_size)],
    }


# ---- checking the stored log against itself ---------------------------------------------------------------


@dataclass
class CheckResult:
    ok: bool
    checked: int
    problems: list[str]


def log_check(*, chunk: int = 100_000) -> CheckResult:
    """Recompute every leaf hash, every stored node and every checkpoint's root and signature from the
    rows: a deleted, altered or inserted row, or a rewritten checkpoint, is reported. Leaves are hashed a
    chunk at a time and only their 16-leaf parents kept (and the leaves of the blocks a checkpoint ends
    in), so memory is a sixteenth of the leaf hashes, not all of them."""
    from tongban.licences.services import key_directory

    problems: list[str] = []
    size = tree_size()
    block = 1 << STRIDE
    chunk = max(block, chunk - chunk % block)
    checkpoints = list(Checkpoint.objects.order_by("tree_size"))
    tail_blocks = {c.tree_size // block for c in checkpoints if c.tree_size % block}
    tails: dict[int, list[bytes]] = {}  # block index -> its leaf hashes, for the blocks checkpoints end in
    nodes: dict[int, bytes] = dict(LogNode.objects.values_list("key", "hash"))
    first_level: list[bytes] = []  # hashes of complete 16-leaf blocks
    pending: list[bytes] = []  # leaf hashes of the block being filled
    expected, mismatch = 1, False
    for offset in range(0, size, chunk):
        rows = (
            LogEntry.objects.filter(pk__gt=offset, pk__lte=min(offset + chunk, size))
            .order_by("pk")
            .values_list("pk", "leaf")
        )
        for pk, text in rows.iterator(chunk_size=10_000):
            if pk != expected:
                problems.append(f"entries {expected - 1}..{pk - 2} are missing")
                expected = pk
            pending.append(_leaf_hash(text))
            expected += 1
            if len(pending) == block:
                number = len(first_level)
                if number in tail_blocks:
                    tails[number] = pending
                value = merkle.root_from_leaves(pending)
                stored = nodes.get(_key(STRIDE, number))
                if not mismatch and (stored is None or bytes(stored) != value):
                    problems.append(f"stored node level {STRIDE} index {number} does not match the leaves")
                    mismatch = True
                first_level.append(value)
                pending = []
    if expected - 1 < size:
        problems.append(f"entries {expected - 1}..{size - 1} are missing")
    complete = expected - 1 == size and not any("missing" in p for p in problems)
    if pending:
        tails[len(first_level)] = pending
    levels = {STRIDE: first_level}
    if complete:
        # Every stored node above the first level must equal the hash recomputed from the leaves.
        level, current = STRIDE, first_level
        while len(current) >= block:
            parents = [
                merkle.root_from_leaves(current[i : i + block])
                for i in range(0, len(current) - block + 1, block)
            ]
            level += STRIDE
            for p, value in enumerate(parents):
                stored = nodes.get(_key(level, p))
                if stored is None or bytes(stored) != value:
                    problems.append(f"stored node level {level} index {p} does not match the leaves")
                    break
            current = levels[level] = parents
    subtree = _levels_subtree(levels, tails) if complete else None
    directory = key_directory()
    for checkpoint in checkpoints:
        verdict = check_checkpoint(checkpoint_json(checkpoint), directory)
        if verdict:
            problems.append(f"checkpoint {checkpoint.tree_size}: {verdict}")
        elif checkpoint.tree_size > size:
            problems.append(f"checkpoint {checkpoint.tree_size} is beyond the tree ({size})")
        elif subtree and merkle.root(checkpoint.tree_size, subtree) != bytes(checkpoint.root_hash):
            problems.append(f"checkpoint {checkpoint.tree_size}: the entries no longer give its root hash")
    return CheckResult(ok=not problems, checked=size, problems=problems)


def _levels_subtree(levels: dict[int, list[bytes]], tails: dict[int, list[bytes]]) -> merkle.Subtree:
    block = 1 << STRIDE

    def subtree(start: int, size: int) -> bytes:
        level, first, count = _Store._parts(start, size)
        if level == 0:  # fewer than 16 leaves: aligned, so inside one block a checkpoint ends in
            leaves = tails[first // block]
            return merkle.root_from_leaves(leaves[first % block : first % block + count])
        return merkle.root_from_leaves(levels[level][first : first + count])

    return subtree


def new_salt() -> str:
    """A fresh salt for the request and response digests of one call (hex, 128 bits)."""
    return secrets.token_hex(16)


def digest(value: Any, salt: str | None = None) -> str:
    """The request and response hashes of receipts: HMAC-SHA256 keyed by the call's ``salt`` of the value's
    RFC 8785 JSON. The salt goes to the caller only (in its receipt), so the caller can recompute its
    hashes, and nobody else can test a guessed answer against a log entry. Without a salt: SHA-256, as
    entries written before issue 15 #6 hold."""
    return digest_bytes(canonical_json(value), salt)


def digest_bytes(data: bytes, salt: str | None) -> str:
    if salt is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(bytes.fromhex(salt), data, hashlib.sha256).hexdigest()
