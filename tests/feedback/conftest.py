"""Fixtures of the feedback tests: a small organisation tree with the codes the categories route to."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def orgs(make_org: Any) -> dict[str, Any]:
    """Province 30 › district 295 › communes 10891, 10894; district 288 › 10507; the IOC centre; DONRE."""
    made = {}
    for code, name, level, parent in [
        ("30", "Tỉnh Hải Dương", "province", None),
        ("so-thong-tin-va-truyen-thong", "Sở Thông tin và Truyền thông", "department", "30"),
        ("trung-tam-giam-sat-dieu-hanh-thong-minh", "Trung tâm Giám sát, điều hành thông minh tỉnh", "unit",
         "so-thong-tin-va-truyen-thong"),
        ("so-tai-nguyen-va-moi-truong", "Sở Tài nguyên và Môi trường", "department", "30"),
        ("so-xay-dung", "Sở Xây dựng", "department", "30"),
        ("295", "Huyện Cẩm Giàng", "district", "30"),
        ("10891", "Thị trấn Lai Cách", "commune", "295"),
        ("10894", "Xã Cẩm Hưng", "commune", "295"),
        ("288", "Thành phố Hải Dương", "district", "30"),
        ("10507", "Phường Cẩm Thượng", "commune", "288"),
    ]:
        made[code] = make_org(code, name, level, parent=parent)
    return made
