"""The invisible watermark: 64 bits that identify the post, embedded with
invisible-watermark's `dwtDctSvd` (the method that survives JPEG best).

Payload: b"vb" + the post id (4 bytes, big-endian) + a CRC-16 of those six
bytes, so a decoder can tell a real payload from noise without knowing the
post. It survives JPEG re-compression, not resizing or cropping — which is
why it is embedded after the final resize.
"""

from __future__ import annotations

import binascii
import importlib.util
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from content.errors import ConfigError

METHOD = "dwtDctSvd"
BITS = 64
MAGIC = b"vb"


@dataclass(frozen=True)
class WatermarkReading:
    payload_hex: str
    post_id: int | None  # None when the checksum does not match: no vibot watermark
    bit_agreement: float | None  # against the expected payload, when one is known


def payload_for(post_id: int) -> bytes:
    head = MAGIC + struct.pack(">I", post_id)
    return head + struct.pack(">H", binascii.crc_hqx(head, 0xFFFF))


def post_id_from(payload: bytes) -> int | None:
    if len(payload) != 8 or payload[:2] != MAGIC:
        return None
    if struct.unpack(">H", payload[6:])[0] != binascii.crc_hqx(payload[:6], 0xFFFF):
        return None
    return int(struct.unpack(">I", payload[2:6])[0])


@cache
def _dwt_dct_svd() -> Any:
    """invisible-watermark's dwtDctSvd class, loaded without the package's __init__.

    The package imports its rivaGan model, and with it torch, on import; dwtDctSvd
    needs only numpy, OpenCV and PyWavelets. Loading the one module keeps torch out
    of API-only servers, which must still verify watermarks before publishing.
    """
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or spec.origin is None:
        raise ConfigError("invisible-watermark is not installed — run `make install`")
    module_spec = importlib.util.spec_from_file_location(
        "vibot_imwatermark_dwtdctsvd", Path(spec.origin).parent / "dwtDctSvd.py"
    )
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.EmbedDwtDctSvd


def _dct_matrix(size: int) -> np.ndarray[Any, Any]:
    """The orthonormal DCT-II matrix: cv2.dct(block) == D @ block @ D.T."""
    k, n = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    matrix: np.ndarray[Any, Any] = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2 / size)
    matrix[0] /= np.sqrt(2)
    return matrix


def _blocks(frame: np.ndarray[Any, Any], size: int) -> np.ndarray[Any, Any]:
    """The frame's whole size×size blocks, in row-major order, as an (N, size, size) array."""
    rows, cols = frame.shape[0] // size, frame.shape[1] // size
    return (
        frame[: rows * size, : cols * size]
        .reshape(rows, size, cols, size)
        .swapaxes(1, 2)
        .reshape(-1, size, size)
    )


@cache
def _vectorised() -> Any:
    """dwtDctSvd with its per-block loops done as one batched DCT + SVD over all blocks.

    The maths and the block order are the library's own (tests check the result against
    it), so files marked either way read the same; a 1080×1920 frame takes ~0.15 s
    instead of ~3.6 s, which matters for reels (one marked frame a second).
    """
    base = _dwt_dct_svd()

    class Vectorised(base):  # type: ignore[misc, valid-type]
        def encode_frame(self, frame: np.ndarray[Any, Any], scale: float) -> None:
            size = self._block
            rows, cols = frame.shape[0] // size, frame.shape[1] // size
            dct = _dct_matrix(size)
            u, s, vh = np.linalg.svd(dct @ _blocks(frame, size) @ dct.T)
            bits = np.resize(np.asarray(self._watermarks, dtype=np.float64), rows * cols)
            s[:, 0] = (s[:, 0] // scale + 0.25 + 0.5 * bits) * scale
            diffused = dct.T @ ((u * s[:, None, :]) @ vh) @ dct
            frame[: rows * size, : cols * size] = (
                diffused.reshape(rows, cols, size, size).swapaxes(1, 2).reshape(rows * size, cols * size)
            )

        def decode_frame(
            self, frame: np.ndarray[Any, Any], scale: float, scores: list[list[int]]
        ) -> list[list[int]]:
            dct = _dct_matrix(self._block)
            strongest = np.linalg.svd(dct @ _blocks(frame, self._block) @ dct.T, compute_uv=False)[:, 0]
            votes = ((strongest % scale) > scale * 0.5).astype(int)
            for bit in range(self._wmLen):
                scores[bit].extend(votes[bit :: self._wmLen].tolist())
            return scores

    return Vectorised


def embed(rgb: np.ndarray[Any, Any], payload: bytes) -> np.ndarray[Any, Any]:
    """`rgb` (H×W×3 uint8) with the payload embedded."""
    bits = list(np.unpackbits(np.frombuffer(payload, dtype=np.uint8)))
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    marked = _vectorised()(bits, wmLen=len(bits)).encode(bgr)
    return np.ascontiguousarray(marked[..., ::-1])


def read(rgb: np.ndarray[Any, Any], expected: bytes | None = None) -> WatermarkReading:
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    bits = _vectorised()([], wmLen=BITS).decode(bgr)
    payload = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
    agreement = None
    if expected is not None:
        got = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
        want = np.unpackbits(np.frombuffer(expected, dtype=np.uint8))
        agreement = float((got == want).mean())
    return WatermarkReading(payload.hex(), post_id_from(payload), agreement)
