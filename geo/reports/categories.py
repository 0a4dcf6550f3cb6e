"""The report category catalogue: 2-digit classes, 4-digit subclasses, names and time limits.

Time limits are hours counted from dispatch (DOMAIN.md: exposed rubbish 4 h, dirty road 2 h,
illegal construction stopped within 4 h). A city may override them in its configuration.
``group`` is what the heat maps separate: disputes, safety, urban, other.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Subcategory:
    code: str
    name_zh: str
    name_en: str
    time_limit_h: float


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    key: str
    group: str
    name_zh: str
    name_en: str
    subcategories: tuple[Subcategory, ...]

    @property
    def time_limit_h(self) -> float:
        """The category default: the longest of its subcategory limits."""
        return max(s.time_limit_h for s in self.subcategories)


def _c(code, key, group, zh, en, subs) -> Category:
    return Category(
        code, key, group, zh, en, tuple(Subcategory(f"{code}{i:02d}", *s) for i, s in enumerate(subs, 1))
    )


CATALOGUE: tuple[Category, ...] = (
    _c("10", "disputes", "disputes", "矛盾纠纷", "Disputes", [
        ("邻里纠纷", "Neighbour dispute", 72),
        ("婚姻家庭纠纷", "Family or marriage dispute", 72),
        ("物业纠纷", "Property-management dispute", 120),
        ("劳资纠纷(欠薪)", "Wage arrears", 120),
        ("土地纠纷", "Land dispute", 240),
    ]),
    _c("20", "safety_hazards", "safety", "安全隐患", "Safety hazards", [
        ("消防隐患", "Fire hazard", 4),
        ("燃气瓶隐患", "Gas cylinder hazard", 4),
        ("房屋建筑隐患", "Building hazard", 24),
        ("道路交通隐患", "Road and traffic hazard", 8),
        ("危险化学品", "Hazardous chemicals", 4),
        ("积水内涝", "Flooding", 4),
    ]),
    _c("30", "urban_management", "urban", "城市管理", "Urban management", [
        ("暴露垃圾", "Exposed rubbish", 4),
        ("违法建设", "Illegal construction", 4),
        ("道路破损", "Road damage", 48),
        ("占道经营", "Street vending", 8),
        ("违章停车", "Illegal parking", 2),
        ("井盖缺失破损", "Manhole cover missing or broken", 4),
        ("路灯不亮", "Street light out", 48),
        ("道路不洁", "Dirty road", 2),
    ]),
    _c("40", "public_security", "other", "社会治安", "Public security", [
        ("治安隐患", "Public order risk", 24),
        ("可疑人员", "Suspicious person", 8),
    ]),
    _c("50", "special_populations", "other", "特殊人群", "Special populations", [
        ("重点人员走访", "Key-person visit", 168),
        ("困难群众帮扶", "Support for people in hardship", 168),
    ]),
    _c("60", "livelihood", "other", "民生服务", "Livelihood services", [
        ("供水供暖", "Water or heating supply", 24),
        ("政策咨询", "Policy enquiry", 72),
        ("环境噪声", "Noise", 24),
    ]),
    _c("70", "epidemic_control", "other", "疫情防控", "Epidemic control", [
        ("健康监测", "Health monitoring", 24),
        ("环境消杀", "Disinfection", 24),
    ]),
)

BY_CODE: dict[str, Category] = {c.code: c for c in CATALOGUE}
SUB_BY_CODE: dict[str, Subcategory] = {s.code: s for c in CATALOGUE for s in c.subcategories}
GROUPS: tuple[str, ...] = ("disputes", "safety", "urban", "other")

# Cases whose exact location or text could expose the people involved (family disputes,
# public-security tips, special populations): public outputs show neither.
SENSITIVE_CATEGORIES: frozenset[str] = frozenset({"10", "40", "50"})


# One vocabulary for every category filter (listings, stats, maps, downloads, the CLI).
CATEGORY_FILTER_DOC = ("all, a group (disputes, safety, urban, other), a category key (urban_management) or "
                       "a 2-digit code (30); GET /api/v1/categories lists them")


def parse_category(value: str | None) -> tuple[str, tuple[str, ...] | None]:
    """A category filter → (label, 2-digit codes or None for all).

    Accepts ``all``/empty, a group (``disputes``, ``safety``, ``urban``, ``other``), a category
    key (``urban_management``) or a 2-digit code (``30``). Raises InvalidInput(field=category).
    """
    v = (value or "all").strip().lower()
    if v == "all":
        return "all", None
    if v in GROUPS:
        return v, tuple(c.code for c in CATALOGUE if c.group == v)
    for c in CATALOGUE:
        if v in (c.code, c.key):
            return c.key, (c.code,)
    raise InvalidInput(
        f"unknown category {value!r}: use all, a group ({', '.join(GROUPS)}), a key or a 2-digit code",
        field="category",
    )
