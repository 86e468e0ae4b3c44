"""Load the demo city into an empty database (idempotent: does nothing when it is already there)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from tongban.cases.demo import build_demo_cases
from tongban.catalog.demo import catalogue as demo_catalogue
from tongban.catalog.transfer import import_catalogue
from tongban.core.services import calendar_seed_official, calendar_year_provisional
from tongban.exchange.demo import build_demo_exchange
from tongban.identity.demo import DEMO_PASSWORD, DemoLogins, build_demo_city
from tongban.identity.models import Department
from tongban.licences.demo import build_demo_licences
from tongban.registries.demo import build_demo_registries


class Command(BaseCommand):
    help = "Build the demo city 临江市 (deterministic) and print the demo logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seed", type=int, default=20261121)

    def handle(self, *args: Any, **options: Any) -> None:
        if Department.objects.filter(code="ljs-gaj").exists():
            self.stdout.write("演示数据已存在，跳过加载。 (demo data already loaded)")
            logins = None
        else:
            with transaction.atomic():
                logins = build_demo_city(seed=options["seed"])
            years = calendar_seed_official()
            # 2027's schedule is not in the shipped data: opened as provisional, and shown as such.
            calendar_year_provisional(acting_user=None, year=max(years) + 1)
            report = import_catalogue(demo_catalogue())
            self.stdout.write(f"事项目录：{report.created} 个事项，{report.life_events} 个一件事。")
            licences = build_demo_licences()
            self.stdout.write(f"电子证照：{len(licences)} 份，各部门已生成 SM2 电子印章。")
            population, _entities = build_demo_registries()
            self.stdout.write(
                f"基础库：人口库 {population.runs.first().records} 条，质量得分 {population.runs.first().score}。"
            )
            client_id, secret = build_demo_exchange()
            self.stdout.write(
                f"数据共享：4 项资源、3 件共享申请；卫健委接入系统 client_id={client_id} client_secret={secret}"
                "（scope exchange.read）。"
            )
            cases = build_demo_cases()
            self.stdout.write(f"演示办件：{len(cases)} 件，覆盖各种状态。")
            self.stdout.write(self.style.SUCCESS("演示数据已加载。 (demo data loaded)"))
        self.print_logins(logins)

    def print_logins(self, logins: DemoLogins | None) -> None:
        from tongban.identity.models import User

        if logins is None:
            logins = DemoLogins()
            for label, username in [("市民", 0), ("企业法定代表人", 1), ("企业经办人", 2)]:
                user = User.objects.filter(account_type="public").order_by("pk")[username]
                logins.citizens.append(
                    (f"{label} {user.display_name}", user.username, f"或手机号 {user.phone}")
                )
            for username in [
                "gongan.shouli",
                "gongan.shencha",
                "gongan.jueding",
                "gongan.admin",
                "shichang.shouli",
                "weijian.shouli",
                "shuju.data",
                "platform.admin",
                "gongan.xinren",
            ]:
                logins.staff.append((User.objects.get(username=username).display_name, username, ""))
        w = self.stdout.write
        w("")
        w("== 演示账号 / demo logins ==  密码 / password: " + DEMO_PASSWORD)
        w("个人与法人 (http://127.0.0.1:8000/login/):")
        for label, login, note in logins.citizens:
            w(f"  {login}  {label}  {note}")
        # The demo sends no SMS: registration codes are written to DATA_DIR/outbox/sms.jsonl.
        w(
            "注册新账号 / register (http://127.0.0.1:8000/register/), 短信验证码 / SMS code: .venv/bin/tongban demo_sms <手机号>"
        )
        w(
            "工作人员 (http://127.0.0.1:8000/staff/login/), 动态口令 / TOTP: .venv/bin/tongban demo_totp <登录名>"
        )
        for label, login, note in logins.staff:
            w(f"  {login:<22} {label}  {note}")
        w("")
