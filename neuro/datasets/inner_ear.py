"""The auditory model SHD was encoded with: basilar membrane, inner hair cells, bushy cells.

Cramer et al. (2020) made the Heidelberg Spiking Datasets with a three-stage model of the inner ear,
published as the ``lauscher`` package.  :class:`InnerEarEncoder` computes the same stages,
vectorized over channels and compiled with numba (about a second per second of 8 kHz audio instead
of about a minute), and gives the same spikes as that package for the same random draws:

1. the waveform is scaled to an RMS of 0.3 and faded in and out with the two halves of a Hann
   window spanning the recording;
2. **basilar membrane**: a hydrodynamic shallow-water model (Sieroka, Dosch & Rupp 2006) gives
   each of ``n_channels`` places along the membrane (from the base, about 22 kHz, to the apex,
   about 110 Hz) a velocity transfer function; the membrane velocity is computed in the frequency
   domain from the positive half of the spectrum, which halves the sample rate;
3. **inner hair cells**: Meddis' transmitter-pool model (1986, 1988) turns the velocity of each
   place into a release probability per sample;
4. **bushy cells**: ``n_fibres`` auditory nerve fibres per place fire with that probability (with
   a refractory period), and converge on one leaky integrate-and-fire bushy cell whose spikes are
   the output events.

The model is stochastic (step 4); draws come from ``numpy.random.RandomState(seed)`` per recording,
so an encoding is reproducible and equals the reference package's output under
``numpy.random.seed(seed)``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from neuro.datasets.audio import resample
from neuro.datasets.events import make_events
from neuro.errors import DataError


class InnerEarEncoder:
    """Turn a waveform into SHD's audio events with SHD's own auditory model (see the module docstring)."""

    def __init__(
        self,
        n_channels: int = 700,
        sample_rate: int = 0,
        seed: int = 0,
        rms: float = 0.3,
        n_fibres: int = 40,
        tau_mem: float = 1e-3,
        tau_syn: float = 5e-4,
        tau_refrac: float = 1e-3,
        weight: float = 13e3,
    ) -> None:
        """``sample_rate``: resample the waveform to this rate first (0 keeps the recording's own rate);
        the other arguments are the model's (defaults as SHD was made)."""
        if n_channels < 1 or n_fibres < 1:
            raise ValueError(f"n_channels and n_fibres must be positive, got {n_channels} and {n_fibres}")
        self.kind = "inner-ear"  # an instance attribute, so caches keyed on vars() tell encoders apart
        self.n_channels, self.sample_rate, self.seed, self.rms = n_channels, sample_rate, seed, rms
        self.n_fibres, self.tau_mem, self.tau_syn, self.tau_refrac, self.weight = (
            n_fibres, tau_mem, tau_syn, tau_refrac, weight)

    # -- stage 1 -----------------------------------------------------------------------------------
    def prepare(self, wave: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
        """RMS-normalized, faded waveform (float64) and its sample rate."""
        x = np.asarray(wave, np.float64).ravel()
        if self.sample_rate:
            x, rate = resample(x, rate, self.sample_rate), self.sample_rate
        if len(x) < 4:
            raise DataError(f"a recording of {len(x)} samples is too short to encode; the inner-ear model "
                            "needs at least 4 samples")
        power = np.mean(x * x)
        if not np.isfinite(power):
            raise DataError("the waveform holds NaN or infinite samples; check the file")
        if power > 0:
            x = x * (self.rms / np.sqrt(power))
        half = len(x) // 2
        ramp = np.hanning(2 * half)[:half]
        x[:half] *= ramp
        x[len(x) - half:] *= ramp[::-1]
        return x, int(rate)

    # -- stage 2 -----------------------------------------------------------------------------------
    def membrane(self, x: np.ndarray, rate: int, chunk: int = 64) -> tuple[np.ndarray, int]:
        """Basilar-membrane velocity ``[channels, samples]`` and its sample rate (half of ``rate``)."""
        n_freq = len(x) // 2 + 1
        fs = rate // 2
        omega = 2 * np.pi * np.linspace(1, fs, n_freq)
        spectrum = np.fft.fft(x)[:n_freq]
        place = np.linspace(0, 3.5, self.n_channels)
        m = _Membrane()
        window, base = m.impedance(omega), m.pressure(omega, 0.0)
        out = np.empty((self.n_channels, n_freq))
        for lo in range(0, self.n_channels, chunk):
            c = place[lo:lo + chunk, None]
            v = 2.0 * omega / m.xi(omega, c) * m.pressure(omega, c) * window / base * spectrum
            out[lo:lo + chunk] = np.fft.ifft(v, axis=1).real
        return out, fs

    # -- stages 3 and 4 ----------------------------------------------------------------------------
    def hair_cells(self, velocity: np.ndarray, fs: int) -> np.ndarray:
        """Release probability per sample ``[channels, samples]`` (Meddis' transmitter pools)."""
        return _meddis(np.ascontiguousarray(velocity, np.float64), float(fs))

    def bushy_cells(self, probability: np.ndarray, fs: int) -> np.ndarray:
        """Spikes ``[channels, samples]`` (0/1) of the bushy cells, each fed by ``n_fibres`` fibres."""
        rng = np.random.RandomState(self.seed)
        n_ch, n = probability.shape
        refrac, dt = self.tau_refrac * fs, 1 / float(fs)
        out = np.zeros((n_ch, n), np.uint8)
        for ch in range(n_ch):
            fired = rng.random_sample((n, self.n_fibres)) < probability[ch][:, None]
            out[ch] = _bushy(fired, float(refrac), float(np.exp(-dt / self.tau_mem)),
                             float(np.exp(-dt / self.tau_syn)), self.weight / self.n_fibres, dt)
        return out

    def encode(self, wave: np.ndarray, rate: int) -> np.ndarray:
        """Audio events (t µs, x channel) of a waveform sampled at ``rate`` Hz."""
        x, rate = self.prepare(wave, rate)
        velocity, fs = self.membrane(x, rate)
        spikes = self.bushy_cells(self.hair_cells(velocity, fs), fs)
        step, chan = np.nonzero(spikes.T)
        t = np.round(step * (1e6 / fs)).astype(np.int64)
        return make_events(t, chan.astype(np.int64))


class _Membrane:
    """Sieroka, Dosch & Rupp's hydrodynamic basilar membrane (2006), with SHD's parameters."""

    a, alpha, rho, c0, de, h, m = 3500.0, 3.0, 1.0, 1e9, 0.15, 0.1, 0.05

    def __init__(self) -> None:
        self.r0 = self.de * np.sqrt(self.c0 * self.m)

    def xi(self, omega, c):
        """Local mechanical impedance: stiffness minus mass term minus damping."""
        stiffness = self.c0 * np.exp(-self.alpha * c) - self.a
        damping = self.r0 * np.exp(-self.alpha * c / 2)
        return stiffness - self.m * omega ** 2 - 1j * omega * damping

    def wavenumber(self, omega, c):
        return omega * np.sqrt(self.rho / (self.h * self.xi(omega, c)))

    def pressure(self, omega, c):
        """Fluid pressure at place ``c`` (a WKB solution with a Hankel function of the integrated wavenumber)."""
        k2 = self.a + self.m * omega ** 2
        near = (-self.alpha * np.sqrt(self.xi(omega, 0.0))
                + 1j * self.alpha * (2 * k2 + 1j * omega * self.r0) / (2 * np.sqrt(k2)))
        damping = self.r0 * np.exp(-self.alpha * c / 2)
        far = (0.5 * self.alpha * np.exp(self.alpha * c / 2)
               * (-2 * np.sqrt(self.xi(omega, c)) + 1j * (2 * k2 + 1j * omega * damping) / np.sqrt(k2)))
        phase = (2 * self.wavenumber(omega, 0.0) / self.alpha
                 - 2j * np.sqrt(2) * omega * np.log(near / far) / (self.alpha * np.sqrt(2 * self.h * k2)))
        return np.sqrt(phase / self.wavenumber(omega, c)) * special.hankel1(0, phase)

    def impedance(self, omega):
        """Input impedance of the cochlea at the oval window."""
        k = 2 * omega / self.alpha * np.sqrt(2 / (self.h * self.c0))
        return (np.sqrt(2 * self.c0 / self.h) * (1j * special.j0(k) + special.y0(k))
                / (special.j1(k) - 1j * special.y1(k)))


def _jit(fn):
    import numba

    return numba.njit(cache=True)(fn)


@_jit
def _meddis(velocity, fs):  # pragma: no cover - compiled
    y, g, l, r, x, a, b, h, m = 5.05, 2000.0, 2500.0, 6580.0, 66.3, 5.0, 300.0, 50000.0, 1.0
    n_ch, n = velocity.shape
    out = np.empty((n_ch, n))
    k0 = g * a / (a + b)
    c0 = m * y * k0 / (l * k0 + y * (l + r))
    for ch in range(n_ch):
        c = c0
        q = c * (l + r) / k0
        w = c * r / x
        for j in range(n):
            s = velocity[ch, j] + a
            k = g / fs * s / (s + b) if s > 0 else 0.0
            replenish = y * m / fs - y / fs * q if q < m else 0.0
            eject = k * q
            reprocess = x / fs * w
            q_new = max(q + replenish - eject + reprocess, 0.0)
            c_new = max(c + eject - (l + r) / fs * c, 0.0)
            w = max(w + r / fs * c - reprocess, 0.0)
            q, c = q_new, c_new
            out[ch, j] = c * (h / fs)
    return out


@_jit
def _pairwise_sum(a):  # pragma: no cover - compiled
    """``numpy.sum`` of a short contiguous float64 vector, added in numpy's order (eight partial sums),
    so a threshold crossing is decided on the same rounding as in a numpy implementation."""
    n = len(a)
    if n < 8 or n > 128:  # numpy adds short vectors in order; beyond 128 it splits them (not mirrored here)
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    r = a[:8].copy()
    top = n - n % 8
    for i in range(8, top, 8):
        for k in range(8):
            r[k] += a[i + k]
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(top, n):
        res += a[i]
    return res


@_jit
def _bushy(fired, refrac, decay_mem, decay_syn, weight, dt):  # pragma: no cover - compiled
    n, n_fib = fired.shape
    last = np.full(n_fib, -refrac)
    syn = np.zeros(n_fib)
    out = np.zeros(n, np.uint8)
    v_prev = 0.0
    counter = 0.0
    for j in range(n):
        v = 0.0
        if j > 0:
            if counter <= 0:
                if v_prev < 1.0:
                    v = v_prev * decay_mem
                else:
                    counter = refrac
                    out[j - 1] = 1
            syn *= decay_syn
        for f in range(n_fib):
            if fired[j, f] and j - last[f] >= refrac:
                last[f] = j
                syn[f] += 1.0
        if counter <= 0:
            v += _pairwise_sum(syn) * weight * dt
        if v > 1.0:
            v = 1.0
        v_prev = v
        counter -= 1
    return out
