"""Video phản ánh — check uploaded videos and remove their location and personal metadata.

A phone video carries metadata like a photo: the GPS position where it was recorded (``©xyz`` in the
QuickTime user data, ``com.apple.quicktime.location.ISO6709`` in the ``meta`` keys), the phone model, the
owner's name, XMP packets, recording times, and on action cameras / dash cameras a whole *timed metadata
track* of GPS positions. The platform publishes report videos, so every video is read box by box and
cleaned before it is stored. No ffmpeg is needed: the file is not re-encoded.

Accepted containers, recognised by their content (never by the name or the declared type):

* **MP4 / MOV** (ISO base media file format, ``ftyp`` first). Removed: every ``udta`` (user data), ``meta``
  and ``uuid`` box (XMP, vendor data) at the top level, in ``moov`` and in each track; the creation and
  modification times of ``mvhd``, ``tkhd`` and ``mdhd`` are set to zero; a timed metadata track (handler
  ``meta`` / ``camm``, or samples ``gpmd`` / ``mebx`` / ``camm``: GoPro, Google camera motion, Apple) is
  removed from the movie and its sample bytes in ``mdat`` are overwritten with zeros.
* **WebM** (EBML header with DocType ``webm``). Removed: ``Tags`` and ``Attachments``, and the ``Title``
  and ``DateUTC`` of the segment information.

How a box is removed: it is overwritten in place by a ``free`` box (MP4) or an EBML ``Void`` element
(WebM) of exactly the same size, filled with zeros. No other byte moves, so the chunk offsets of
``stco`` / ``co64`` stay right whether ``moov`` is before or after ``mdat``, the sizes of the enclosing
boxes stay right, and the file plays as before. The removed data is gone (zeros), not just hidden.

The duration is read from ``mvhd`` (MP4) or ``Info/Duration`` (WebM) and checked against the limit;
a WebM recorded live by a browser often has no duration in its header: it is then limited by size only.
A file that does not parse (truncated, a box larger than its parent, no ``moov``, no video track) is
refused with 415; too long a video with 422.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from smartprovince.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationProblem
from smartprovince.core.storage import MOV, MP4, WEBM, Storage, StoredFile, detect_type

VIDEO_TYPES = (MP4, MOV, WEBM)

BAD_FILE = "Không đọc được video (the video file is damaged or not a supported MP4, MOV or WebM file)."


# Declared types a client may send for an ISO-BMFF file: phones call the same file video/mp4 or
# video/quicktime; the real type (from the ftyp brand) is the one recorded.
_ISO_DECLARED = frozenset({"", "application/octet-stream", "binary/octet-stream", MP4, MOV, "video/x-m4v"})


@dataclass(frozen=True)
class VideoLimits:
    """Largest accepted video (bytes) and longest (seconds); settings ``SMARTPROVINCE_FEEDBACK_VIDEO_…``."""

    max_bytes: int = 50 * 1024 * 1024
    max_seconds: float = 180.0


class _Damaged(Exception):
    """The container structure is broken (a box runs past its parent, a truncated header …)."""


@dataclass(frozen=True)
class VideoInfo:
    """What was learnt while cleaning a video: its real type and duration in seconds (``None`` = unknown)."""

    content_type: str
    duration_seconds: float | None
    removed: tuple[str, ...]


def clean_video(data: bytes, *, max_seconds: float | None = None) -> tuple[bytes, VideoInfo]:
    """The same video as ``data`` without location and personal metadata, and what was found.

    Raises ``UnsupportedMediaType`` (415) when the bytes are not a readable MP4, MOV or WebM video and
    ``ValidationProblem`` (422) when it is longer than ``max_seconds``.
    """
    kind = detect_type(data)
    if kind not in VIDEO_TYPES:
        raise UnsupportedMediaType("Chỉ nhận video MP4, MOV hoặc WebM (only MP4, MOV or WebM videos are accepted).")
    out = bytearray(data)
    try:
        if kind == WEBM:
            duration, removed = _clean_webm(out)
            _clean_webm(bytearray(out))  # the result must parse again (it does unless this code is wrong)
        else:
            duration, removed = _clean_isobmff(out)
            _clean_isobmff(bytearray(out))
    except (_Damaged, struct.error, IndexError) as exc:
        raise UnsupportedMediaType(BAD_FILE) from exc
    if max_seconds is not None and duration is not None and duration > max_seconds:
        raise ValidationProblem(f"Video dài {duration:.0f} giây; tối đa {max_seconds:.0f} giây "
                                f"(the video is {duration:.0f} s long; at most {max_seconds:.0f} s).")
    return bytes(out), VideoInfo(content_type=kind, duration_seconds=duration, removed=tuple(removed))


# ------------------------------------------------------------------------------------ ISO-BMFF

# Boxes whose whole content is removed wherever they are: user data (©xyz GPS, ©mak/©mod camera,
# ©nam, ©ART …), metadata (keys/ilst: Apple's location, iTunes-style tags) and uuid boxes (XMP, vendors).
_REMOVE = frozenset({b"udta", b"meta", b"uuid"})
# Tracks that carry timed metadata (GPS tracks of action / dash cameras, Apple's mebx, Google's camm).
_METADATA_HANDLERS = frozenset({b"meta", b"camm"})
_METADATA_SAMPLES = frozenset({b"gpmd", b"mebx", b"camm"})


def _boxes(buf: bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """The boxes between ``start`` and ``end``: (type, start, content start, end)."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise _Damaged("a box header is cut short")
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise _Damaged("a 64-bit box header is cut short")
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            header = 16
        elif size == 0:  # "to the end of the file": only allowed for the last top-level box
            size = end - pos
        if size < header or pos + size > end:
            raise _Damaged(f"box {kind!r} at {pos} runs past its parent")
        yield bytes(kind), pos, pos + header, pos + size
        pos += size


