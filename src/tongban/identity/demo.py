"""The demo city 临江市 (fictional, in 浙江省): areas, departments, people, enterprises and staff.

Deterministic: the same seed builds the same city, so demo logins and screenshots stay valid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.core import codes

from .constants import (
    AccountType,
    AreaLevel,
    OrganisationType,
    OrganisationVerification,
    RealNameLevel,
    StaffRoleName,
)
from .models import Area, Department, Organisation, OrganisationAgent, Person, StaffRole, User

DEMO_PASSWORD = "Tongban#2026"
CITY_CODE = "339900"
# Birth and founding dates count back from a fixed day, so the same seed gives the same ID numbers forever.
REFERENCE_DATE = dt.date(2026, 1, 1)

AREAS = [
    ("330000", "浙江省", None),
    (CITY_CODE, "临江市", "330000"),
    ("339902", "江城区", CITY_CODE),
    ("339903", "东湖区", CITY_CODE),
    ("339904", "新港区", CITY_CODE),
    ("339921", "青山县", CITY_CODE),
    ("339902001", "江城街道", "339902"),
    ("339902002", "滨江街道", "339902"),
    ("339902003", "望江街道", "339902"),
    ("339903001", "东湖街道", "339903"),
    ("339903101", "梅林镇", "339903"),
    ("339904001", "港湾街道", "339904"),
    ("339904102", "海塘镇", "339904"),
    ("339921100", "青山镇", "339921"),
    ("339921201", "石门乡", "339921"),
]
DISTRICTS = ["339902", "339903", "339904", "339921"]

# (code suffix, name, short name, sector, staff login prefix or None)
CITY_DEPARTMENTS = [
    ("gaj", "临江市公安局", "市公安局", "公安", "gongan"),
    ("mzj", "临江市民政局", "市民政局", "民政", "minzheng"),
    ("wjw", "临江市卫生健康委员会", "市卫健委", "卫健", "weijian"),
    ("rsj", "临江市人力资源和社会保障局", "市人社局", "人社", "renshe"),
    ("ybj", "临江市医疗保障局", "市医保局", "医保", "yibao"),
    ("scjgj", "临江市市场监督管理局", "市市场监管局", "市场监管", "shichang"),
    ("swj", "国家税务总局临江市税务局", "市税务局", "税务", "shuiwu"),
    ("zjj", "临江市住房和城乡建设局", "市住建局", "住建", None),
    ("jyj", "临江市教育局", "市教育局", "教育", None),
    ("jtysj", "临江市交通运输局", "市交通运输局", "交通运输", None),
    ("zrzyj", "临江市自然资源和规划局", "市自然资源局", "自然资源", None),
    ("sjj", "临江市数据局", "市数据局", "数据", "shuju"),
    ("zwfwb", "临江市政务服务管理办公室", "市政务办", "政务服务", "zhengwu"),
    ("xfzd", "临江市消防救援支队", "市消防支队", "消防", "xiaofang"),
    ("sfj", "临江市司法局", "市司法局", "司法", None),
    ("sthjj", "临江市生态环境局", "市生态环境局", "生态环境", None),
]
# District branches: (city suffix, name pattern, short pattern)
DISTRICT_BRANCHES = [
    ("gaj", "{d}公安分局", "{d}公安分局"),
    ("scjgj", "{d}市场监督管理局", "{d}市场监管局"),
    ("mzj", "{d}民政局", "{d}民政局"),
    ("rsj", "{d}人力资源和社会保障局", "{d}人社局"),
    ("wjw", "{d}卫生健康局", "{d}卫健局"),
]
DISTRICT_SLUGS = {"339902": "jc", "339903": "dh", "339904": "xg", "339921": "qs"}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN_M = [
    "伟",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "杰",
    "涛",
    "明",
    "超",
    "斌",
    "鹏",
    "辉",
    "刚",
    "健",
    "俊",
    "峰",
    "建华",
    "志强",
    "国庆",
    "文博",
    "子轩",
    "浩然",
    "宇航",
    "建国",
    "海涛",
    "嘉豪",
    "晨阳",
    "思远",
]
GIVEN_F = [
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "艳",
    "娟",
    "霞",
    "秀英",
    "桂英",
    "婷",
    "雪",
    "琳",
    "欣怡",
    "雨涵",
    "梓萱",
    "诗琪",
    "佳怡",
    "晓燕",
    "春梅",
    "玉兰",
    "丹",
    "倩",
    "颖",
    "慧敏",
    "美玲",
    "海燕",
    "可馨",
    "一诺",
    "若曦",
]
NAME_WORDS = [
    "江南",
    "临江",
    "东湖",
    "青山",
    "海塘",
    "梅林",
    "望江",
    "滨江",
    "港湾",
    "石门",
    "新港",
    "远航",
    "瑞丰",
    "恒信",
    "鑫源",
    "华泰",
    "金桥",
    "绿洲",
    "天成",
    "汇通",
    "和顺",
    "百味",
    "聚福",
    "宏达",
    "启明",
    "星火",
    "长风",
    "蓝海",
    "云帆",
    "锦程",
]
INDUSTRIES = [
    ("餐饮管理有限公司", OrganisationType.ENTERPRISE),
    ("科技有限公司", OrganisationType.ENTERPRISE),
    ("建筑工程有限公司", OrganisationType.ENTERPRISE),
    ("商贸有限公司", OrganisationType.ENTERPRISE),
    ("物流有限公司", OrganisationType.ENTERPRISE),
    ("食品有限公司", OrganisationType.ENTERPRISE),
    ("文化传媒有限公司", OrganisationType.ENTERPRISE),
    ("医药连锁有限公司", OrganisationType.ENTERPRISE),
    ("小吃店", OrganisationType.INDIVIDUAL_BUSINESS),
    ("便利店", OrganisationType.INDIVIDUAL_BUSINESS),
    ("茶叶专业合作社", OrganisationType.COOPERATIVE),
]
STAFF_ROLES = [
    ("shouli", StaffRoleName.INTAKE_CLERK, "受理"),
    ("shencha", StaffRoleName.REVIEWER, "审查"),
    ("jueding", StaffRoleName.APPROVER, "决定"),
    ("admin", StaffRoleName.DEPARTMENT_ADMIN, "管理员"),
]


@dataclass
class DemoLogins:
    citizens: list[tuple[str, str, str]] = field(default_factory=list)  # (label, login, note)
    staff: list[tuple[str, str, str]] = field(default_factory=list)


def demo_totp_key(username: str) -> str:
    """A fixed per-user TOTP key so the demo's second factor can be computed by `tongban demo_totp`."""
    return hashlib.sha256(f"tongban-demo-totp:{username}".encode()).hexdigest()[:40]


