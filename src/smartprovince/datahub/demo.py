"""Demo data of the data hub (dữ liệu mẫu): shared category lists and sector datasets of Hải Dương.

* Category lists: administrative units (from the organisation tree identity loaded), agencies,
  the 54 ethnic groups (Tổng cục Thống kê), school levels, health-facility kinds.
* Datasets, loaded through the normal service (so reports, quality scores, audit and events are
  real): schools (Sở Giáo dục và Đào tạo), health facilities (Sở Y tế), tourist sites (Sở Văn hóa,
  Thể thao và Du lịch), community digital-technology teams (Sở Thông tin và Truyền thông, internal,
  with personal fields). The health facilities get a first file with mistakes, rejected, so the
  validation report page has something to show. Numbers come from a fixed random seed.
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date
from importlib import resources
from typing import Any

from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.datahub import codelists, service
from smartprovince.datahub.models import Dataset
from smartprovince.settings import Settings

SEED = 20231231
EFFECTIVE = date(2023, 1, 1)


def _data(name: str) -> Any:
    return json.loads(resources.files("smartprovince.datahub").joinpath(f"data/{name}").read_text("utf-8"))


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _codelists(session: Any) -> tuple[list[Any], list[Any]]:
    orgs = list(session.scalars(select(identity.Organisation).order_by(identity.Organisation.code)))
    by_id = {o.id: o for o in orgs}
    units = [o for o in orgs if o.level in ("province", "district", "commune")]
    agencies = [o for o in orgs if o.level in ("department", "body", "unit")]
    lists = [
        ("don-vi-hanh-chinh", "Đơn vị hành chính", "Administrative units",
         [{"code": o.code, "label": o.name, **({"parent": by_id[o.parent_id].code} if o.parent_id else {})}
          for o in units]),
        ("co-quan", "Cơ quan, đơn vị", "Agencies", [{"code": o.code, "label": o.name} for o in agencies]),
        ("dan-toc", "Dân tộc", "Ethnic groups",
         [{"code": c, "label": n} for c, n in _data("ethnic_groups.json")["items"]]),
        ("cap-hoc", "Cấp học", "School levels", [{"code": c, "label": n} for c, n in [
            ("MN", "Mầm non"), ("TH", "Tiểu học"), ("THCS", "Trung học cơ sở"), ("THPT", "Trung học phổ thông"),
            ("GDTX", "Giáo dục thường xuyên")]]),
        ("loai-co-so-y-te", "Loại cơ sở y tế", "Health facility kinds", [{"code": c, "label": n} for c, n in [
            ("BV", "Bệnh viện"), ("TTYT", "Trung tâm y tế"), ("TYT", "Trạm y tế xã, phường"),
            ("PK", "Phòng khám đa khoa")]]),
    ]
    for code, name, name_en, items in lists:
        if session.scalar(select(codelists.CodeList.id).where(codelists.CodeList.code == code)) is None:
            codelists.create_codelist(session, actor=SYSTEM, code=code, name=name, name_en=name_en)
            codelists.publish_version(session, actor=SYSTEM, code=code, items=items, effective_from=EFFECTIVE,
                                      note="Dữ liệu mẫu")
    districts = [o for o in units if o.level == "district"]
    communes = [o for o in units if o.level == "commune"]
    return districts, communes


def _short(name: str) -> str:
    for prefix in ("Thành phố ", "Thị xã ", "Huyện ", "Phường ", "Thị trấn ", "Xã "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _phone(rng: random.Random) -> str:
    return "09" + "".join(str(rng.randint(0, 9)) for _ in range(8))


def _define(session: Any, name: str, org_code: str, **values: Any) -> None:
    if session.scalar(select(Dataset.id).where(Dataset.name == name)) is None:
        org = identity.get_org_by_code(session, org_code)
        if org is None:  # a province whose tree lacks this department: skip its dataset
            return
        service.define_dataset(session, actor=SYSTEM, name=name, org_id=org.id, **values)


DISTRICT = {"name": "huyen", "title": "Huyện, thị xã, thành phố", "title_en": "District", "type": "code",
            "codelist": "don-vi-hanh-chinh", "required": True}
COMMUNE = {"name": "xa", "title": "Xã, phường, thị trấn", "title_en": "Commune", "type": "code",
           "codelist": "don-vi-hanh-chinh"}


def load(db: Database, settings: Settings, progress: Any) -> None:
    """Load the category lists and the four demo datasets (a few seconds)."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo numbers, not secrets
    progress("Kho dữ liệu: danh mục dùng chung", None, None)
    with db.session() as s:
        districts, communes = _codelists(s)
        if s.scalar(select(Dataset.id).where(Dataset.name == "truong-hoc")) is not None:
            return
        _define(s, "truong-hoc", "so-giao-duc-va-dao-tao", title="Danh sách trường học", title_en="Schools",
                description="Các trường mầm non, tiểu học, trung học cơ sở và trung học phổ thông trên địa bàn tỉnh.",
                description_en="Kindergartens, primary, lower and upper secondary schools of the province.",
                sector="education", frequency="annual", tags=["trường học", "giáo dục", "học sinh"],
                key=["ma_truong"], fields=[
                    {"name": "ma_truong", "title": "Mã trường", "title_en": "School code"},
                    {"name": "ten_truong", "title": "Tên trường", "title_en": "Name", "required": True},
                    {"name": "cap_hoc", "title": "Cấp học", "title_en": "Level", "type": "code",
                     "codelist": "cap-hoc", "required": True},
                    {"name": "loai_hinh", "title": "Loại hình", "title_en": "Ownership"},
                    DISTRICT, COMMUNE,
                    {"name": "so_lop", "title": "Số lớp", "title_en": "Classes", "type": "integer", "minimum": 0},
                    {"name": "so_hoc_sinh", "title": "Số học sinh", "title_en": "Pupils", "type": "integer",
                     "unit": "học sinh", "minimum": 0},
                    {"name": "so_giao_vien", "title": "Số giáo viên", "title_en": "Teachers", "type": "integer",
                     "unit": "người", "minimum": 0},
                    {"name": "chuan_quoc_gia", "title": "Đạt chuẩn quốc gia", "title_en": "National standard",
                     "type": "boolean"},
                    {"name": "dien_thoai_hieu_truong", "title": "Điện thoại hiệu trưởng",
                     "title_en": "Head teacher's phone", "personal": True},
                ])
        _define(s, "co-so-y-te", "so-y-te", title="Cơ sở khám bệnh, chữa bệnh", title_en="Health facilities",
                description="Bệnh viện, trung tâm y tế và trạm y tế xã, phường trên địa bàn tỉnh.",
                description_en="Hospitals, district health centres and commune health stations.",
                sector="health", frequency="quarterly", tags=["y tế", "bệnh viện", "trạm y tế"], key=["ma_co_so"],
                fields=[
                    {"name": "ma_co_so", "title": "Mã cơ sở", "title_en": "Facility code"},
                    {"name": "ten_co_so", "title": "Tên cơ sở", "title_en": "Name", "required": True},
                    {"name": "loai", "title": "Loại cơ sở", "title_en": "Kind", "type": "code",
                     "codelist": "loai-co-so-y-te", "required": True},
                    DISTRICT, COMMUNE,
                    {"name": "so_giuong", "title": "Số giường bệnh", "title_en": "Beds", "type": "integer",
                     "unit": "giường", "minimum": 0, "maximum": 5000},
                    {"name": "so_bac_si", "title": "Số bác sĩ", "title_en": "Doctors", "type": "integer",
                     "unit": "người", "minimum": 0},
                    {"name": "ngay_cap_phep", "title": "Ngày cấp phép", "title_en": "Licensed on", "type": "date"},
                ])
        _define(s, "diem-du-lich", "so-van-hoa-the-thao-va-du-lich", title="Di tích và điểm du lịch",
                title_en="Heritage and tourist sites",
                description="Di tích, danh thắng, làng nghề và điểm du lịch tiêu biểu; số lượt khách năm 2023.",
                description_en="Heritage sites, landscapes, craft villages and tourist sites; visitors in 2023.",
                sector="tourism", frequency="annual", tags=["du lịch", "di tích", "làng nghề"], key=["ma_diem"],
                fields=[
                    {"name": "ma_diem", "title": "Mã điểm", "title_en": "Site code"},
                    {"name": "ten_diem", "title": "Tên điểm", "title_en": "Name", "required": True},
                    {"name": "loai_hinh", "title": "Loại hình", "title_en": "Kind"},
                    {"name": "xep_hang", "title": "Xếp hạng", "title_en": "Ranking"},
                    DISTRICT,
                    {"name": "luot_khach_2023", "title": "Lượt khách năm 2023", "title_en": "Visitors 2023",
                     "type": "integer", "unit": "lượt", "minimum": 0},
                    {"name": "vi_do", "title": "Vĩ độ", "title_en": "Latitude", "type": "number", "minimum": -90,
                     "maximum": 90},
                    {"name": "kinh_do", "title": "Kinh độ", "title_en": "Longitude", "type": "number",
                     "minimum": -180, "maximum": 180},
                ])
        _define(s, "to-cong-nghe-so", "so-thong-tin-va-truyen-thong", title="Tổ công nghệ số cộng đồng",
                title_en="Community digital technology teams",
                description="Tổ công nghệ số cộng đồng ở từng xã, phường; có thông tin liên hệ của tổ trưởng.",
                sector="administration", frequency="monthly", public=False, licence="internal",
                tags=["chuyển đổi số"], key=["xa"], fields=[
                    {**COMMUNE, "required": True}, DISTRICT,
                    {"name": "so_thanh_vien", "title": "Số thành viên", "title_en": "Members", "type": "integer",
                     "minimum": 1},
                    {"name": "to_truong", "title": "Tổ trưởng", "title_en": "Team leader", "personal": True},
                    {"name": "dien_thoai", "title": "Điện thoại", "title_en": "Phone", "personal": True},
                    {"name": "dan_toc_to_truong", "title": "Dân tộc của tổ trưởng", "title_en": "Leader's ethnic group",
                     "type": "code", "codelist": "dan-toc", "personal": True},
                    {"name": "ngay_thanh_lap", "title": "Ngày thành lập", "title_en": "Founded", "type": "date"},
                ])
    parent_of = {c.code: next((d.code for d in districts if d.id == c.parent_id), "") for c in communes}

    # Schools: one kindergarten, primary and lower secondary school per commune, upper secondary per district.
    rows: list[list[Any]] = []
    n = 0
    for c in communes:
        for level, prefix, pupils in (("MN", "Trường Mầm non", (150, 450)), ("TH", "Trường Tiểu học", (300, 900)),
                                      ("THCS", "Trường THCS", (250, 800))):
            n += 1
            size = rng.randint(*pupils)
            rows.append([f"{level}{c.code}", f"{prefix} {_short(c.name)}", level, "Công lập", parent_of[c.code],
                         c.code, max(5, size // 32), size, max(8, size // 18), rng.random() < 0.7, _phone(rng)])
    for d in districts:
        for i in range(1, rng.randint(3, 5)):
            size = rng.randint(900, 1800)
            rows.append([f"THPT{d.code}{i}", f"Trường THPT {_short(d.name)} {'I' * i if i < 4 else 'IV'}", "THPT",
                         "Công lập", d.code, "", size // 40, size, size // 20, rng.random() < 0.6, _phone(rng)])
    header = ["ma_truong", "ten_truong", "cap_hoc", "loai_hinh", "huyen", "xa", "so_lop", "so_hoc_sinh",
              "so_giao_vien", "chuan_quoc_gia", "dien_thoai_hieu_truong"]
    health: list[list[Any]] = [["BVDK30", "Bệnh viện Đa khoa tỉnh Hải Dương", "BV", "288", "", 1200, 310,
                                "1998-03-12"]]
    for d in districts:
        health.append([f"TTYT{d.code}", f"Trung tâm Y tế {d.name}", "TTYT", d.code, "", rng.randint(120, 300),
                       rng.randint(25, 70), f"{rng.randint(2005, 2019)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"])
    for c in communes:
        health.append([f"TYT{c.code}", f"Trạm Y tế {c.name}", "TYT", parent_of[c.code], c.code, rng.randint(3, 10),
                       rng.randint(1, 3), f"{rng.randint(2000, 2020)}-{rng.randint(10, 12)}-0{rng.randint(1, 9)}"])
    health_header = ["ma_co_so", "ten_co_so", "loai", "huyen", "xa", "so_giuong", "so_bac_si", "ngay_cap_phep"]
    # A first delivery with the usual mistakes: a wrong kind, a negative bed count, a bad date, a repeated code.
    bad = [list(r) for r in health[:40]]
    bad[3][2] = "Trạm"
    bad[5][5] = -4
    bad[8][7] = "31/02/2021"
    bad[12][0] = bad[11][0]
    bad[15][3] = "999"
    sites = [[f"DL{i:03d}", name, kind, rank, district, rng.randint(20_000, 1_500_000) if "đặc biệt" in rank
              else rng.randint(3_000, 250_000), lat, lon]
             for i, (name, district, kind, rank, lat, lon) in enumerate(_data("tourist_sites.json")["items"], 1)]
    teams = []
    for c in communes:
        teams.append([c.code, parent_of[c.code], rng.randint(4, 9), rng.choice(
            ["Nguyễn Văn Hùng", "Trần Thị Lan", "Phạm Văn Long", "Vũ Thị Hạnh", "Đỗ Văn Nam", "Bùi Thị Mai"]),
            _phone(rng), "01", f"2022-0{rng.randint(1, 9)}-{rng.randint(10, 28)}"])
    loads = [
        ("truong-hoc", header, rows, False),
        ("co-so-y-te", health_header, bad, False),
        ("co-so-y-te", health_header, health, False),
        ("diem-du-lich", ["ma_diem", "ten_diem", "loai_hinh", "xep_hang", "huyen", "luot_khach_2023", "vi_do",
                          "kinh_do"], sites, False),
        ("to-cong-nghe-so", ["xa", "huyen", "so_thanh_vien", "to_truong", "dien_thoai", "dan_toc_to_truong",
                             "ngay_thanh_lap"], teams, False),
    ]
    for i, (name, head, data, skip) in enumerate(loads, 1):
        progress("Kho dữ liệu: nạp bộ dữ liệu mẫu", i, len(loads))
        with db.session() as s:
            service.load_file(s, actor=SYSTEM, name=name, source=_csv(head, data), filename=f"{name}.csv",
                              data_dir=settings.data_dir, skip_invalid=skip)