def _blank_box(buf: bytearray, start: int, end: int) -> None:
    """Overwrite the box at ``start:end`` with a ``free`` box of the same size, filled with zeros."""
    buf[start:end] = struct.pack(">I4s", end - start, b"free") + bytes(end - start - 8)


def _zero_times(buf: bytearray, content: int, end: int) -> None:
    """Set the creation and modification times of an mvhd / tkhd / mdhd box to zero (version 0 or 1)."""
    if end - content < 12:
        raise _Damaged("header box cut short")
    width = 8 if buf[content] == 1 else 4
    if end - content < 4 + 2 * width:
        raise _Damaged("header box cut short")
    buf[content + 4:content + 4 + 2 * width] = bytes(2 * width)


def _mvhd_duration(buf: bytearray, content: int, end: int) -> float | None:
    if buf[content] == 1:
        if end - content < 32:
            raise _Damaged("mvhd cut short")
        timescale, duration = struct.unpack_from(">IQ", buf, content + 20)
    else:
        if end - content < 20:
            raise _Damaged("mvhd cut short")
        timescale, duration = struct.unpack_from(">II", buf, content + 12)
    if not timescale or not duration:  # 0: a fragmented file keeps its duration elsewhere
        return None
    if duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):  # "unknown" (fragmented files)
        return None
    return float(duration) / float(timescale)


def _find(buf: bytearray, start: int, end: int, path: list[bytes]) -> tuple[int, int] | None:
    """Content start and end of the first box at ``path`` below ``start:end``."""
    for kind, _s, content, box_end in _boxes(buf, start, end):
        if kind == path[0]:
            return (content, box_end) if len(path) == 1 else _find(buf, content, box_end, path[1:])
    return None


def _is_metadata_track(buf: bytearray, content: int, end: int) -> bool:
    hdlr = _find(buf, content, end, [b"mdia", b"hdlr"])
    if hdlr is not None and hdlr[1] - hdlr[0] >= 12 and bytes(buf[hdlr[0] + 8:hdlr[0] + 12]) in _METADATA_HANDLERS:
        return True
    stsd = _find(buf, content, end, [b"mdia", b"minf", b"stbl", b"stsd"])
    if stsd is not None and stsd[1] - stsd[0] >= 16:
        return bytes(buf[stsd[0] + 12:stsd[0] + 16]) in _METADATA_SAMPLES
    return False


def _handler(buf: bytearray, content: int, end: int) -> bytes | None:
    hdlr = _find(buf, content, end, [b"mdia", b"hdlr"])
    if hdlr is None or hdlr[1] - hdlr[0] < 12:
        return None
    return bytes(buf[hdlr[0] + 8:hdlr[0] + 12])


