"""Writes the example personas' colour LUT and music bed (made here, so they are free to use).

python scripts/make_demo_assets.py
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from content.reels.encode import ffmpeg_exe

PERSONAS = Path(__file__).resolve().parent.parent / "personas"


def warm_film_lut(path: Path, size: int = 17) -> Path:
    """A gentle film look: soft S-curve, teal shadows, warm highlights."""
    steps = np.linspace(0.0, 1.0, size)
    lines = ['TITLE "vibot warm film"', f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0 0 0", "DOMAIN_MAX 1 1 1"]
    for b in steps:  # .cube order: red changes fastest
        for g in steps:
            for r in steps:
                rgb = np.array([r, g, b])
                luma = float(rgb @ np.array([0.2126, 0.7152, 0.0722]))
                curved = rgb + 0.12 * np.sin(2 * np.pi * rgb) * -0.5  # soft S-curve
                tint = np.array([0.04, 0.01, -0.04]) * luma + np.array([-0.02, 0.01, 0.03]) * (1 - luma)
                out = np.clip(curved + tint, 0.0, 1.0)
                lines.append(f"{out[0]:.6f} {out[1]:.6f} {out[2]:.6f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def music_bed(path: Path, seconds: float = 12.0, rate: int = 44100) -> Path:
    """Four soft chords with a pulse: a plain, loopable bed."""
    t = np.arange(int(seconds * rate)) / rate
    chords = [
        (220.0, 277.18, 329.63),
        (196.0, 246.94, 293.66),
        (174.61, 220.0, 261.63),
        (196.0, 246.94, 329.63),
    ]
    bar = seconds / len(chords)
    signal = np.zeros_like(t)
    for index, chord in enumerate(chords):
        inside = (t >= index * bar) & (t < (index + 1) * bar)
        local = t[inside] - index * bar
        envelope = np.minimum(1.0, local / 0.3) * np.exp(-local / (bar * 1.5))
        for freq in chord:
            signal[inside] += envelope * (
                np.sin(2 * np.pi * freq * local) + 0.3 * np.sin(4 * np.pi * freq * local)
            )
    pulse = (np.sin(2 * np.pi * 2.0 * t) > 0.95) * np.sin(2 * np.pi * 60 * t) * 0.8
    signal = (signal / np.abs(signal).max()) * 0.5 + pulse * 0.3
    stereo = np.stack([signal, np.roll(signal, 200)], axis=1)
    with tempfile.TemporaryDirectory() as workdir:
        wav = Path(workdir) / "bed.wav"
        with wave.open(str(wav), "wb") as handle:
            handle.setnchannels(2)
            handle.setsampwidth(2)
            handle.setframerate(rate)
            handle.writeframes((stereo * 32767 * 0.8).astype(np.int16).tobytes())
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "96k", str(path)],
            check=True,
        )
    return path


if __name__ == "__main__":
    print(warm_film_lut(PERSONAS / "luts" / "warm-film.cube"))
    print(music_bed(PERSONAS / "music" / "kai-bed.m4a"))
