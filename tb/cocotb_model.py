"""``qmac run``: every hardware layer of a model through the DUT on the fast path.

``sim/run.py`` writes the folded layers of every hardware op to ``QMAC_MODEL_LAYERS``
(:func:`tb.model_layers.save_groups`). Each op is one program (all its lowered products,
all images as batch rows), run on the fast path; :meth:`tb.env.TbEnv.run` checks every lane
of every output against the hardware's golden model (``tb.model``) and records the op's
cycles. The outputs, reassembled per product, go to ``QMAC_MODEL_OUT`` for sim/run.py to
compare with the golden op outputs and TFLite.
"""

from __future__ import annotations

import os

import numpy as np

import cocotb

from tb.env import TbEnv
from tb.model_layers import load_groups, reassemble_layers
from tb.schedule import schedule


@cocotb.test()
async def model_layers(dut):
    """Every lowered layer of the model, every output lane checked."""
    env = TbEnv(dut, "model_layers")
    await env.start()
    out: dict[str, np.ndarray] = {}
    for g, (label, layers) in enumerate(load_groups(os.environ["QMAC_MODEL_LAYERS"])):
        prog = schedule(env.hp, layers)
        res = await env.run(prog, path="fast", label=label)
        for i, y in enumerate(reassemble_layers(env.hp, prog, env.last_bits)):
            out[f"g{g}.{i}.y"] = y
        out[f"g{g}.cycles"] = np.int64(env.last_cycles)
        out[f"g{g}.mismatches"] = np.int64(res.mismatches)
        out[f"g{g}.beats"] = np.int64(env.last_bits.shape[0])
        out[f"g{g}.expected_beats"] = np.int64(prog.n_outputs)
    np.savez(os.environ["QMAC_MODEL_OUT"], **out)
    env.finish()