def _zero_samples(buf: bytearray, content: int, end: int) -> None:
    """Overwrite with zeros the sample bytes of the track whose ``trak`` content is ``content:end``."""
    stbl = _find(buf, content, end, [b"mdia", b"minf", b"stbl"])
    if stbl is None:
        return
    offsets: list[int] = []
    per_chunk: list[tuple[int, int]] = []
    sizes: list[int] = []
    fixed_size = 0
    for kind, _s, c, e in _boxes(buf, stbl[0], stbl[1]):
        if kind in (b"stco", b"co64"):
            (count,) = struct.unpack_from(">I", buf, c + 4)
            fmt, width = (">I", 4) if kind == b"stco" else (">Q", 8)
            if c + 8 + count * width > e:
                raise _Damaged("chunk offset table cut short")
            offsets = [struct.unpack_from(fmt, buf, c + 8 + i * width)[0] for i in range(count)]
        elif kind == b"stsc":
            (count,) = struct.unpack_from(">I", buf, c + 4)
            if c + 8 + count * 12 > e:
                raise _Damaged("sample-to-chunk table cut short")
            per_chunk = [struct.unpack_from(">II", buf, c + 8 + i * 12) for i in range(count)]
        elif kind == b"stsz":
            fixed_size, count = struct.unpack_from(">II", buf, c + 4)
            if not fixed_size:
                if c + 12 + count * 4 > e:
                    raise _Damaged("sample size table cut short")
                sizes = [struct.unpack_from(">I", buf, c + 12 + i * 4)[0] for i in range(count)]
            else:
                sizes = [fixed_size] * count
    sample = 0
    entry, samples_here = 0, 0
    for chunk_index, offset in enumerate(offsets, start=1):
        # stsc runs: the last entry whose first chunk is ≤ this chunk applies (one pass, entries in order)
        while entry < len(per_chunk) and per_chunk[entry][0] <= chunk_index:
            samples_here = per_chunk[entry][1]
            entry += 1
        length = sum(sizes[sample:sample + samples_here])
        sample += samples_here
        if offset + length > len(buf):
            raise _Damaged("a chunk lies outside the file")
        buf[offset:offset + length] = bytes(length)


def _clean_isobmff(buf: bytearray) -> tuple[float | None, list[str]]:
    removed: list[str] = []
    duration: float | None = None
    moov = 0
    video_tracks = 0
    for kind, start, content, end in _boxes(buf, 0, len(buf)):
        if kind in _REMOVE:
            _blank_box(buf, start, end)
            removed.append(kind.decode("latin-1"))
        elif kind == b"moov":
            moov += 1
            for k2, s2, c2, e2 in _boxes(buf, content, end):
                if k2 in _REMOVE:
                    _blank_box(buf, s2, e2)
                    removed.append(f"moov/{k2.decode('latin-1')}")
                elif k2 == b"mvhd":
                    duration = _mvhd_duration(buf, c2, e2)
                    _zero_times(buf, c2, e2)
                elif k2 == b"trak":
                    if _is_metadata_track(buf, c2, e2):
                        _zero_samples(buf, c2, e2)
                        _blank_box(buf, s2, e2)
                        removed.append("moov/trak (timed metadata)")
                        continue
                    if _handler(buf, c2, e2) == b"vide":
                        video_tracks += 1
                    _clean_track(buf, c2, e2, removed)
    if moov != 1:
        raise _Damaged("an MP4 / MOV file has exactly one moov box")
    if not video_tracks:
        raise _Damaged("no video track")
    return duration, removed


def _clean_track(buf: bytearray, start: int, end: int, removed: list[str]) -> None:
    for kind, s, content, e in _boxes(buf, start, end):
        if kind in _REMOVE:
            _blank_box(buf, s, e)
            removed.append(f"trak/{kind.decode('latin-1')}")
        elif kind == b"tkhd":
            _zero_times(buf, content, e)
        elif kind == b"mdia":
            for k2, s2, c2, e2 in _boxes(buf, content, e):
                if k2 == b"mdhd":
                    _zero_times(buf, c2, e2)
                elif k2 in _REMOVE:
                    _blank_box(buf, s2, e2)
                    removed.append(f"mdia/{k2.decode('latin-1')}")


# ---------------------------------------------------------------------------------------- WebM

_EBML, _SEGMENT, _INFO, _CLUSTER = 0x1A45DFA3, 0x18538067, 0x1549A966, 0x1F43B675
_TAGS, _ATTACHMENTS, _TITLE, _DATE = 0x1254C367, 0x1941A469, 0x7BA9, 0x4461
_TIMECODE_SCALE, _DURATION, _DOCTYPE = 0x2AD7B1, 0x4489, 0x4282
# Children of a Segment: an element of unknown size (a live recording's Cluster) ends where one starts.
_LEVEL1 = frozenset({0x114D9B74, _INFO, 0x1654AE6B, 0x1043A770, _CLUSTER, 0x1C53BB6B, _ATTACHMENTS, _TAGS})
_UNKNOWN = -1


