"""Report videos: accepted by content, location and personal metadata removed, still playable.

Real files: ``fixtures/phone_gps.*`` (made by ``fixtures/make_videos.sh`` with ffmpeg; GPS position,
title, author and recording time as a phone writes them). Hand-built files (``_box``) cover what ffmpeg
does not write: an XMP uuid box, a GoPro-style GPS track, 64-bit sizes, damaged files.
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mutagen.mp4 import MP4

from smartprovince.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationProblem
from smartprovince.core.security import SYSTEM
from smartprovince.core.storage import Storage
from smartprovince.feedback import service, videos

FIXTURES = Path(__file__).parent / "fixtures"
GPS = b"106.3302"
NAME = b"NguyenVanAn"


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _box(kind: bytes, payload: bytes = b"", *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, len(payload) + 16) + payload
    return struct.pack(">I4s", len(payload) + 8, kind) + payload


def _full(kind: bytes, payload: bytes, version: int = 0) -> bytes:
    return _box(kind, bytes([version, 0, 0, 0]) + payload)


def _track(handler: bytes, sample_format: bytes, chunk_offsets: list[int], sample_sizes: list[int]) -> bytes:
    """A minimal trak: tkhd, mdia (mdhd, hdlr, minf/stbl with stsd, stsc, stsz, stco)."""
    stbl = _box(b"stbl", _full(b"stsd", struct.pack(">I", 1) + _box(sample_format, bytes(8)))
                + _full(b"stsc", struct.pack(">IIII", 1, 1, 1, 1))
                + _full(b"stsz", struct.pack(">II", 0, len(sample_sizes)) + b"".join(struct.pack(">I", n)
                                                                                   for n in sample_sizes))
                + _full(b"stco", struct.pack(">I", len(chunk_offsets)) + b"".join(struct.pack(">I", o)
                                                                                    for o in chunk_offsets)))
    mdia = _box(b"mdia", _full(b"mdhd", struct.pack(">IIII", 3_000_000_000, 3_000_000_001, 1000, 2000) + bytes(4))
                + _full(b"hdlr", bytes(4) + handler + bytes(12) + b"\x00")
                + _box(b"minf", stbl))
    return _box(b"trak", _full(b"tkhd", struct.pack(">II", 3_000_000_000, 3_000_000_001) + bytes(72)) + mdia)


XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")


def _handmade_mp4(*, moov_first: bool) -> tuple[bytes, int, int]:
    """ftyp, XMP uuid, moov (mvhd 12.5 s, video track, GPS track, udta ©xyz, meta), mdat (video + GPS samples).

    Returns the file, the offset of the video sample and of the GPS sample in it.
    """
    video_sample, gps_sample = b"VIDEO-FRAME-BYTES", b"GPS5 +20.9401+106.3302 lat lon"
    ftyp = _box(b"ftyp", b"isom" + bytes(4) + b"isommp42")
    xmp = _box(b"uuid", XMP_UUID + b"<x:xmpmeta><exif:GPSLatitude>20.9401</exif:GPSLatitude>" + NAME + b"</x:xmpmeta>")
    udta = _box(b"udta", _box(b"\xa9xyz", struct.pack(">HH", 18, 0) + b"+20.9401+106.3302/")
                + _box(b"\xa9mod", b"Phone of " + NAME))
    meta = _full(b"meta", _full(b"hdlr", bytes(4) + b"mdir" + bytes(13)) + _box(b"ilst", _box(b"\xa9nam", NAME)))

    def moov(video_at: int, gps_at: int) -> bytes:
        mvhd = _full(b"mvhd", struct.pack(">IIII", 3_000_000_000, 3_000_000_001, 1000, 12_500) + bytes(80))
        return _box(b"moov", mvhd + _track(b"vide", b"mp4v", [video_at], [len(video_sample)])
                    + _track(b"meta", b"gpmd", [gps_at], [len(gps_sample)]) + udta + meta)

    payload = video_sample + gps_sample
    size_moov = len(moov(0, 0))
    if moov_first:
        mdat_start = len(ftyp) + len(xmp) + size_moov
        video_at = mdat_start + 8
        data = ftyp + xmp + moov(video_at, video_at + len(video_sample)) + _box(b"mdat", payload)
    else:
        video_at = len(ftyp) + len(xmp) + 8
        data = ftyp + xmp + _box(b"mdat", payload) + moov(video_at, video_at + len(video_sample))
    return data, video_at, video_at + len(video_sample)


def _top_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    out, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        out.append((kind, pos, size))
        pos += size
    return out


def _ffprobe(data: bytes, suffix: str, tmp_path: Path) -> dict[str, str]:
    """What ffprobe reads from the file (format tags, duration) and whether every frame decodes."""
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed (apt-get install ffmpeg); the other checks still ran")
    path = tmp_path / f"clean{suffix}"
    path.write_bytes(data)
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",  # noqa: S607
                          "format=duration:format_tags:stream=nb_read_frames", "-of", "default=nw=1", str(path)],
                         capture_output=True, text=True, check=True)
    assert out.stderr == ""
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


# ------------------------------------------------------------------------------------- the cleaner


@pytest.mark.parametrize("name", ["phone_gps.mp4", "phone_gps_faststart.mp4", "phone_gps.mov"])
def test_phone_mp4_and_mov_lose_gps_and_names_but_still_play(name: str, tmp_path: Path) -> None:
    original = _fixture(name)
    assert GPS in original and NAME in original
    clean, info = videos.clean_video(original, max_seconds=60)
    assert GPS not in clean and NAME not in clean
    assert len(clean) == len(original)  # removed boxes became free boxes of the same size: no offset moved
    assert info.content_type == ("video/quicktime" if name.endswith(".mov") else "video/mp4")
    assert info.duration_seconds == pytest.approx(1.0, abs=0.05)
    # the media data is byte for byte the same (chunk offsets still point at the frames)
    mdat = {k: (p, s) for k, p, s in _top_boxes(original)}[b"mdat"]
    assert clean[mdat[0]:mdat[0] + mdat[1]] == original[mdat[0]:mdat[0] + mdat[1]]
    # an independent parser reads it: same length, no tags left
    parsed = MP4(io.BytesIO(clean))
    assert parsed.info.length == pytest.approx(1.0, abs=0.05)
    assert not parsed.tags
    probe = _ffprobe(clean, Path(name).suffix, tmp_path)
    assert probe["nb_read_frames"] == "10" and float(probe["duration"]) == pytest.approx(1.0, abs=0.05)
    assert not any(k.startswith("TAG:") and k not in ("TAG:major_brand", "TAG:minor_version",
                                                      "TAG:compatible_brands") for k in probe)


def test_phone_webm_loses_its_tags_but_still_plays(tmp_path: Path) -> None:
    original = _fixture("phone_gps.webm")
    assert GPS in original and NAME in original
    clean, info = videos.clean_video(original, max_seconds=60)
    assert GPS not in clean and NAME not in clean and len(clean) == len(original)
    assert info.content_type == "video/webm" and "Tags" in info.removed
    assert info.duration_seconds == pytest.approx(1.0, abs=0.05)
    probe = _ffprobe(clean, ".webm", tmp_path)
    assert probe["nb_read_frames"] == "10"
    assert not any("106.33" in v or "Nguyen" in v for v in probe.values())


@pytest.mark.parametrize("moov_first", [True, False])
def test_xmp_gps_track_and_user_data_removed_offsets_kept(moov_first: bool) -> None:
    data, video_at, gps_at = _handmade_mp4(moov_first=moov_first)
    clean, info = videos.clean_video(data)
    assert GPS not in clean and NAME not in clean and b"GPSLatitude" not in clean and b"GPS5" not in clean
    assert XMP_UUID not in clean and b"\xa9xyz" not in clean
    assert clean[video_at:video_at + 17] == b"VIDEO-FRAME-BYTES"  # the video frame is where its stco says
    assert clean[gps_at:gps_at + 4] == bytes(4)  # the GPS samples are overwritten with zeros
    assert info.duration_seconds == 12.5
    assert {"uuid", "moov/udta", "moov/meta", "moov/trak (timed metadata)"} <= set(info.removed)
    # the recording times are gone (3,000,000,000 s after 1904 = 1999)
    assert struct.pack(">I", 3_000_000_000) not in clean
    assert [k for k, _p, _s in _top_boxes(clean)] == ([b"ftyp", b"free", b"moov", b"mdat"] if moov_first
                                                      else [b"ftyp", b"free", b"mdat", b"moov"])
    parsed = MP4(io.BytesIO(clean))
    assert parsed.info.length == 12.5 and not parsed.tags


def test_64_bit_box_sizes_are_read() -> None:
    data, _v, _g = _handmade_mp4(moov_first=False)
    boxes = _top_boxes(data)
    kind, start, size = boxes[2]
    assert kind == b"mdat"
    data = data[:start] + _box(b"mdat", data[start + 8:start + size], large=True) + data[start + size:]
    # the frame moved by 8 bytes: this file's offsets are now wrong, but it must still be walked and cleaned
    clean, _info = videos.clean_video(data)
    assert GPS not in clean


@pytest.mark.parametrize("mangle", [
    lambda d: d[: len(d) // 2],  # cut in the middle (a box runs past the end)
    lambda d: d[:-3],  # the last box is short
    lambda d: d[:24] + struct.pack(">I", 0xFFFFFF) + d[28:],  # a size larger than the file (ftyp is 24 bytes)
    lambda d: d[:24] + struct.pack(">I", 3) + d[28:],  # a size smaller than a header
    lambda d: _box(b"ftyp", b"isom" + bytes(4)) + _box(b"mdat", b"x" * 40),  # no moov
    lambda d: _box(b"ftyp", b"isom" + bytes(4)) + _box(b"moov", _full(b"mvhd", bytes(96))),  # no video track
    lambda d: b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm\x18\x53\x80\x67\x88\x15\x49",  # a truncated WebM
    # a WebM of 5,000 Segments of unknown size nested in each other (must not recurse until Python stops)
    lambda d: b"\x1a\x45\xdf\xa3\x87\x42\x82\x84webm" + b"\x18\x53\x80\x67\xff" * 5000,
])
def test_damaged_files_are_refused(mangle: Any) -> None:
    data, _v, _g = _handmade_mp4(moov_first=True)
    with pytest.raises(UnsupportedMediaType):
        videos.clean_video(mangle(data))


def test_too_long_too_large_and_wrong_declared_type(settings: Any) -> None:
    storage = Storage(settings)
    data = _fixture("phone_gps.mp4")
    with pytest.raises(ValidationProblem, match="tối đa"):
        videos.save_video(storage, data, filename="a.mp4", content_type="video/mp4",
                          limits=videos.VideoLimits(max_seconds=0.5))
    with pytest.raises(PayloadTooLarge):
        videos.save_video(storage, data, filename="a.mp4", content_type="video/mp4",
                          limits=videos.VideoLimits(max_bytes=1000))
    with pytest.raises(UnsupportedMediaType):
        videos.save_video(storage, data, filename="a.jpg", content_type="image/jpeg")
    # phones call an MP4 video/quicktime and the other way round: the real type is recorded
    stored = videos.save_video(storage, data, filename="a.mov", content_type="video/quicktime")
    assert stored.content_type == "video/mp4" and GPS not in storage.open(stored.key)


# ------------------------------------------------------------------------------- through the pages


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_citizen_sends_a_video_it_is_shown_cleaned_and_served_by_ranges(client: TestClient, orgs: Any) -> None:
    form = client.get("/portal/feedback/new", headers={"accept": "text/html"}).text
    assert 'accept="image/jpeg,image/png,video/mp4,video/quicktime,video/webm"' in form
    assert "50 MB, 180 giây" in form  # the size and duration hint (settings)
    r = client.post("/portal/feedback/new", data={
        "csrf_token": _csrf(form), "category": "waste", "description": "Rác đổ trộm, có video",
        "lat": "20.951", "lon": "106.201", "area_code": "10891"},
        files=[("photos", ("clip.mov", _fixture("phone_gps.mov"), "video/quicktime"))], follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    src = re.search(r'<video controls preload="metadata" src="([^"]+)"', page)
    assert src, "the report page shows the video"
    video = client.get(src.group(1))
    assert video.status_code == 200 and video.headers["content-type"] == "video/quicktime"
    assert video.headers["accept-ranges"] == "bytes" and GPS not in video.content and NAME not in video.content
    part = client.get(src.group(1), headers={"range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == b"ftypqt  "
    assert part.headers["content-range"] == f"bytes 4-11/{len(video.content)}"
    assert client.get(src.group(1), headers={"range": "bytes=-4"}).content == video.content[-4:]
    outside = client.get(src.group(1), headers={"range": f"bytes={len(video.content)}-"})
    assert outside.status_code == 416 and outside.headers["content-type"] == "application/problem+json"


def test_damaged_video_on_the_form_is_a_clear_415(client: TestClient, orgs: Any) -> None:
    form = client.get("/portal/feedback/new", headers={"accept": "text/html"}).text
    r = client.post("/portal/feedback/new", data={
        "csrf_token": _csrf(form), "category": "waste", "description": "Video hỏng", "area_code": "10891"},
        files=[("photos", ("clip.mp4", _fixture("phone_gps.mp4")[:900], "video/mp4"))])
    assert r.status_code == 415 and "Không đọc được video" in r.text


def test_officer_sees_the_video_and_open311_gives_its_url(client: TestClient, orgs: Any, database: Any,
                                                           make_user: Any, login: Any) -> None:
    with database.session() as s:
        _, key = service.create_api_client(s, actor=SYSTEM, name="Ứng dụng video", rate_per_minute=50)
    r = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "waste", "description": "Rác", "attribute[area_code]": "10891"},
        files=[("media", ("clip.webm", _fixture("phone_gps.webm"), "video/webm"))])
    assert r.status_code == 200, r.text
    code = r.json()[0]["service_request_id"]
    media_url = client.get(f"/open311/v2/requests/{code}.json").json()[0]["media_url"]
    assert media_url and "/api/v1/feedback/media/" in media_url
    served = client.get(media_url.replace("http://testserver", ""))
    assert served.headers["content-type"] == "video/webm" and GPS not in served.content
    xml = client.get(f"/open311/v2/requests/{code}.xml").text
    assert "<media_url>" in xml and "/api/v1/feedback/media/" in xml

    public = client.get(f"/api/v1/feedback/reports/{code}").json()
    assert public["media_items"][0]["video"] is True and public["media_items"][0]["content_type"] == "video/webm"
    officer = make_user("cb.video", role="district_leader", org="295")
    login(officer)
    report_id = public["id"]
    assert client.post(f"/api/v1/feedback/reports/{report_id}/actions", json={"action": "accept"}).status_code == 200
    page = client.get(f"/console/feedback/{report_id}", headers={"accept": "text/html"}).text
    assert '<video controls preload="metadata"' in page
    assert 'accept="image/jpeg,image/png,video/mp4,video/quicktime,video/webm"' in page  # result videos too

    bad = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "waste", "description": "Rác", "attribute[area_code]": "10891"},
        files=[("media", ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(8), "video/mp4"))])
    assert bad.status_code == 415 and bad.headers["content-type"] == "application/problem+json"


_SAMPLES = [_fixture(n) for n in ("phone_gps.mp4", "phone_gps_faststart.mp4", "phone_gps.mov", "phone_gps.webm")]


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=st.sampled_from(_SAMPLES), cut=st.integers(0, 4000),
       flips=st.lists(st.tuples(st.integers(0, 3999), st.integers(0, 255)), max_size=4))
def test_any_damaged_video_is_refused_cleanly_or_cleaned(sample: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    """Bad input is a 415 / 422, never a crash: random cuts and changed bytes in real files."""
    data = bytearray(sample[: max(cut, 12)] if cut < len(sample) else sample)
    for at, value in flips:
        if at < len(data):
            data[at] = value
    try:
        clean, _info = videos.clean_video(bytes(data), max_seconds=60)
    except (UnsupportedMediaType, ValidationProblem):
        return
    assert len(clean) == len(data)
