"""Seed exercise: symmetric vs asymmetric quantization error of a random float32 tensor.

The exercise from the quantization-theory seed: "Implement both symmetric and asymmetric
quantization for a random float32 tensor and measure the mean squared error for each
approach at different bit widths (4, 6, 8 bits)."

The tensor mimics the seed's example weight matrix (values from −2.5 to 3.8): float32,
uniform on ``[−2.5, 3.8)``. Per-tensor parameters:

* symmetric:  ``S = max|r| / (2^(b−1) − 1)``, ``Z = 0``, codes ``[−(2^(b−1)−1), 2^(b−1)−1]``
* asymmetric: ``S = (max r − min r) / (2^b − 1)``, ``Z = round(qmin − min r / S)``,
  codes ``[−2^(b−1), 2^(b−1) − 1]``

For a uniform tensor the rounding error is uniform, so each MSE should be close to
``S²/12``; asymmetric wins because its step is ``(3.8 + 2.5)/(2^b − 1)`` instead of
``2·3.8/(2^b − 2)``.

Usage::

    python examples/seed_exercise.py [--seed N] [--bits 4 6 8]
"""

import argparse
import secrets
import sys
from pathlib import Path

import numpy as np

try:
    from golden.metrics import mse, sqnr_db
    from golden.quantize import dequantize, quantize_asymmetric, quantize_symmetric
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from golden.metrics import mse, sqnr_db
    from golden.quantize import dequantize, quantize_asymmetric, quantize_symmetric

SHAPE = (256, 256)
LOW, HIGH = -2.5, 3.8


def run(seed, bits_list):
    """Return the table rows ``(bits, sym_scale, sym_mse, asym_scale, asym_mse, sym_sqnr,
    asym_sqnr)`` for the seeded tensor."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(LOW, HIGH, size=SHAPE).astype(np.float32)
    rows = []
    for bits in bits_list:
        q_s, s_s, z_s = quantize_symmetric(r, bits=bits)
        q_a, s_a, z_a = quantize_asymmetric(r, bits=bits, signed=True)
        r_s = dequantize(q_s, s_s, z_s)
        r_a = dequantize(q_a, s_a, z_a)
        rows.append((bits, float(s_s), mse(r, r_s), float(s_a), mse(r, r_a),
                     sqnr_db(r, r_s), sqnr_db(r, r_a)))
    return rows


def format_table(rows):
    """Render the rows as a fixed-width text table."""
    head = (f"{'bits':>4}  {'sym MSE':>11}  {'S²/12':>11}  {'asym MSE':>11}  {'S²/12':>11}"
            f"  {'sym/asym':>8}  {'sym SQNR dB':>11}  {'asym SQNR dB':>12}")
    lines = [head, "-" * len(head)]
    for bits, s_s, m_s, s_a, m_a, q_s, q_a in rows:
        lines.append(
            f"{bits:>4}  {m_s:>11.4e}  {s_s * s_s / 12:>11.4e}  {m_a:>11.4e}  "
            f"{s_a * s_a / 12:>11.4e}  {m_s / m_a:>8.3f}  {q_s:>11.2f}  {q_a:>12.2f}"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None,
                        help="RNG seed (default: a fresh random seed, printed)")
    parser.add_argument("--bits", type=int, nargs="+", default=[4, 6, 8],
                        help="bit widths to compare, each 2..16 (default: 4 6 8)")
    args = parser.parse_args(argv)
    for b in args.bits:
        if not 2 <= b <= 16:
            parser.error(f"--bits={b} is out of range; allowed: [2, 16]")
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    print(f"seed: {seed}  (rerun with --seed {seed})")
    print(f"tensor: float32 {SHAPE}, uniform on [{LOW}, {HIGH})")
    print("symmetric: Z = 0, narrow signed codes; asymmetric: signed codes, min-max range")
    print()
    print(format_table(run(seed, args.bits)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
