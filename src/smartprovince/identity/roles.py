"""Built-in roles and the permissions each module gives them.

A built-in role's permissions are the union of identity's own grants and every module manifest's
``role_grants`` for that role code (see ``smartprovince.core.modules.Module``). The administrator
role holds ``*`` (everything).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core.clock import now
from smartprovince.core.ids import new_id

# code -> (Vietnamese name, description)
BUILTIN_ROLES: dict[str, tuple[str, str]] = {
    "admin": ("Quản trị hệ thống", "Toàn quyền trong phạm vi được giao (Sở TTTT)."),
    "provincial_leader": ("Lãnh đạo tỉnh", "Xem chỉ số, báo cáo, tình hình toàn tỉnh."),
    "department_leader": ("Lãnh đạo sở, ngành", "Xem và chỉ đạo công việc của sở, ngành."),
    "district_leader": ("Lãnh đạo cấp huyện", "Xem và chỉ đạo công việc của huyện và các xã trực thuộc."),
    "onestop_officer": ("Cán bộ một cửa", "Tiếp nhận, trả kết quả hồ sơ thủ tục hành chính."),
    "specialist": ("Chuyên viên", "Xử lý hồ sơ, phản ánh, dữ liệu chuyên ngành của đơn vị."),
    "ioc_operator": ("Điều hành viên IOC", "Giám sát, điều phối sự cố tại trung tâm điều hành."),
    "security_analyst": ("Chuyên viên an toàn thông tin", "Theo dõi, xử lý cảnh báo an toàn thông tin (SOC)."),
    "data_officer": ("Cán bộ dữ liệu", "Quản lý dữ liệu chuyên ngành, danh mục dùng chung, dữ liệu mở."),
    "citizen": ("Người dân, doanh nghiệp", "Nộp hồ sơ, gửi phản ánh, theo dõi kết quả."),
}

# Permissions of the identity module itself (code -> Vietnamese description).
PERMISSIONS: dict[str, str] = {
    "identity.user.read": "Xem danh sách người dùng trong phạm vi",
    "identity.user.manage": "Tạo, sửa, khóa người dùng và phân quyền trong phạm vi",
    "identity.org.manage": "Tạo, sửa, di chuyển, ngừng hoạt động tổ chức trong phạm vi",
    "identity.role.manage": "Tạo, sửa vai trò",
}

# What identity gives the built-in roles (the admin role holds "*").
ROLE_GRANTS: dict[str, list[str]] = {
    "provincial_leader": ["identity.user.read"],
    "department_leader": ["identity.user.read"],
    "district_leader": ["identity.user.read"],
}


def builtin_permissions(*, with_modules: bool = True) -> dict[str, list[str]]:
    """Permissions of every built-in role, merged from all module manifests (sorted, no duplicates).

    ``with_modules=False`` gives identity's own grants only (the migration must not import every module).
    """
    from smartprovince.registry import load_modules

    merged: dict[str, set[str]] = {code: set() for code in BUILTIN_ROLES}
    merged["admin"].add("*")
    for code, perms in ROLE_GRANTS.items():
        merged[code].update(perms)
    for m in load_modules() if with_modules else ():
        for code, perms in m.role_grants.items():
            if code in merged:
                merged[code].update(perms)
    return {code: sorted(perms) for code, perms in merged.items()}


def builtin_role_rows() -> list[dict[str, Any]]:
    """Rows for inserting the built-in roles with identity's own grants (used by the identity migration).

    The other modules' grants are added by ``sync_builtin_roles`` at start-up and when demo data loads.
    """
    perms = builtin_permissions(with_modules=False)
    t = now()
    return [
        {"id": new_id(), "code": code, "name": name, "description": desc, "permissions": perms[code],
         "builtin": True, "created_at": t, "updated_at": t}
        for code, (name, desc) in BUILTIN_ROLES.items()
    ]


def sync_builtin_roles(session: Session) -> list[str]:
    """Create missing built-in roles and refresh their permissions from the manifests.

    Returns the codes of the roles that changed. Safe to call many times (start-up, demo, tests).
    """
    from smartprovince.identity.models import Role

    perms = builtin_permissions()
    existing = {r.code: r for r in session.scalars(select(Role).where(Role.code.in_(list(BUILTIN_ROLES))))}
    changed: list[str] = []
    for code, (name, desc) in BUILTIN_ROLES.items():
        role = existing.get(code)
        if role is None:
            session.add(Role(code=code, name=name, description=desc, permissions=perms[code], builtin=True))
            changed.append(code)
        elif sorted(role.permissions or []) != perms[code] or not role.builtin:
            role.permissions = perms[code]
            role.builtin = True
            changed.append(code)
    session.flush()
    return changed
