"""Generated audio/video samples and the hostile media corpus (issue 12, points 2-4).

Everything is encoded here with PyAV (FFmpeg's encoders shipped in its wheels): nothing binary is
checked in, nothing is downloaded. Builders are deterministic for a given PyAV build and cached
per process. Hostile entries carry the error code `runtime.media` owes them; every one of them
must fail with that code and read nothing outside its own bytes (tests/media/test_hostile.py
proves it under a file-access audit).

The big video (`long_video`) is made cheaply: one GOP is encoded once and its packets muxed again
and again with shifted timestamps, so a 30 s 1080p file costs one second of encoding.
"""

from __future__ import annotations

import io
import math
import os
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import cast

import av
from av.audio.stream import AudioStream
from av.video.stream import VideoStream
from PIL import Image

from runtime.media import faults

# The substitute for a secret: hostile files point at a canary file holding it (and at
# /proc/self/environ and /etc/passwd, which hold the real ones); no output may ever contain it.
CANARY_TOKEN = "MEDIAKIT-CANARY-7f3c2e19"  # noqa: S105 - a marker, not a secret
Path_ = str  # a filesystem path, as hostile files spell it inside their bytes


@dataclass(frozen=True)
class MediaSample:
    """A valid sample: bytes, what a client declares, and what the probe must find."""

    name: str
    build: Callable[[], bytes]
    declared_type: str
    kind: str
    container: str
    video_codec: str | None = None
    audio_codec: str | None = None
    rotation: int = 0

    @property
    def data(self) -> bytes:
        return _cached(self.name, self.build)


@dataclass(frozen=True)
class HostileMedia:
    """A hostile media file and the permanent error code it must end with."""

    name: str
    build: Callable[[Path_], bytes]
    declared_type: str
    code: str
    description: str

    def data(self, canary: Path_) -> bytes:
        return self.build(canary)


_cache: dict[str, bytes] = {}


def _cached(name: str, build: Callable[[], bytes]) -> bytes:
    if name not in _cache:
        _cache[name] = build()
    return _cache[name]


# --- encoders ------------------------------------------------------------------------------------


def _tone(seconds: float, rate: int, channels: int, frequency: float = 440.0) -> list[bytes]:
    """Interleaved float32 chunks of 1024 samples per channel: a tone with a slow swell, so a
    waveform shows structure."""
    chunks = []
    total = int(seconds * rate)
    for start in range(0, total, 1024):
        count = min(1024, total - start)
        values = []
        for i in range(start, start + count):
            envelope = 0.2 + 0.7 * abs(math.sin(math.pi * i / total * 3))
            sample = envelope * math.sin(2 * math.pi * frequency * i / rate)
            values.extend([sample] * channels)
        chunks.append(struct.pack(f"<{len(values)}f", *values))
    return chunks


def _audio_frames(
    stream: av.audio.stream.AudioStream, seconds: float, rate: int, channels: int
) -> list[av.AudioFrame]:
    layout = "mono" if channels == 1 else "stereo"
    frames = []
    pts = 0
    for chunk in _tone(seconds, rate, channels):
        samples = len(chunk) // (4 * channels)
        frame = av.AudioFrame(format="flt", layout=layout, samples=samples)
        frame.planes[0].update(chunk)
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        pts += samples
        frames.append(frame)
    return frames