class _CityBuilder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (demo data must be reproducible, not secret)
        self.password_hash = make_password(DEMO_PASSWORD)
        self.used_phones: set[str] = set()
        self.used_ids: set[str] = set()
        self.logins = DemoLogins()

    def phone(self) -> str:
        while True:
            value = (
                self.rng.choice(["138", "139", "150", "158", "177", "186", "189"])
                + f"{self.rng.randrange(10**8):08d}"
            )
            if value not in self.used_phones:
                self.used_phones.add(value)
                return value

    def id_number(self, area_code: str, birth: dt.date, male: bool) -> str:
        while True:
            seq = self.rng.randrange(1, 500) * 2 - (1 if male else 0)
            number = codes.make_resident_id(area_code, birth, seq)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def org_body(self, first: str = "") -> str:
        return first + "".join(self.rng.choice(codes.USCC_ALPHABET) for _ in range(8 - len(first)))

    def name(self, male: bool) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN_M if male else GIVEN_F)

    # ------------------------------------------------------------------------------------------

    def areas(self) -> dict[str, Area]:
        by_code: dict[str, Area] = {}
        for code, name, parent in AREAS:
            level = codes.parse_area_code(code, allow_township=True).level
            by_code[code] = Area.objects.create(code=code, name=name, level=level, parent=by_code.get(parent))
        return by_code

    def departments(self, areas: dict[str, Area]) -> dict[str, Department]:
        result: dict[str, Department] = {}
        for suffix, name, short, sector, _prefix in CITY_DEPARTMENTS:
            result[suffix] = Department.objects.create(
                code=f"ljs-{suffix}",
                name=name,
                short_name=short,
                sector=sector,
                uscc=codes.make_uscc("1", "1", CITY_CODE, self.org_body("0")),
                area=areas[CITY_CODE],
                level=AreaLevel.CITY,
            )
        for district_code in DISTRICTS:
            district = areas[district_code]
            for suffix, pattern, short in DISTRICT_BRANCHES:
                parent = result[suffix]
                slug = f"{DISTRICT_SLUGS[district_code]}-{suffix}"
                result[slug] = Department.objects.create(
                    code=slug,
                    name=pattern.format(d=district.name),
                    short_name=short.format(d=district.name),
                    sector=parent.sector,
                    uscc=codes.make_uscc("1", "1", district_code, self.org_body("0")),
                    area=district,
                    level=AreaLevel.COUNTY,
                    parent=parent,
                )
        return result

    def people(self, count: int) -> list[Person]:
        people = []
        for _ in range(count):
            male = self.rng.random() < 0.5
            age_days = self.rng.randrange(365 * 1, 365 * 85)
            birth = REFERENCE_DATE - dt.timedelta(days=age_days)
            area = self.rng.choice(DISTRICTS)
            level = self.rng.choices(list(RealNameLevel), weights=[2, 6, 2])[0]
            people.append(
                Person(
                    name=self.name(male),
                    id_number=self.id_number(area, birth, male),
                    phone=self.phone(),
                    real_name_level=level,
                    verified_at=timezone.now() if level > RealNameLevel.SELF_DECLARED else None,
                )
            )
        return Person.objects.bulk_create(people)

    def public_accounts(self, people: list[Person]) -> list[User]:
        users = [
            User(
                username=p.id_number,
                account_type=AccountType.PUBLIC,
                display_name=p.name,
                person=p,
                phone=p.phone,
                password=self.password_hash,
            )
            for p in people
            if (REFERENCE_DATE - p.birth_date).days >= 16 * 365
        ]
        return User.objects.bulk_create(users)

    def enterprises(self, count: int, adults: list[Person], areas: dict[str, Area]) -> list[Organisation]:
        orgs = []
        names: set[str] = set()
        for _ in range(count):
            suffix, org_type = self.rng.choice(INDUSTRIES)
            while True:
                name = "临江市" + self.rng.choice(NAME_WORDS) + self.rng.choice(NAME_WORDS) + suffix
                if name not in names:
                    names.add(name)
                    break
            category = {
                OrganisationType.ENTERPRISE: "1",
                OrganisationType.INDIVIDUAL_BUSINESS: "2",
                OrganisationType.COOPERATIVE: "3",
            }[org_type]
            district = self.rng.choice(DISTRICTS)
            orgs.append(
                Organisation(
                    uscc=codes.make_uscc("9", category, district, self.org_body()),
                    name=name,
                    org_type=org_type,
                    legal_representative=self.rng.choice(adults),
                    area=areas[district],
                    address=f"{areas[district].name}{self.rng.choice(NAME_WORDS)}路{self.rng.randrange(1, 300)}号",
                    established_on=REFERENCE_DATE - dt.timedelta(days=self.rng.randrange(30, 365 * 20)),
                    verification=OrganisationVerification.REGISTRY_VERIFIED,
                )
            )
        return Organisation.objects.bulk_create(orgs)

    def staff_user(self, username: str, display_name: str, *, enrol: bool = True) -> User:
        user = User.objects.create(
            username=username,
            account_type=AccountType.STAFF,
            display_name=display_name,
            password=self.password_hash,
        )
        if enrol:
            TOTPDevice.objects.create(user=user, name="demo", key=demo_totp_key(username), confirmed=True)
        return user


