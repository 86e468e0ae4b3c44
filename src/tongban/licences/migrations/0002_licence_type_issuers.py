"""Each licence type names the departments that may issue it. Filled so that nothing in use breaks: the
type's default issuer, every department that has already issued a licence of the type, and the department
of every published service item whose result is a licence of the type. Operators should review the list
afterwards (`tongban licence issuers`): a licence issued by a department without the authority, before this
check existed, made that department an issuer here."""

from django.db import migrations, models


def fill_issuers(apps, schema_editor):
    LicenceType = apps.get_model("licences", "LicenceType")
    Licence = apps.get_model("licences", "Licence")
    ServiceItemVersion = apps.get_model("catalog", "ServiceItemVersion")
    Through = LicenceType.issuers.through
    pairs = set(LicenceType.objects.filter(issuer__isnull=False).values_list("pk", "issuer_id"))
    pairs |= set(Licence.objects.values_list("licence_type_id", "issuer_id").distinct())
    types = dict(LicenceType.objects.values_list("code", "pk"))
    for code, department_id in (
        ServiceItemVersion.objects.filter(status="published")
        .exclude(result_licence_type="")
        .values_list("result_licence_type", "item__department_id")
        .distinct()
    ):
        if code in types:
            pairs.add((types[code], department_id))
    Through.objects.bulk_create(
        [Through(licencetype_id=t, department_id=d) for t, d in sorted(pairs)], ignore_conflicts=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_decision_rules"),
        ("identity", "0002_system_client"),
        ("licences", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="licencetype",
            name="issuers",
            field=models.ManyToManyField(
                blank=True,
                related_name="issuable_licence_types",
                to="identity.department",
                verbose_name="有权颁发的机构",
            ),
        ),
        migrations.RunPython(fill_issuers, migrations.RunPython.noop, elidable=True),
    ]