def _vint(buf: bytearray, pos: int, end: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-size integer at ``pos``: (value, length); ``_UNKNOWN`` for an all-ones size."""
    if pos >= end:
        raise _Damaged("EBML number cut short")
    first = buf[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > end:
        raise _Damaged("bad EBML number")
    value = first if keep_marker else first & (0xFF >> length)
    for b in buf[pos + 1:pos + length]:
        value = (value << 8) | b
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return _UNKNOWN, length
    return value, length


def _elements(buf: bytearray, start: int, end: int, *, stop_at_level1: bool = False,
              depth: int = 0) -> Iterator[tuple[int, int, int, int]]:
    """The EBML elements between ``start`` and ``end``: (id, start, data start, end)."""
    if depth > 2:  # Segment › Cluster is as deep as unknown sizes go; a crafted file must not recurse on
        raise _Damaged("elements of unknown size nested too deep")
    pos = start
    while pos < end:
        element_id, id_len = _vint(buf, pos, end, keep_marker=True)
        if stop_at_level1 and element_id in _LEVEL1:
            return
        size, size_len = _vint(buf, pos + id_len, end, keep_marker=False)
        data = pos + id_len + size_len
        if size == _UNKNOWN:
            if element_id not in (_SEGMENT, _CLUSTER):
                raise _Damaged("unknown size is only allowed for a Segment or a Cluster")
            # Its children run until the next top-level element (or the end).
            child_end = data
            for _i, _s, _d, e in _elements(buf, data, end, stop_at_level1=element_id == _CLUSTER, depth=depth + 1):
                child_end = e
            yield element_id, pos, data, child_end
            pos = child_end
            continue
        if data + size > end:
            raise _Damaged(f"EBML element {element_id:#x} runs past its parent")
        yield element_id, pos, data, data + size
        pos = data + size


def _blank_element(buf: bytearray, start: int, end: int) -> None:
    """Overwrite the element at ``start:end`` with a Void element (0xEC) of the same size, zero-filled."""
    total = end - start
    size_len = 1 if total - 2 < 0x7F else 8
    data_len = total - 1 - size_len
    size_bytes = bytes([0x80 | data_len]) if size_len == 1 else b"\x01" + data_len.to_bytes(7, "big")
    buf[start:end] = b"\xec" + size_bytes + bytes(data_len)


def _clean_webm(buf: bytearray) -> tuple[float | None, list[str]]:
    removed: list[str] = []
    duration: float | None = None
    segments = 0
    items = list(_elements(buf, 0, len(buf)))
    if not items or items[0][0] != _EBML:
        raise _Damaged("no EBML header")
    doctype = next((bytes(buf[d:e]) for i, _s, d, e in _elements(buf, items[0][2], items[0][3]) if i == _DOCTYPE),
                   b"")
    if doctype.rstrip(b"\x00") != b"webm":
        raise _Damaged("not a WebM document")
    for element_id, _start, data, end in items[1:]:
        if element_id != _SEGMENT:
            continue
        segments += 1
        for child, s, d, e in _elements(buf, data, end):
            if child in (_TAGS, _ATTACHMENTS):
                _blank_element(buf, s, e)
                removed.append("Tags" if child == _TAGS else "Attachments")
            elif child == _INFO:
                scale, raw = 1_000_000, None
                for field, fs, fd, fe in _elements(buf, d, e):
                    if field == _TIMECODE_SCALE:
                        scale = int.from_bytes(buf[fd:fe], "big") or 1_000_000
                    elif field == _DURATION and fe - fd in (4, 8):
                        raw = struct.unpack(">f" if fe - fd == 4 else ">d", bytes(buf[fd:fe]))[0]
                    elif field in (_TITLE, _DATE):
                        _blank_element(buf, fs, fe)
                        removed.append("Info/Title" if field == _TITLE else "Info/DateUTC")
                if raw is not None and math.isfinite(raw) and raw >= 0:
                    duration = raw * scale / 1e9
    if segments != 1:
        raise _Damaged("a WebM file has one Segment")
    return duration, removed


def is_video(data: bytes) -> bool:
    """Whether the bytes start like one of the accepted video containers (the rest is checked on save)."""
    return detect_type(data[:64]) in VIDEO_TYPES


def save_video(storage: Storage, data: bytes, *, filename: str | None, content_type: str | None,
               limits: VideoLimits | None = None) -> StoredFile:
    """Check size, container and duration, remove the metadata, and store the clean video.

    413 above ``limits.max_bytes``; 415 when the bytes are not a readable MP4 / MOV / WebM or the declared
    type is not a video; 422 when longer than ``limits.max_seconds``.
    """
    limits = limits or VideoLimits()
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(f"Video tối đa {limits.max_bytes // (1024 * 1024)} MB "
                              f"(the video is {len(data)} bytes; the limit is {limits.max_bytes} bytes).",
                              max_bytes=limits.max_bytes, size=len(data))
    clean, info = clean_video(data, max_seconds=limits.max_seconds)
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if info.content_type in (MP4, MOV) and declared in _ISO_DECLARED:
        declared = info.content_type
    # The storage compares the declared type with the real one (415 when a video is sent as a photo …).
    return storage.save(clean, filename=filename, content_type=declared or None, allowed_types=VIDEO_TYPES,
                        max_bytes=limits.max_bytes)
