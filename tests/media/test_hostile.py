"""Hostile media: every file ends with its stable code and reads nothing outside its own bytes.

"Reads nothing" is proven, not assumed (see conftest.run_audited): the kernel's read-syscall
count of the child doing the work, inotify on a canary file the hostile files name, and a
Python audit hook. Two positive controls show the witnesses do catch FFmpeg reading the canary
when it is opened naively, so a green run means something.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest
from media_support import Audit, run_audited

from mediakit.corpus import media
from mediakit.corpus.media import CANARY_TOKEN
from runtime.media import faults, opening
from runtime.media.containers import Sniffed
from runtime.media.faults import DEFAULT_LIMITS
from runtime.media.poster import poster
from runtime.media.probe import probe
from runtime.media.waveform import waveform


def _probe(data: bytes, declared: str) -> str:
    return repr(probe(io.BytesIO(data), declared))


def _derive(data: bytes, declared: str) -> str:
    """What the processor will do: a poster for video types, a waveform for audio types."""
    if declared.startswith("video/"):
        return repr(poster(io.BytesIO(data), declared).info)
    return repr(waveform(io.BytesIO(data), declared).info)


@pytest.mark.parametrize("entry", media.HOSTILE, ids=lambda h: h.name)
def test_hostile_file_fails_with_its_code_and_reads_nothing_else(
    entry: media.HostileMedia, canary: Path
) -> None:
    # GIVEN a hostile file naming the canary, /etc/passwd and /proc/self/environ
    data = entry.data(str(canary))
    # WHEN probed and its derivative attempted, under the audit
    for fn in (_probe, _derive):
        audit = run_audited(fn, data, entry.declared_type, canary=canary)
        # THEN its code, nothing read outside its bytes, no secret in what comes back
        assert audit.outcome == entry.code, audit.message
        assert audit.read_nothing_outside, audit
        assert CANARY_TOKEN not in audit.message
        assert "root:" not in audit.message


def test_audit_sees_a_naive_ffconcat_open_read_the_canary(canary: Path) -> None:
    # Positive control: FFmpeg's concat demuxer with safe=0, opened the naive way, reads it.
    data = f"ffconcat version 1.0\nfile {canary}\n".encode()

    def naive() -> None:
        with av.open(io.BytesIO(data), format="concat", options={"safe": "0"}):
            pass

    audit = run_audited(naive, canary=canary)
    assert audit.canary_events > 0
    assert audit.read_syscalls > 0
    assert not audit.read_nothing_outside


def test_audit_sees_a_naive_hls_open_read_the_canary(canary: Path) -> None:
    # Positive control: the HLS demuxer, fixed by hand, opens a `.ts` segment by file URL.
    data = _playlist(canary)

    def naive() -> None:
        with av.open(io.BytesIO(data), format="hls"):
            pass

    audit = run_audited(naive, canary=canary)
    assert audit.canary_events > 0
    assert not audit.read_nothing_outside


def _playlist(canary: Path) -> bytes:
    return (
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile://{canary}\n#EXT-X-ENDLIST\n"
    ).encode()


def _open_with_guards(data: bytes, demuxer: str) -> str:
    sniffed = Sniffed("mp4", demuxer)
    with opening.open_media(io.BytesIO(data), sniffed, DEFAULT_LIMITS) as container:
        return container.format.name


def test_a_demuxer_outside_the_allow_list_is_refused_even_if_the_sniffer_were_fooled(
    canary: Path,
) -> None:
    # GIVEN a sniff result forged to name the HLS demuxer  THEN refused before FFmpeg runs
    audit = run_audited(_open_with_guards, _playlist(canary), "hls", canary=canary)
    assert audit.outcome == faults.NOT_MEDIA
    assert audit.read_nothing_outside


@pytest.mark.parametrize("demuxer", ["hls", "concat"])
def test_protocols_and_nested_opens_stop_reads_even_with_a_nested_demuxer_allowed(
    demuxer: str, canary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the allow-list broken on purpose (a future mistake) to admit a nested demuxer
    monkeypatch.setattr(opening, "ALLOWED_DEMUXERS", opening.ALLOWED_DEMUXERS | {demuxer})
    data = (
        _playlist(canary)
        if demuxer == "hls"
        else f"ffconcat version 1.0\nfile {canary}\nfile 'file:{canary}'\n".encode()
    )
    # WHEN FFmpeg runs that demuxer through open_media
    audit: Audit = run_audited(_open_with_guards, data, demuxer, canary=canary)
    # THEN the nested open is refused (io_open or the empty protocol whitelist, or the
    # format whitelist) and the canary is never touched
    assert audit.outcome in (faults.NESTED_REFERENCE, faults.CORRUPT_MEDIA), audit
    assert audit.canary_events == 0
    assert audit.read_nothing_outside, audit


def test_valid_samples_read_nothing_outside_their_bytes_either(canary: Path) -> None:
    # The audit is not failing everything: a valid probe passes it with an ok outcome.
    sample = media.sample("clip.mp4")
    audit = run_audited(_derive, sample.data, sample.declared_type, canary=canary)
    assert audit.outcome == "ok"
    assert audit.read_nothing_outside, audit
