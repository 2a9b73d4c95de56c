"""Audio to spikes in the SHD layout: a cochlea-like filterbank and one spiking unit per channel.

Pipeline (all vectorized over channels and frames):

1. short-time Fourier transform (1 ms hop) of the waveform resampled to 16 kHz;
2. a bank of ``n_channels`` (700 like SHD) band-pass filters with log-spaced centre frequencies
   between ``f_min`` and ``f_max`` (triangular on a log-frequency axis, overlapping like hair cells
   along the basilar membrane), applied to the power spectrum;
3. rectification and compression (``log1p`` of the normalized band energy: loudness);
4. a noise floor (energies below ``floor`` are silent) and a gain;
5. spike generation: each channel is an integrate-and-fire unit driven by its compressed energy,
   emitting a spike (and subtracting its threshold) whenever the integral crosses it, with a
   small refractory effect from the subtraction.  Spike times get sub-millisecond jitter-free
   placement by linear interpolation inside the 1 ms frame.

The result has SHD's shape: events ``(t µs, x = channel)``, roughly 10^3-10^4 spikes per second
of speech with the default gain (at most ``gain`` spikes per channel per millisecond at full
loudness; band energies below ``floor`` of the recording's loudest level are silent).
"""

from __future__ import annotations

import numpy as np

from neuro.datasets.events import make_events


class CochleaEncoder:
    """Turn a waveform into SHD-style audio events."""

    def __init__(
        self,
        n_channels: int = 700,
        f_min: float = 80.0,
        f_max: float = 7800.0,
        sample_rate: int = 16000,
        hop_ms: float = 1.0,
        n_fft: int = 512,
        gain: float = 0.12,
        floor: float = 0.3,
        threshold: float = 1.0,
    ) -> None:
        if f_max >= sample_rate / 2:
            f_max = 0.95 * sample_rate / 2
        self.n_channels, self.sample_rate = n_channels, sample_rate
        self.hop = int(round(sample_rate * hop_ms / 1000))
        self.hop_us = int(round(hop_ms * 1000))
        self.n_fft, self.gain, self.floor, self.threshold = n_fft, gain, floor, threshold
        freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
        df = freqs[1]
        centres = np.geomspace(f_min, f_max, n_channels)
        # each filter spans about 4 neighbouring centres on the log axis, and at least 2 FFT bins
        step = np.log(f_max / f_min) / max(n_channels - 1, 1)
        half = np.maximum(centres * (np.exp(2 * step) - 1), 1.0 * df)
        w = np.clip(1 - np.abs(freqs[None, :] - centres[:, None]) / half[:, None], 0, None)
        w /= np.maximum(w.sum(1, keepdims=True), 1e-9)
        self.weights = w.astype(np.float32)  # [channels, freqs]
        self.window = np.hanning(n_fft).astype(np.float32)

    def _resample(self, wave: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.sample_rate:
            return wave.astype(np.float32)
        from scipy.signal import resample_poly

        g = np.gcd(rate, self.sample_rate)
        return resample_poly(wave, self.sample_rate // g, rate // g).astype(np.float32)

    def envelope(self, wave: np.ndarray, rate: int) -> np.ndarray:
        """Compressed band energies ``[frames, channels]`` (frames are ``hop_ms`` apart)."""
        x = self._resample(np.asarray(wave, np.float32), rate)
        peak = np.abs(x).max()
        if peak > 0:
            x = x / peak
        pad = self.n_fft // 2
        x = np.pad(x, (pad, pad))
        n_frames = 1 + (len(x) - self.n_fft) // self.hop
        idx = np.arange(self.n_fft)[None, :] + self.hop * np.arange(n_frames)[:, None]
        spec = np.abs(np.fft.rfft(x[idx] * self.window, axis=1)) ** 2
        bands = spec.astype(np.float32) @ self.weights.T
        ref = np.percentile(bands, 99) + 1e-12
        return np.log1p(bands / ref * 100.0) / np.log1p(100.0)

    def encode(self, wave: np.ndarray, rate: int) -> np.ndarray:
        """Audio events (t µs, x channel) of a waveform sampled at ``rate`` Hz."""
        env = np.maximum(self.envelope(wave, rate) - self.floor, 0) * (self.gain / (1 - self.floor))
        # integrate-and-fire per channel over frames; several spikes per frame are allowed
        cum = np.cumsum(env, axis=0)
        counts_before = np.floor(np.vstack([np.zeros((1, env.shape[1]), np.float32), cum[:-1]]) / self.threshold)
        counts_after = np.floor(cum / self.threshold)
        n = (counts_after - counts_before).astype(np.int64)
        frames, chans = np.nonzero(n)
        reps = n[frames, chans]
        frames, chans = np.repeat(frames, reps), np.repeat(chans, reps)
        # the k-th crossing inside a frame: place it where the linear ramp reaches the threshold
        k = np.arange(len(frames)) - np.repeat(np.cumsum(reps) - reps, reps)
        start = cum[frames, chans] - env[frames, chans]
        level = (counts_before[frames, chans] + 1 + k) * self.threshold
        frac = np.clip((level - start) / np.maximum(env[frames, chans], 1e-9), 0, 1)
        t = ((frames + frac) * self.hop_us).astype(np.int64)
        order = np.lexsort((chans, t))
        return make_events(t[order], chans[order])
