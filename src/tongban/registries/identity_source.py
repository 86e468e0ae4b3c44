"""The registries' answer to identity's checks (``identity.sources``): whether the population registry
knows a resident under a name and phone, and whom the legal-entity registry names as an entity's legal
representative. Registered in ``RegistriesConfig.ready``."""

from __future__ import annotations

from tongban.identity.sources import RegisteredEntity, RegisteredPerson

from .models import LegalEntityRecord, PersonRecord


class RegistriesSource:
    def person(self, id_number: str) -> RegisteredPerson | None:
        record = (
            PersonRecord.objects.filter(id_number=id_number)
            .only("id_number", "name", "phone", "status")
            .first()
        )
        if record is None:
            return None
        return RegisteredPerson(
            id_number=record.id_number,
            name=record.name.strip(),
            phone=record.phone.strip(),
            living=record.status == PersonRecord.LIVING,
        )

    def legal_entity(self, uscc: str) -> RegisteredEntity | None:
        record = LegalEntityRecord.objects.filter(uscc=uscc).first()
        if record is None:
            return None
        return RegisteredEntity(
            uscc=record.uscc,
            name=record.name.strip(),
            legal_rep_id_number=record.legal_rep_id_number.strip().upper(),
            active=record.status == LegalEntityRecord.ACTIVE,
            status_label=str(record.get_status_display()),
            address=record.address,
            area_code=record.area_code,
            established_on=record.established_on,
        )
