"""The permission table: one in code, the same in the README, and its scoped rules."""

from __future__ import annotations

import re
from pathlib import Path

from geo.access.roles import NEVER_OPEN, PERMISSIONS, Permission, Principal, Role, permission_table

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_prints_the_table_in_code():
    text = README.read_text()
    shown = re.search(r"<!-- permission-table:start -->\n(.*?)\n<!-- permission-table:end -->", text, re.S).group(1)
    assert shown == permission_table(), "README's table drifted: paste geo.access.roles.permission_table()"


def test_personal_data_never_reaches_planner_public_or_system():
    for role in (Role.planner, Role.public, Role.system, Role.reporter):
        assert Permission.read_personal not in PERMISSIONS[role]
    assert Permission.read_personal in NEVER_OPEN
    assert not Principal(Role.public, open=True).can(Permission.read_personal)
    assert Principal(Role.public, open=True).can(Permission.move_case)  # the open demo moves cases


def test_the_database_knows_the_same_sensitive_categories():
    from geo.models import Report
    from geo.reports.categories import SENSITIVE_CATEGORIES

    check = next(c for c in Report.__table__.constraints if getattr(c, "name", "") and "sensitive_has" in c.name)
    assert set(re.findall(r"'(\d\d)'", str(check.sqltext))) == set(SENSITIVE_CATEGORIES)
