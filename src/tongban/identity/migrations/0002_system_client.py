import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    # Separate from 0001: the OAuth application model itself depends on our user model.
    dependencies = [
        ("identity", "0001_initial"),
        migrations.swappable_dependency(settings.OAUTH2_PROVIDER_APPLICATION_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SystemClient",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "allowed_scopes",
                    models.CharField(help_text="以空格分隔", max_length=500, verbose_name="允许的权限范围"),
                ),
                ("description", models.TextField(blank=True, verbose_name="用途说明")),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="创建时间"),
                ),
                (
                    "application",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="system_client",
                        to=settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
                        verbose_name="OAuth 应用",
                    ),
                ),
                (
                    "department",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="system_clients",
                        to="identity.department",
                        verbose_name="所属部门",
                    ),
                ),
            ],
            options={
                "verbose_name": "系统接入客户端",
                "verbose_name_plural": "系统接入客户端",
            },
        ),
    ]
