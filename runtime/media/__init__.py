"""Audio and video: sniffing, safe probing, poster frames, waveforms and ranged reads.

Pure modules (a file object or bytes in, a result out) meant to run in the processing child
(`runtime.sandbox`); none of them creates an AWS client except `ranged`, whose reader is handed a
client by its caller. PyAV (FFmpeg) is imported only by `opening`, `probe`, `poster` and
`waveform`, so the presign function and the image processor never load it.

- `containers`: the real container from the bytes and the alias table of declared types.
- `opening`: the one way this package opens media with FFmpeg (custom IO, fixed demuxer,
  allow-listed decoders, no protocols, bounded probing).
- `probe`: the typed, JSON-safe description of a file, with the limits that refuse it.
- `poster` / `waveform`: the derivatives' source images (Pillow), bounded work.
- `ranged`: a seekable, budgeted S3 reader and the streaming sha256.
- `faults`: every error code the package raises, and the limits' defaults.
"""
