"""Deterministic inputs that look like each model's real data (text-like images, speech-like audio, a real
file's bytes, tokenised sentences), so decisions (decoded text, labels, detections) are meaningful."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_MEAN, _STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def text_image(height: int, width: int, lines: int, seed: int) -> np.ndarray:
    """A page: dark glyph-like strokes in lines on a light background, normalised NCHW float32."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 0.92) + rng.normal(0, 0.02, (height, width))
    line_h = height // (lines + 1)
    for row in range(lines):
        top = line_h // 2 + row * line_h
        x = int(width * rng.uniform(0.03, 0.1))
        end = int(width * rng.uniform(0.6, 0.95))
        glyph_h = max(4, int(line_h * 0.55))
        while x < end:
            w = int(rng.integers(max(2, glyph_h // 3), glyph_h))
            for _ in range(int(rng.integers(2, 4))):  # a few strokes per glyph
                y0 = top + int(rng.integers(0, glyph_h // 2))
                x0 = x + int(rng.integers(0, max(1, w - 2)))
                if rng.random() < 0.5:
                    img[y0 : y0 + glyph_h // 2, x0 : x0 + 2] = 0.1
                else:
                    img[y0 : y0 + 2, x : x + w] = 0.1
            x += w + int(rng.integers(1, glyph_h // 2 + 2)) + (glyph_h if rng.random() < 0.15 else 0)
    rgb = np.repeat(img[None], 3, axis=0).clip(0, 1)
    return ((rgb - _MEAN[:, None, None]) / _STD[:, None, None])[None].astype(np.float32)


def photo(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth natural-looking image in [0, 1] (sums of low-frequency waves and blobs), NCHW float32."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    channels = []
    for _ in range(3):
        c = np.zeros((height, width))
        for _ in range(6):
            fy, fx, ph = rng.uniform(0.5, 6, 2).tolist() + [rng.uniform(0, 6.3)]
            c += rng.uniform(0.1, 0.3) * np.sin(2 * np.pi * (fy * yy + fx * xx) + ph)
        for _ in range(4):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
            c += rng.uniform(-0.5, 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)
        channels.append(c)
    img = np.stack(channels)
    img = (img - img.min()) / (img.max() - img.min())
    return img[None].astype(np.float32)


def _resonator(signal: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """A two-pole formant filter (the vocal tract's resonance at `freq`)."""
    r = np.exp(-np.pi * bandwidth / rate)
    a1, a2 = 2 * r * np.cos(2 * np.pi * freq / rate), -r * r
    out = np.zeros_like(signal)
    y1 = y2 = 0.0
    for i, v in enumerate(signal):
        y = v + a1 * y1 + a2 * y2
        out[i], y2, y1 = y, y1, y
    return out


def speech(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Silence, then vowel-like syllables (a glottal pulse train at a gliding pitch through three formant
    resonators, about four syllables a second), then silence again: float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.8 * t)
    phase = np.cumsum(pitch) / rate
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    voice = sum(_resonator(pulses, f, bw, rate) for f, bw in ((700, 90), (1220, 110), (2600, 160)))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    active = (t > seconds * 0.3) & (t < seconds * 0.85)
    audio = voice * syllables * active
    audio = 0.5 * audio / np.abs(audio).max() + 0.002 * rng.standard_normal(t.size)
    return audio.astype(np.float32)


def file_bytes(path: Path, beg: int = 1024, end: int = 1024, block: int = 4096, pad: int = 256) -> np.ndarray:
    """magika's features of a file: its first and last bytes, whitespace-stripped, padded with `pad`."""
    data = path.read_bytes()
    head = (data.strip() if len(data) <= block else data[:block].lstrip())[:beg]
    tail = (data.strip() if len(data) <= block else data[-block:].rstrip())[-end:]
    features = list(head) + [pad] * (beg - len(head)) + [pad] * (end - len(tail)) + list(tail)
    return np.asarray([features], np.int32)
