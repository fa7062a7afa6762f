"""What the administration area shows: its sections and the permission each one needs."""

from __future__ import annotations

from dataclasses import dataclass

from smartprovince.core.security import Actor


@dataclass(frozen=True)
class AdminSection:
    """One administration page listed on /admin (label and description in Vietnamese)."""

    key: str
    label: str
    description: str
    href: str
    permission: str
    icon: str


ADMIN_SECTIONS: tuple[AdminSection, ...] = (
    AdminSection(
        "organisations",
        "Tổ chức, đơn vị",
        "Cây tổ chức của tỉnh: thêm, sửa, di chuyển, ngừng hoạt động.",
        "/admin/organisations",
        "identity.org.manage",
        "org",
    ),
    AdminSection(
        "users",
        "Người dùng",
        "Tài khoản cán bộ và người dân: tạo, sửa, khóa, phân quyền, đặt lại mật khẩu.",
        "/admin/users",
        "identity.user.read",
        "users",
    ),
    AdminSection(
        "roles",
        "Vai trò",
        "Các vai trò và tập quyền của từng vai trò.",
        "/admin/roles",
        "identity.role.manage",
        "shield",
    ),
    AdminSection(
        "calendar",
        "Lịch ngày nghỉ, ngày làm bù",
        "Ngày nghỉ lễ, nghỉ bù và ngày làm bù do Chính phủ quyết định hằng năm.",
        "/admin/calendar",
        "core.calendar.manage",
        "calendar",
    ),
)


def admin_sections(actor: Actor) -> list[AdminSection]:
    """The administration sections ``actor`` may open (empty for citizens and most officers)."""
    return [s for s in ADMIN_SECTIONS if actor.has(s.permission)]
