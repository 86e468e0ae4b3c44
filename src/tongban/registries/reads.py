"""The record of a read of registry records, whoever read them (another department's system through the
Digital Registries API, or staff on the record page): one ``RegistryRead`` per record for the person's data
tracker, with the grants it was read under (for the hold-back of covert reads), and one entry in the
Merkle audit log, in one transaction. The gateway keeps its own (``exchange.gateway._record``: one
statement on its hot path); this is the one for the registries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from tongban.identity.models import Department, SystemClient

from . import access
from .models import Registry, RegistryRead


def log_reads(
    *,
    kind: str,
    registry: Registry,
    records: Sequence[Any],
    operation: str,
    fields: list[str],
    view: access.View | None,
    department: Department | None,
    client: SystemClient | None = None,
    mediator: str = "",
    entry: Mapping[str, Any] | None = None,
) -> int:
    """Record the read of ``records`` (``view``: the reader's, None for the owner) and return the log
    entry's index. The entry holds who, the operation, the count and the fields, and the record keys only
    as an HMAC under the platform's pseudonym key (``keys_mac``; no personal data in the log, and nobody
    without the key can test a guessed ID number against it; entries before issue 15 #6 hold a SHA-256); ``entry`` adds to it (request and response hashes …)."""
    from tongban.exchange import auditlog, pseudonyms

    data = [access.as_dict(registry, r, full=True) for r in records]
    keys = [str(d[registry.key_field]) for d in data]
    with transaction.atomic():
        reads = RegistryRead.objects.bulk_create(
            [
                RegistryRead(
                    registry=registry,
                    record_key=key,
                    subject=access.subject_of(registry, r),
                    client=client,
                    reader_department=department,
                    mediator=mediator[:300],
                    operation=operation,
                    fields=fields,
                )
                for key, r in zip(keys, records, strict=True)
            ]
        )
        if view is not None:
            through = RegistryRead.grants.through
            through.objects.bulk_create(
                [
                    through(registryread_id=read.pk, grant_id=grant)
                    for read, values in zip(reads, data, strict=True)
                    for grant in view.grants_for(values)
                ]
            )
        return auditlog.log_append(
            kind,
            {
                "registry": registry.code,
                "operation": operation,
                "client": client.application.client_id if client is not None else None,
                "consumer": department.code if department is not None else None,
                "mediator": mediator[:300],
                "records": len(keys),
                "keys_mac": pseudonyms.audit_hash("\n".join(keys)),
                "fields": fields,
                **(entry or {}),
            },
        )
