"""National public-service portal adapter (Cổng Dịch vụ công quốc gia) — status sync of dossiers.

Every status change of a dossier is pushed to the portal as one record (the portal keeps the
newest per ``MaHoSo``). Field names checked against public evidence are marked ✓: the DVCQG
integration of OpenCPS (open-source one-stop software used by ministries and provinces;
``DVCQGIntegrationActionImpl.createSyncDossierBodyRequest`` in ``VietOpenCPS/opencps-v2``). The
others are ours and **not verified** against the portal's specification (not public): check
them with the portal operator before going live (see ``docs/procedures.md``).

=======================  ==========================================================================
``MaHoSo`` ✓             dossier code
``MaTTHC`` ✓             national procedure code
``TrangThaiHoSo`` ✓      the status code (we send the national 1–10; OpenCPS maps its own statuses
                         through a table, whose target values we could not see)
``NgayTiepNhan`` ✓       received; ``NgayHenTra`` ✓ due (the extended date once there is one);
``NgayKetThucXuLy`` ✓    finished; ``NgayTra`` ✓ result returned — ``yyyyMMddHHmmss`` in Vietnam
                         time (✓ format and zone), empty when not yet
``HinhThuc`` ✓           1 when the result is sent by post, else 0 (OpenCPS sets 1 for postal return)
``MaCoQuan``             the receiving agency's code (unverified; OpenCPS sends the agency *name*
                         as ``DonViXuLy``)
``NgayNopHoSo``          submitted (unverified)
``KenhThucHien``         1 = at the counter, 2 = online, 3 = by post (unverified)
``ThanhToanTrucTuyen``   1 when the fee was paid online; ``PhiLePhi`` the fee paid, VND (unverified;
                         OpenCPS has a ``DanhSachLePhi`` list, which it leaves empty)
``KetQuaXuLy``           1 finished / returned, 2 refused or stopped, 0 still open (unverified)
``ThoiDiemCapNhat``      when the change happened (unverified; lets the portal ignore an older,
                         re-sent record)
=======================  ==========================================================================

The envelope ✓: ``HttpPortalClient`` posts ``{"session", "madonvi", "service": "DongBoHoSoMC",
"isUpdating", "data": [record]}`` as JSON to the portal's integration endpoint
(``SMARTPROVINCE_PROCEDURES_PORTAL_URL``); ``session`` is the token the portal's login service gave
(``_PORTAL_TOKEN``), ``madonvi`` our unit code at the portal, ``isUpdating`` false for the first
record of a dossier. An answer with ``error_code`` other than 0 is a refusal. Any error raises
:class:`PortalError`, the bus handler fails, and the bus retries the event from the outbox with
growing delays (then keeps it as a dead letter for an operator). ``SimulatedPortal`` keeps the
records in memory and can be told to fail, to test exactly that.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from smartprovince.core.clock import VN_TZ

if TYPE_CHECKING:  # httpx is imported where a request is made: the app starts without it (memory)
    import httpx

CHANNEL_CODES = {"counter": 1, "online": 2, "post": 3}
SERVICE = "DongBoHoSoMC"
"""The portal's service name for syncing one-stop dossiers (✓ OpenCPS)."""


class PortalError(Exception):
    """The portal could not be reached or refused the record; the push will be retried."""


def _when(value: Any) -> str:
    if not value:
        return ""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.astimezone(VN_TZ).strftime("%Y%m%d%H%M%S")


def portal_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Turn a ``procedures.dossier.*`` event payload into the portal's dossier record."""
    status = int(payload["status"])
    return {
        "MaHoSo": payload["code"],
        "MaTTHC": payload.get("procedure_code") or "",
        "MaCoQuan": payload.get("agency_code") or "",
        "TrangThaiHoSo": status,
        "KenhThucHien": CHANNEL_CODES.get(payload.get("channel") or "", 2),
        "NgayNopHoSo": _when(payload.get("submitted_at")),
        "NgayTiepNhan": _when(payload.get("received_at")),
        "NgayHenTra": _when(payload.get("extended_due_at") or payload.get("due_at")),
        "NgayKetThucXuLy": _when(payload.get("finished_at")),
        "NgayTra": _when(payload.get("returned_at")),
        "ThanhToanTrucTuyen": 1 if payload.get("paid_online") else 0,
        "PhiLePhi": int(payload.get("fee_paid") or 0),
        "HinhThuc": 1 if payload.get("return_method") == "post" else 0,
        "KetQuaXuLy": 1 if status in (9, 10) else 2 if status in (3, 8) else 0,
        "ThoiDiemCapNhat": _when(payload.get("at")),
    }


class Portal(Protocol):
    """The interface of the national portal's sync service."""

    def push(self, record: dict[str, Any], *, unit_code: str, updating: bool) -> None:
        """Send one record; raises :class:`PortalError` when it was not accepted."""
        ...


class HttpPortalClient:
    """The real portal over HTTPS (``SMARTPROVINCE_PROCEDURES_PORTAL_URL`` / ``_TOKEN``)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.transport = transport

    def push(self, record: dict[str, Any], *, unit_code: str, updating: bool) -> None:
        import httpx

        envelope = {"session": self.token, "madonvi": unit_code, "service": SERVICE, "isUpdating": updating,
                    "data": [record]}
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                r = client.post(self.base_url, json=envelope)
        except httpx.HTTPError as exc:
            raise PortalError(f"portal unreachable: {exc.__class__.__name__}") from exc
        if not 200 <= r.status_code < 300:
            raise PortalError(f"portal answered {r.status_code}")
        body = r.json() if r.content else {}
        if isinstance(body, dict) and str(body.get("error_code", "0")) not in ("0", ""):
            raise PortalError(f"portal refused the record: {body.get('message', '')}"[:200])


class SimulatedPortal:
    """A local stand-in: keeps the newest record per dossier and every push, in memory.

    ``fail_next`` makes the next N pushes fail (as when the portal is down).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        self.pushes: list[dict[str, Any]] = []
        self.fail_next = 0

    def push(self, record: dict[str, Any], *, unit_code: str = "", updating: bool = False) -> None:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                raise PortalError("simulated portal is down")
            self.pushes.append(record)
            old = self.records.get(record["MaHoSo"])
            if old is None or old["ThoiDiemCapNhat"] <= record["ThoiDiemCapNhat"]:
                self.records[record["MaHoSo"]] = record


SIMULATOR = SimulatedPortal()
"""The simulator instance of this process (what the portal "received")."""


def portal_from_settings(settings: Any) -> Portal:
    """The adapter chosen by ``portal_backend`` (the one place where it is wired)."""
    if settings.portal_backend == "http":
        return HttpPortalClient(settings.portal_url, settings.portal_token)
    return SIMULATOR
