"""Full datapath: random fully-connected layers tiled onto the array (fast path).

Random shapes with K > R (k-tiles), K > R·T (weight reloads per batch row), C > cols
(column tiles) and batch > 1; per-tensor and per-channel requantization; zero points at
random values and at the ends of their ranges; no activation, ReLU and ReLU6 bounds; random
backpressure on ``o_data`` and idle cycles on the inputs (nothing lost, nothing duplicated:
the checker compares the beat count and every lane of every beat in order).
"""

from __future__ import annotations

import math

import cocotb

from tb.env import TbEnv
from tb.layers import ACTIVATIONS, activation_bounds, random_layer
from tb.schedule import schedule


def random_shape(env: TbEnv, *, allow_reload: bool = True) -> tuple[int, int, int]:
    """(B, K, C): mostly K in 1..3R and C in 1..2.5 cols; sometimes K > R·T (reloads)."""
    hp, rng = env.hp, env.rng
    r = rng.random()
    if allow_reload and r < 0.1:
        k = int(rng.integers(hp.rows * hp.weight_tiles + 1, hp.rows * (hp.weight_tiles + 3) + 1))
        b = int(rng.integers(1, 3))
    else:
        k = int(rng.integers(1, 3 * hp.rows + 1)) if r < 0.8 else int(rng.integers(1, hp.rows + 1))
        b = int(rng.integers(1, 9))
    c = int(rng.integers(1, max(2, int(2.5 * hp.cols)) + 1))
    return b, k, c


def random_layers(env: TbEnv, target_beats: int, *, zp_modes=("random", "limits", "zero"),
                  acts=ACTIVATIONS, allow_reload: bool = True):
    """Random folded layers until about ``target_beats`` output beats are scheduled."""
    hp, rng = env.hp, env.rng
    layers, beats, i = [], 0, 0
    while beats < target_beats:
        b, k, c = random_shape(env, allow_reload=allow_reload)
        per_channel = hp.per_channel and bool(rng.random() < 0.6)
        act = acts[i % len(acts)]
        zp = zp_modes[(i // len(acts)) % len(zp_modes)]
        layer = random_layer(hp, rng, batch=b, k=k, c=c, per_channel=per_channel, act=act,
                             zp=zp, w_zp=bool(rng.random() < 0.2),
                             name=f"layer{i}(B={b},K={k},C={c},{act},zp={zp},"
                                  f"{'per-channel' if per_channel else 'per-tensor'})")
        layers.append(layer.fold(hp))
        beats += b * math.ceil(c / hp.cols)
        i += 1
    return layers


@cocotb.test()
async def random_fc_layers(dut):
    """Random FC layers of random shapes, all quantization/activation/zero-point variants."""
    env = TbEnv(dut, "random_fc_layers")
    await env.start()
    for chunk in env.chunks():
        prog = schedule(env.hp, random_layers(env, max(8, env.vectors)))
        await env.run(prog, path="fast", label=f"chunk {chunk}" if chunk else "")
    env.finish()


@cocotb.test()
@cocotb.parametrize(backpressure=[0.3, 0.8])
async def random_fc_backpressure(dut, backpressure):
    """Random layers with LFSR backpressure on o_data and idle cycles on the inputs; random
    data loaded to every unused address before each column tile (must be ignored)."""
    env = TbEnv(dut, f"random_fc_backpressure_{int(backpressure * 100)}")
    await env.start()
    for chunk in env.chunks():
        layers = random_layers(env, max(8, env.vectors // 4))
        prog = schedule(env.hp, layers, gap_rate=0.1, rng=env.rng, unused_rng=env.rng)
        await env.run(prog, path="fast", backpressure=backpressure,
                      label=f"bp={backpressure}" + (f" chunk {chunk}" if chunk else ""))
    env.finish()


@cocotb.test()
async def zero_points_at_limits(dut):
    """Input and output zero points at both ends of their ranges, every activation."""
    env = TbEnv(dut, "zero_points_at_limits")
    await env.start()
    hp = env.hp
    layers = []
    xlo, xhi = hp.x_range
    olo, ohi = hp.out_range
    batch = max(1, min(4, env.vectors // 24))
    i = 0
    for x_zp in (xlo, xhi):
        for y_zp in (olo, ohi):
            for act in ACTIVATIONS:
                layer = random_layer(hp, env.rng, batch=batch, k=hp.rows + 3, c=hp.cols + 1,
                                     per_channel=hp.per_channel, act=act, zp="zero",
                                     name=f"zp{i}(x_zp={x_zp},y_zp={y_zp},{act})")
                # overwrite the zero points and refold the bias so bias' stays in range
                wsum = (layer.w - layer.w_zp).sum(axis=1)
                layer.bias = layer.bias - layer.x_zp * wsum + x_zp * wsum
                layer.x_zp, layer.y_zp = x_zp, y_zp
                layer.act_min, layer.act_max = activation_bounds(hp, act, y_zp, 0.05)
                layers.append(layer.fold(hp))
                i += 1
    await env.run(schedule(hp, layers), path="fast")
    env.finish()
