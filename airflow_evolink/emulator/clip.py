"""A tiny real video for the emulator's result files: H.264 in MP4 that browsers decode and play.

Written here, in Python, so the emulator needs no encoder and no download. Every frame is an IDR picture
whose macroblocks are all ``I_PCM`` (raw samples, the simplest macroblock H.264 has): no transform, no
prediction, no entropy coding beyond a few Exp-Golomb header fields. That makes the stream large per pixel,
so the picture is small (64x48, 8 frames at 4 fps: 2 seconds, about 38 KB).

The MP4 puts ``moov`` before ``mdat`` (a "fast start" file), so playback begins before the whole file is
read, and it ends where the caller's padding ``free`` box starts (see ``content.mp4_header``).

References: ITU-T H.264 (08/2021) 7.3.2.1 (SPS), 7.3.2.2 (PPS), 7.3.3 (slice header), 7.3.5 (macroblock
layer, I_PCM is mb_type 25 in I slices); ISO/IEC 14496-12 (MP4 boxes) and 14496-15 5.3.3 (avcC).
"""

from __future__ import annotations

import struct
from functools import lru_cache

WIDTH, HEIGHT = 64, 48
FRAMES = 8
FPS = 4
TIMESCALE = 1000
PROFILE_BASELINE, CONSTRAINTS, LEVEL = 66, 0xC0, 10
#: The RFC 6381 codec string of the stream (for a ``<source type=...>``).
CODEC = f"avc1.{PROFILE_BASELINE:02X}{CONSTRAINTS:02X}{LEVEL:02X}"
_I_PCM = 25