def _picture(index: int, size: tuple[int, int]) -> Image.Image:
    """A frame that changes over time: a moving bar on a colour that drifts."""
    width, height = size
    image = Image.new("RGB", size, ((index * 7) % 256, 90, 200 - (index * 3) % 150))
    bar = (index * max(1, width // 40)) % width
    image.paste((250, 250, 250), (bar, 0, min(width, bar + max(2, width // 16)), height))
    # An asymmetric marker (top-left) shows whether a rotation was applied.
    image.paste((255, 0, 0), (0, 0, max(1, width // 4), max(1, height // 4)))
    return image


def encode_video(
    fmt: str,
    codec: str,
    *,
    size: tuple[int, int] = (160, 120),
    seconds: float = 2.0,
    fps: int = 15,
    audio_codec: str | None = None,
    rotation: int = 0,
    streams_of_audio: int = 0,
    pix_fmt: str = "yuv420p",
) -> bytes:
    """A small video (optionally with audio, a display rotation, or extra audio streams)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        video = cast(VideoStream, container.add_stream(codec, rate=fps))
        video.width, video.height = size
        video.pix_fmt = pix_fmt
        video.options = {"preset": "ultrafast"} if codec == "libx264" else {}
        if rotation:
            video.set_display_rotation(rotation)
        audio = (
            cast(AudioStream, container.add_stream(audio_codec, rate=48000))
            if audio_codec
            else None
        )
        if audio is not None:
            audio.layout = "stereo"
        extras = [
            container.add_stream("pcm_s16le", rate=8000, layout="mono")
            for _ in range(streams_of_audio)
        ]
        for index in range(int(seconds * fps)):
            frame = av.VideoFrame.from_image(_picture(index, size))  # type: ignore[no-untyped-call]
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if audio is not None:
            for frame in _audio_frames(audio, seconds, 48000, 2):
                container.mux(audio.encode(frame))
            container.mux(audio.encode(None))
        for extra in extras:
            for frame in _audio_frames(extra, 0.2, 8000, 1):
                container.mux(extra.encode(frame))
            container.mux(extra.encode(None))
    return buffer.getvalue()


def encode_audio(
    fmt: str,
    codec: str,
    *,
    seconds: float = 3.0,
    rate: int = 48000,
    channels: int = 2,
    live: bool = False,
) -> bytes:
    """A short tone in `fmt` coded with `codec`. `live`: WebM as browsers' MediaRecorder writes
    it, without a duration or cues (the muxer cannot seek back to write them)."""
    buffer = io.BytesIO()
    options = {"live": "1"} if live else {}
    with av.open(buffer, "w", format=fmt, container_options=options) as container:
        stream = cast(AudioStream, container.add_stream(codec, rate=rate))
        stream.layout = "mono" if channels == 1 else "stereo"
        for frame in _audio_frames(stream, seconds, rate, channels):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def long_video(
    *, size: tuple[int, int] = (1920, 1080), seconds: int = 30, fps: int = 30, detail: int = 4
) -> bytes:
    """A `seconds`-long H.264 MP4 (moov at the end, as FFmpeg writes it) made from one encoded
    one-second GOP muxed `seconds` times: tens of MB in about a second of encoding.

    `detail` scales the noise texture (and so the bit rate): 4 gives about 1 MB a second.
    """
    rng = random.Random(12)
    width, height = size
    small = (width // detail, height // detail)
    tile = Image.frombytes("L", small, rng.randbytes(small[0] * small[1]))
    tile = tile.resize(size, Image.Resampling.NEAREST)
    mask = tile.point(lambda v: 255 if v > 96 else 0)
    texture = tile.convert("RGB")
    encoded = io.BytesIO()
    with av.open(encoded, "w", format="h264") as scratch:
        stream = scratch.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(fps), "keyint_min": str(fps), "bf": "0"}
        packets: list[tuple[bytes, bool]] = []
        for index in range(fps):
            image = _picture(index, size)
            image = Image.composite(image, texture, mask)
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            packets.extend((bytes(p), p.is_keyframe) for p in stream.encode(frame))
        packets.extend((bytes(p), p.is_keyframe) for p in stream.encode(None))
        extradata = stream.codec_context.extradata
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        video = container.add_stream("h264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.time_base = Fraction(1, fps)
        if extradata:
            video.codec_context.extradata = extradata
        for second in range(seconds):
            for index, (payload, key) in enumerate(packets):
                packet = av.Packet(payload)
                packet.stream = video
                packet.pts = packet.dts = second * fps + index
                packet.time_base = Fraction(1, fps)
                packet.is_keyframe = key
                container.mux(packet)
    return out.getvalue()


def mp3_with_cover(seconds: float = 2.0) -> bytes:
    """An MP3 carrying cover art (an attached PNG picture, as music libraries write it)."""
    cover = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 200, 0)).save(cover, "PNG")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        audio = container.add_stream("libmp3lame", rate=48000)
        audio.layout = "stereo"
        picture = container.add_stream("png")
        picture.width = picture.height = 64
        picture.pix_fmt = "rgb24"
        picture.disposition = av.stream.Disposition.attached_pic
        packet = av.Packet(cover.getvalue())
        packet.stream = picture
        packet.pts = packet.dts = 0
        container.mux(packet)
        for frame in _audio_frames(audio, seconds, 48000, 2):
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return buffer.getvalue()


# --- the valid samples ---------------------------------------------------------------------------


def _mp4_h264_aac() -> bytes:
    return encode_video("mp4", "libx264", audio_codec="aac")


SAMPLES: tuple[MediaSample, ...] = (
    MediaSample("clip.mp4", _mp4_h264_aac, "video/mp4", "video", "mp4", "h264", "aac"),
    MediaSample(
        "rotated.mov",
        lambda: encode_video("mov", "libx264", size=(160, 96), rotation=-90),
        "video/quicktime",
        "video",
        "mov",
        "h264",
        rotation=90,
    ),
    MediaSample(
        "clip.webm",
        lambda: encode_video("webm", "libvpx", audio_codec="libopus"),
        "video/webm",
        "video",
        "webm",
        "vp8",
        "opus",
    ),
    MediaSample(
        "clip.mkv",
        lambda: encode_video("matroska", "libx264"),
        "video/x-matroska",
        "video",
        "matroska",
        "h264",
    ),
    MediaSample(
        "voice.webm",
        lambda: encode_audio("webm", "libopus", channels=1),
        "audio/webm;codecs=opus",
        "audio",
        "webm",
        audio_codec="opus",
    ),
    MediaSample(
        "recorder.webm",
        lambda: encode_audio("webm", "libopus", channels=1, live=True),
        "audio/webm;codecs=opus",
        "audio",
        "webm",
        audio_codec="opus",
    ),
    MediaSample(
        "song.mp3",
        lambda: encode_audio("mp3", "libmp3lame"),
        "audio/mp3",
        "audio",
        "mp3",
        audio_codec="mp3",
    ),
    MediaSample("cover.mp3", mp3_with_cover, "audio/mpeg", "audio", "mp3", audio_codec="mp3"),
    MediaSample(
        "song.m4a",
        lambda: encode_audio("ipod", "aac"),
        "audio/x-m4a",
        "audio",
        "mp4",
        audio_codec="aac",
    ),
    MediaSample(
        "song.aac",
        lambda: encode_audio("adts", "aac"),
        "audio/aac",
        "audio",
        "aac",
        audio_codec="aac",
    ),
    MediaSample(
        "song.wav",
        lambda: encode_audio("wav", "pcm_s16le", rate=22050),
        "audio/x-wav",
        "audio",
        "wav",
        audio_codec="pcm_s16le",
    ),
    MediaSample(
        "song.ogg",
        lambda: encode_audio("ogg", "libopus"),
        "audio/ogg",
        "audio",
        "ogg",
        audio_codec="opus",
    ),
    MediaSample(
        "song.flac",
        lambda: encode_audio("flac", "flac", rate=44100),
        "audio/flac",
        "audio",
        "flac",
        audio_codec="flac",
    ),
    MediaSample(
        "recording.mp4",
        lambda: encode_audio("mp4", "aac", channels=1),
        "video/mp4",
        "audio",
        "mp4",
        audio_codec="aac",
    ),
)


def sample(name: str) -> MediaSample:
    """One sample by name."""
    for entry in SAMPLES:
        if entry.name == name:
            return entry
    raise KeyError(name)


# --- hostile builders


def hls_playlist(canary: Path_) -> bytes:
    """An HLS playlist saved as `.mp4`: segments at /proc/self/environ (the role's credentials
    on Lambda), /etc/passwd and the canary, the way published FFmpeg SSRF/LFI exploits do."""
    return (
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:10\n"
        "#EXTINF:10.0,\nfile:///proc/self/environ\n"
        "#EXTINF:10.0,\nfile:///etc/passwd\n"
        f"#EXTINF:10.0,\nfile://{canary}\n"
        f"#EXTINF:10.0,\nconcat:file://{canary}|subfile,,start,0,end,0,,:{canary}\n"
        "#EXT-X-ENDLIST\n"
    ).encode()


def ffconcat_list(canary: Path_) -> bytes:
    """An ffconcat list: FFmpeg's concat demuxer would open every named file."""
    return (
        "ffconcat version 1.0\nfile /proc/self/environ\nfile /etc/passwd\n"
        f"file {canary}\nfile 'file:{canary}'\n"
    ).encode()


def image2_disguise(canary: Path_) -> bytes:
    """A PNG named as a video: FFmpeg's image2 demuxer (and its `%d` patterns) would take it."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def mp4_without_moov(canary: Path_) -> bytes:
    """A real MP4 cut before its `moov` (FFmpeg writes it last): ftyp + mdat only."""
    data = sample("clip.mp4").data
    moov = data.find(b"moov") - 4
    assert moov > 0
    return data[:moov]


def zero_duration_wav(canary: Path_) -> bytes:
    """A well-formed WAV header whose data chunk is empty: nothing to play, nothing to draw."""
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 0)
    return b"RIFF" + struct.pack("<I", len(riff)) + riff


def absurd_dimensions_webm(canary: Path_) -> bytes:
    """A VP8 WebM whose container and key frame both claim 16383x16383 (268 megapixels)."""
    data = bytearray(encode_video("webm", "libvpx", size=(64, 64), seconds=0.4))
    # Matroska PixelWidth (0xB0) / PixelHeight (0xBA) with a 1-byte size and a 1-byte value 64.
    for element in (b"\xb0\x81\x40", b"\xba\x81\x40"):
        at = data.find(element)
        assert at > 0
        data[at : at + 3] = element[:1] + b"\x82" + b"\x3f\xff"
        # The element grew by one byte: the Video master and Tracks sizes are not patched, so
        # write them as 'unknown size' (all ones), which Matroska allows for masters.
    key = data.find(b"\x9d\x01\x2a")  # VP8 key frame start code, then 14-bit width, height
    assert key > 0
    data[key + 3 : key + 7] = struct.pack("<HH", 0x3FFF, 0x3FFF)
    return _matroska_unknown_sizes(bytes(data))


def _matroska_unknown_sizes(data: bytes) -> bytes:
    """Mark the Segment, Tracks, TrackEntry and Video masters' sizes unknown (8-byte all-ones
    vints) so an edited element inside them does not break their declared lengths."""
    out = bytearray(data)
    for element_id in (b"\x18\x53\x80\x67", b"\x16\x54\xae\x6b", b"\xae", b"\xe0"):
        at = out.find(element_id)
        if at < 0:
            continue
        size_at = at + len(element_id)
        length = 8 - out[size_at].bit_length() + 1
        out[size_at : size_at + length] = b"\x01" + b"\xff" * (length - 1)
    return bytes(out)


def wav_claiming_2_32_samples(canary: Path_) -> bytes:
    """A WAV whose RIFF and data sizes say 4 GiB (2^32 bytes of 8-bit mono, so 2^32 samples)
    while 8,000 samples follow."""
    rate = 8000
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    body = bytes(128 + int(60 * math.sin(i / 5)) for i in range(rate))
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
        + body
    )


def mp3_declared_as_video(canary: Path_) -> bytes:
    return sample("song.mp3").data


def video_declared_as_audio(canary: Path_) -> bytes:
    return sample("clip.mp4").data


def too_many_streams_mkv(canary: Path_) -> bytes:
    """A Matroska file with one video and 40 audio streams (limit: 16)."""
    return encode_video("matroska", "libx264", size=(32, 32), seconds=0.2, streams_of_audio=40)


def quicktime_data_reference(canary: Path_) -> bytes:
    """A MOV whose video samples live in another file: its `dref` holds a `url ` entry naming
    the canary (FFmpeg follows such references only with `enable_drefs`)."""
    data = bytearray(encode_video("mov", "libx264", size=(32, 32), seconds=0.4))
    at = data.find(b"url \x00\x00\x00\x01")  # the self-contained flag set: data in this file
    assert at > 0
    # Clear the flag; the `url ` entry has no room for a name, so the reference is the
    # file's own name (which FFmpeg resolves against its input's URL).
    data[at + 7] = 0
    mdat = data.find(b"mdat")
    # Zero the samples so only a followed reference could give the decoder a picture.
    data[mdat + 4 : data.find(b"moov") - 4] = bytes(data.find(b"moov") - 4 - mdat - 4)
    return bytes(data)


def _not_media(canary: Path_) -> bytes:
    return b"<!doctype html><script>alert(1)</script>" + os.urandom(0)


HOSTILE: tuple[HostileMedia, ...] = (
    HostileMedia(
        "hls-playlist.mp4",
        hls_playlist,
        "video/mp4",
        faults.NOT_MEDIA,
        "HLS playlist naming /proc/self/environ, /etc/passwd and the canary",
    ),
    HostileMedia(
        "ffconcat.mp4",
        ffconcat_list,
        "video/mp4",
        faults.NOT_MEDIA,
        "ffconcat list naming /proc/self/environ, /etc/passwd and the canary",
    ),
    HostileMedia(
        "image2.mp4",
        image2_disguise,
        "video/mp4",
        faults.NOT_MEDIA,
        "a PNG an image2 demuxer would accept, named as a video",
    ),
    HostileMedia("html.webm", _not_media, "video/webm", faults.NOT_MEDIA, "HTML declared as WebM"),
    HostileMedia(
        "no-moov.mp4",
        mp4_without_moov,
        "video/mp4",
        faults.TRUNCATED,
        "an MP4 cut before its moov atom",
    ),
    HostileMedia(
        "zero-duration.wav",
        zero_duration_wav,
        "audio/wav",
        faults.ZERO_DURATION,
        "a WAV with an empty data chunk",
    ),
    HostileMedia(
        "absurd-dimensions.webm",
        absurd_dimensions_webm,
        "video/webm",
        faults.FRAME_TOO_LARGE,
        "a WebM claiming 16383x16383 frames",
    ),
    HostileMedia(
        "2-32-samples.wav",
        wav_claiming_2_32_samples,
        "audio/wav",
        faults.TRUNCATED,
        "a WAV header claiming 2^32 samples with 8,000 present",
    ),
    HostileMedia(
        "mp3-as-video.mp4",
        mp3_declared_as_video,
        "video/mp4",
        faults.TYPE_MISMATCH,
        "an MP3 declared as video/mp4",
    ),
    HostileMedia(
        "video-as-audio.m4a",
        video_declared_as_audio,
        "audio/mp4",
        faults.TYPE_MISMATCH,
        "an MP4 with video declared as audio/mp4",
    ),
    HostileMedia(
        "many-streams.mkv",
        too_many_streams_mkv,
        "video/x-matroska",
        faults.TOO_MANY_STREAMS,
        "41 streams in one Matroska file",
    ),
    HostileMedia(
        "data-reference.mov",
        quicktime_data_reference,
        "video/quicktime",
        faults.CORRUPT_MEDIA,
        "a MOV whose samples are said to live in another file",
    ),
)


@cache
def hostile_names() -> tuple[str, ...]:
    return tuple(entry.name for entry in HOSTILE)


# --- `make demo`'s audio and video -------------------------------------------------------------


@dataclass(frozen=True)
class DemoMedia:
    """A generated demo file, what a client declares, and the outcome the pipeline owes."""

    filename: str
    data: bytes
    declared_type: str
    expected_status: str
    expected_code: str | None
    description: str


def demo_media(canary: Path_) -> list[DemoMedia]:
    """The demo's audio and video, generated here with PyAV (nothing downloaded): a short MP4
    with sound, a voice memo as iPhones declare it, and an HLS playlist posing as an MP4."""
    hls = next(h for h in HOSTILE if h.name == "hls-playlist.mp4")
    return [
        DemoMedia(
            "short-clip.mp4",
            encode_video("mp4", "libx264", size=(640, 360), seconds=4.0, fps=24, audio_codec="aac"),
            "video/mp4",
            "completed",
            None,
            "4 s H.264/AAC MP4: probed over ranged GETs, poster frame rendered to the specs",
        ),
        DemoMedia(
            "voice-memo.m4a",
            encode_audio("ipod", "aac", seconds=6.0, channels=1),
            "audio/x-m4a",
            "completed",
            None,
            "AAC voice memo declared audio/x-m4a (a browser alias): a 1200x200 waveform",
        ),
        DemoMedia(
            "playlist-as.mp4",
            hls.data(canary),
            hls.declared_type,
            "failed",
            hls.code,
            "an HLS playlist naming /proc/self/environ, uploaded as an MP4: never followed",
        ),
    ]
