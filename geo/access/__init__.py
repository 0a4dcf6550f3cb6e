"""Access: roles and what each may do, the tokens that carry a role, case tokens for
reporters, the audit of staff actions, and what the public may see of locations
(``privacy``: coarsened sensitive cases, public cells).

The permission table (``geo.access.roles.PERMISSIONS``) is the one source every check calls;
the API maps a missing permission to 401/403 (``api.security``), and the README prints it.
"""

from geo.access.audit import record_audit
from geo.access.roles import (
    PERMISSIONS,
    Permission,
    Principal,
    Role,
    may_move,
    may_rate,
    may_read_personal,
    may_see_photos,
    may_upload_photo,
)

__all__ = [
    "PERMISSIONS",
    "Permission",
    "Principal",
    "Role",
    "may_move",
    "may_rate",
    "may_read_personal",
    "may_see_photos",
    "may_upload_photo",
    "record_audit",
]
