"""Ảnh phản ánh — check uploaded photos and remove their EXIF data before anybody can see them.

A phone photo carries EXIF metadata: the exact GPS position where it was taken, the phone model,
sometimes the owner's name. The platform publishes report photos on a public map, so every photo is
decoded and written again *without* metadata (the pixels are kept, turned upright first). Only
JPEG and PNG are accepted; the real type is read from the bytes by ``core.storage``.
"""

from __future__ import annotations

import io
import warnings

from smartprovince.core.errors import UnsupportedMediaType, ValidationProblem
from smartprovince.core.storage import JPEG, PNG, Storage, StoredFile, detect_type

PHOTO_TYPES = (JPEG, PNG)
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_PHOTOS = 5


def strip_metadata(data: bytes) -> bytes:
    """The same picture as ``data`` (JPEG or PNG) without EXIF, XMP or text chunks.

    Raises ``UnsupportedMediaType`` when the bytes are not a readable JPEG or PNG picture.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    kind = detect_type(data)
    if kind not in PHOTO_TYPES:
        raise UnsupportedMediaType("Chỉ nhận ảnh JPEG hoặc PNG (only JPEG or PNG photos are accepted).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ValidationProblem("Ảnh quá lớn (the picture has too many pixels).")
            image.load()
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            SyntaxError, ValueError) as exc:
        raise UnsupportedMediaType("Không đọc được ảnh (the picture cannot be read).") from exc
    out = io.BytesIO()
    if kind == JPEG:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=88)
    else:
        clean = Image.new(image.mode, image.size)
        clean.paste(image)
        clean.save(out, format="PNG")
    return out.getvalue()


def save_photo(storage: Storage, data: bytes, *, filename: str | None, content_type: str | None) -> StoredFile:
    """Check size and type, strip metadata, and store the clean photo; returns the stored file."""
    if len(data) > MAX_PHOTO_BYTES:
        # The storage refuses it too; checking first avoids decoding a huge file.
        return storage.save(data, filename=filename, content_type=content_type, allowed_types=PHOTO_TYPES,
                            max_bytes=MAX_PHOTO_BYTES)
    clean = strip_metadata(data)
    # The declared type is checked against the real one by the storage (415 when they differ).
    return storage.save(clean, filename=filename, content_type=content_type,
                        allowed_types=PHOTO_TYPES, max_bytes=MAX_PHOTO_BYTES)
