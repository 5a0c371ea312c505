"""``qmac verify``: run a user's folded layer through the hardware (fast path).

``sim/verify.py`` validates the user's file, folds the zero points and writes the folded
layer to ``QMAC_VERIFY_LAYER`` (npz: x, w, bias, m0, shift, y_zp, act_min, act_max). This
test schedules it onto the array, runs it, checks every lane against the golden model
(failing the cocotb test on a mismatch, with the first mismatches in the log) and writes
what the hardware produced, reassembled to ``[B, C]``, to ``QMAC_VERIFY_OUT``
(npz: ``y_hw``, ``ovf_hw``).
"""

from __future__ import annotations

import os

import numpy as np

import cocotb

from tb.checker import decode_outputs
from tb.env import TbEnv
from tb.layers import FoldedLayer
from tb.schedule import schedule


def load_folded(path: str) -> FoldedLayer:
    with np.load(path) as f:
        d = {k: f[k] for k in f.files}
    return FoldedLayer(x=d["x"].astype(np.int64), w=d["w"].astype(np.int64),
                       bias=d["bias"].astype(np.int64), m0=d["m0"].astype(np.int64),
                       shift=d["shift"].astype(np.int64), y_zp=int(d["y_zp"]),
                       act_min=int(d["act_min"]), act_max=int(d["act_max"]),
                       per_tensor=bool(d["per_tensor"]), name=str(d["name"]))


def reassemble(hp, prog, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output beats → ``y [B, C]`` and ``ovf [B, C]`` of the (single) layer of ``prog``."""
    L = prog.layers[0]
    b, _, c = L.shape
    ct = -(-c // hp.cols)
    y = np.zeros((b, ct * hp.cols), np.int64)
    ovf = np.zeros((b, ct * hp.cols), bool)
    gy, go = decode_outputs(hp, bits)
    n = min(gy.shape[0], prog.n_outputs)
    for i in range(n):
        _, row, t = prog.beats[i]
        y[row, t * hp.cols:(t + 1) * hp.cols] = gy[i]
        ovf[row, t * hp.cols:(t + 1) * hp.cols] = go[i]
    return y[:, :c], ovf[:, :c]


@cocotb.test()
async def verify_layer(dut):
    """The user's layer, every output checked; hardware outputs saved for sim/verify.py."""
    env = TbEnv(dut, "verify_layer")
    await env.start()
    layer = load_folded(os.environ["QMAC_VERIFY_LAYER"])
    env.log.info("%s", layer.describe())
    prog = schedule(env.hp, [layer])
    await env.run(prog, path="fast")
    y, ovf = reassemble(env.hp, prog, env.last_bits)
    np.savez(os.environ["QMAC_VERIFY_OUT"], y_hw=y, ovf_hw=ovf,
             beats=np.int64(env.last_bits.shape[0]), expected_beats=np.int64(prog.n_outputs),
             unknown=np.int64(env.last_unknown.sum()), cycles=np.int64(env.last_cycles))
    env.finish()