def build_demo_city(*, seed: int = 20261121, people: int = 240, enterprises: int = 55) -> DemoLogins:
    """Create the demo city's identity data. The caller wraps it in a transaction."""
    b = _CityBuilder(seed)
    areas = b.areas()
    departments = b.departments(areas)
    persons = b.people(people)
    accounts = b.public_accounts(persons)
    adults = [u.person for u in accounts]
    orgs = b.enterprises(enterprises, adults, areas)

    # Personas with fixed roles in the story: a citizen, a restaurant owner and her agent.
    citizen = accounts[0]
    owner = accounts[1]
    agent = accounts[2]
    restaurant = orgs[0]
    restaurant.name = "临江味道餐饮管理有限公司"
    restaurant.org_type = OrganisationType.ENTERPRISE
    restaurant.legal_representative = owner.person
    restaurant.save(update_fields=["name", "org_type", "legal_representative"])
    OrganisationAgent.objects.create(organisation=restaurant, person=agent.person, granted_by=owner)
    b.logins.citizens += [
        (f"市民 {citizen.display_name}", citizen.username, f"或手机号 {citizen.phone}"),
        (f"企业法定代表人 {owner.display_name}", owner.username, f"代表“{restaurant.name}”"),
        (f"企业经办人 {agent.display_name}", agent.username, f"经办“{restaurant.name}”"),
    ]

    for suffix, _name, short, _sector, prefix in CITY_DEPARTMENTS:
        if prefix is None:
            continue
        dept = departments[suffix]
        roles = [("data", StaffRoleName.DATA_OFFICER, "数据专员")] if suffix == "sjj" else STAFF_ROLES
        for role_slug, role, label in roles:
            username = f"{prefix}.{role_slug}"
            user = b.staff_user(
                username, f"{short}{label}{b.rng.choice(SURNAMES)}{b.rng.choice(GIVEN_F + GIVEN_M)}"
            )
            StaffRole.objects.create(user=user, department=dept, role=role)
            b.logins.staff.append((f"{short} {label}", username, ""))
        if suffix in {"scjgj", "wjw", "rsj"}:
            data_user = b.staff_user(f"{prefix}.data", f"{short}数据专员")
            StaffRole.objects.create(user=data_user, department=dept, role=StaffRoleName.DATA_OFFICER)
    # District market-regulation staff, for parallel approval across levels later.
    for district_code in DISTRICTS:
        slug = f"{DISTRICT_SLUGS[district_code]}-scjgj"
        for role_slug, role, role_label in STAFF_ROLES[:3]:
            user = b.staff_user(
                f"{slug.replace('-', '.')}.{role_slug}", f"{departments[slug].short_name}{role_label}"
            )
            StaffRole.objects.create(user=user, department=departments[slug], role=role)

    platform = b.staff_user("platform.admin", "平台管理员")
    platform.is_staff = True
    platform.is_superuser = True
    platform.save(update_fields=["is_staff", "is_superuser"])
    StaffRole.objects.create(
        user=platform, department=departments["zwfwb"], role=StaffRoleName.PLATFORM_ADMIN
    )
    b.logins.staff.append(("平台管理员（含运维后台 /admin/）", "platform.admin", ""))
    newcomer = b.staff_user("gongan.xinren", "市公安局新进人员", enrol=False)
    StaffRole.objects.create(user=newcomer, department=departments["gaj"], role=StaffRoleName.INTAKE_CLERK)
    b.logins.staff.append(("首次登录、需绑定动态口令", "gongan.xinren", "登录时动态口令留空"))
    return b.logins