class _Bits:
    """An MSB-first bit writer with the Exp-Golomb codes H.264 headers use."""

    def __init__(self) -> None:
        self._bits: list[int] = []

    def u(self, width: int, value: int) -> None:
        self._bits.extend((value >> shift) & 1 for shift in range(width - 1, -1, -1))

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while len(self._bits) % 8:
            self._bits.append(0)

    def raw(self, data: bytes) -> None:
        assert len(self._bits) % 8 == 0
        for byte in data:
            self.u(8, byte)

    def trailing(self) -> bytes:
        """rbsp_trailing_bits(), then the bytes."""
        self._bits.append(1)
        self.align_zero()
        bits = self._bits
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def _nal(nal_ref_idc: int, nal_unit_type: int, rbsp: bytes) -> bytes:
    """A NAL unit: header byte, then the payload with emulation-prevention bytes inserted."""
    out = bytearray([(nal_ref_idc << 5) | nal_unit_type])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _sps() -> bytes:
    bits = _Bits()
    bits.u(8, PROFILE_BASELINE)
    bits.u(8, CONSTRAINTS)
    bits.u(8, LEVEL)
    bits.ue(0)  # seq_parameter_set_id
    bits.ue(0)  # log2_max_frame_num_minus4
    bits.ue(2)  # pic_order_cnt_type: output order = decoding order
    bits.ue(1)  # max_num_ref_frames
    bits.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    bits.ue(WIDTH // 16 - 1)
    bits.ue(HEIGHT // 16 - 1)
    bits.u(1, 1)  # frame_mbs_only_flag
    bits.u(1, 1)  # direct_8x8_inference_flag
    bits.u(1, 0)  # frame_cropping_flag
    bits.u(1, 0)  # vui_parameters_present_flag
    return _nal(3, 7, bits.trailing())


def _pps() -> bytes:
    bits = _Bits()
    bits.ue(0)  # pic_parameter_set_id
    bits.ue(0)  # seq_parameter_set_id
    bits.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    bits.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    bits.ue(0)  # num_slice_groups_minus1
    bits.ue(0)  # num_ref_idx_l0_default_active_minus1
    bits.ue(0)  # num_ref_idx_l1_default_active_minus1
    bits.u(1, 0)  # weighted_pred_flag
    bits.u(2, 0)  # weighted_bipred_idc
    bits.se(0)  # pic_init_qp_minus26
    bits.se(0)  # pic_init_qs_minus26
    bits.se(0)  # chroma_qp_index_offset
    bits.u(1, 1)  # deblocking_filter_control_present_flag
    bits.u(1, 0)  # constrained_intra_pred_flag
    bits.u(1, 0)  # redundant_pic_cnt_present_flag
    return _nal(3, 8, bits.trailing())


def _picture(frame: int) -> tuple[bytes, bytes, bytes]:
    """Y, Cb, Cr planes (4:2:0, 8 bit): a gradient with a bright square that moves to the right."""
    side = 16
    left = (frame * (WIDTH - side)) // max(1, FRAMES - 1)
    top = (HEIGHT - side) // 2
    luma = bytearray()
    for y in range(HEIGHT):
        for x in range(WIDTH):
            inside = left <= x < left + side and top <= y < top + side
            luma.append(235 if inside else 40 + (x + y) // 2)
    cb = bytes(100 + x for y in range(HEIGHT // 2) for x in range(WIDTH // 2))
    cr = bytes(150 - y for y in range(HEIGHT // 2) for x in range(WIDTH // 2))
    return bytes(luma), cb, cr


def _macroblock(plane: bytes, width: int, mb_x: int, mb_y: int, size: int) -> bytes:
    rows = (plane[(mb_y * size + row) * width + mb_x * size :][:size] for row in range(size))
    return b"".join(rows)


def _idr_slice(frame: int) -> bytes:
    luma, cb, cr = _picture(frame)
    bits = _Bits()
    bits.ue(0)  # first_mb_in_slice
    bits.ue(7)  # slice_type: I (and every slice of the picture is I)
    bits.ue(0)  # pic_parameter_set_id
    bits.u(4, 0)  # frame_num (log2_max_frame_num = 4); 0 for an IDR picture
    bits.ue(frame % 2)  # idr_pic_id: consecutive IDR pictures differ
    bits.u(1, 0)  # no_output_of_prior_pics_flag
    bits.u(1, 0)  # long_term_reference_flag
    bits.se(0)  # slice_qp_delta
    bits.ue(1)  # disable_deblocking_filter_idc: off
    for mb_y in range(HEIGHT // 16):
        for mb_x in range(WIDTH // 16):
            bits.ue(_I_PCM)
            bits.align_zero()  # pcm_alignment_zero_bit
            bits.raw(_macroblock(luma, WIDTH, mb_x, mb_y, 16))
            bits.raw(_macroblock(cb, WIDTH // 2, mb_x, mb_y, 8))
            bits.raw(_macroblock(cr, WIDTH // 2, mb_x, mb_y, 8))
    return _nal(3, 5, bits.trailing())


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def ftyp() -> bytes:
    return _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"avc1", b"mp41")


def _moov(samples: list[bytes], sps: bytes, pps: bytes, first_sample_offset: int) -> bytes:
    delta = TIMESCALE // FPS
    duration = delta * len(samples)
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, TIMESCALE, duration),
        struct.pack(">IH", 0x10000, 0x100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", 2),
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        3,  # enabled, in movie
        struct.pack(">IIII", 0, 0, 1, 0),
        struct.pack(">I", duration),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0),
        _MATRIX,
        struct.pack(">II", WIDTH << 16, HEIGHT << 16),
    )
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, duration, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\0")
    avcc = _box(
        b"avcC",
        bytes([1, PROFILE_BASELINE, CONSTRAINTS, LEVEL, 0xFF, 0xE1]),
        struct.pack(">H", len(sps)),
        sps,
        bytes([1]),
        struct.pack(">H", len(pps)),
        pps,
    )
    avc1 = _box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),
        struct.pack(">HH", WIDTH, HEIGHT),
        struct.pack(">II", 0x480000, 0x480000),
        bytes(4),
        struct.pack(">H", 1),  # frame_count
        bytes(32),  # compressorname
        struct.pack(">Hh", 0x18, -1),
        avcc,
    )
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(samples), delta)),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(samples), 1)),
        _full_box(
            b"stsz", 0, 0, struct.pack(">II", 0, len(samples)), *(struct.pack(">I", len(s)) for s in samples)
        ),
        _full_box(b"stco", 0, 0, struct.pack(">II", 1, first_sample_offset)),
    )  # no stss: every sample is a sync sample
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    return _box(b"moov", mvhd, trak)


@lru_cache(maxsize=1)
def playable_mp4() -> bytes:
    """The whole clip: ``ftyp``, ``moov``, ``mdat`` (each sample one length-prefixed IDR slice)."""
    sps, pps = _sps(), _pps()
    samples = [struct.pack(">I", len(nal)) + nal for nal in map(_idr_slice, range(FRAMES))]
    head = ftyp()
    # moov's size does not depend on the offset value, so measure it once with a placeholder.
    moov_size = len(_moov(samples, sps, pps, 0))
    moov = _moov(samples, sps, pps, len(head) + moov_size + 8)
    return head + moov + _box(b"mdat", *samples)
