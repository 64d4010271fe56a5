"""The noise recipe of docs/manifest.md, pinned: reference numbers for seed 0, the blocks64
layout, and a pure-Python SeedSequence + PCG64 (what a port to another language reimplements)
checked against numpy's."""

from __future__ import annotations

import numpy as np

from genedge.runtime.noise import draw_noise

M32, M64, M128 = (1 << 32) - 1, (1 << 64) - 1, (1 << 128) - 1
PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645


# -- the noise recipe ------------------------------------------------------------------------


def test_blocks64_values_are_pinned_for_other_languages() -> None:
    """The reference numbers of docs/manifest.md (seed 0, per-sample shape (4,))."""
    z = draw_noise("blocks64", 0, 0, 0, 66, (4,))
    want = np.array(
        [
            [1.117622, -1.3871249, -0.4265716, -0.80358726],
            [0.60142773, -0.074993245, 0.059693195, -0.03200609],
        ],
        np.float32,
    )
    np.testing.assert_array_equal(z[:2], want)
    want_block1 = np.array(
        [
            [1.0776631, 0.854826, 0.03968432, 0.19061089],
            [-0.64784074, -1.5465729, -0.7525102, 0.64368445],
        ],
        np.float32,
    )
    np.testing.assert_array_equal(z[64:66], want_block1)
    noise1 = np.array([[0.45598465, -2.1591032, -2.129957, -0.765699]], np.float32)
    np.testing.assert_array_equal(draw_noise("blocks64", 0, 1, 0, 1, (4,)), noise1)
    trunc = np.array([[0.13184372, -0.22279997, -0.4559101, -0.48210302]], np.float32)
    np.testing.assert_array_equal(draw_noise("blocks64", 0, 0, 0, 1, (4,), 0.5), trunc)
    state = np.random.PCG64(np.random.SeedSequence([0, 0, 1])).state["state"]
    assert state == {
        "state": 0xA9ACCC95FBEF0B6006E48F7BA888665F,
        "inc": 0x0A735A66D6CC20FF6FB87B076EAB3685,
    }


def test_blocks64_is_the_documented_recipe() -> None:
    """Sample i is row i % 64 of (64, *shape) drawn from PCG64(SeedSequence([seed, k, i // 64]))."""
    seed, k, shape = 12345, 2, (3, 2)
    got = draw_noise("blocks64", seed, k, 60, 200, shape)
    rows = []
    for i in range(60, 260):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, k, i // 64])))
        rows.append(rng.standard_normal((64, *shape), dtype=np.float32)[i % 64])
    np.testing.assert_array_equal(got, np.stack(rows))


def _words(v: int) -> list[int]:
    """An int as 32-bit words, least significant first (0 is one word)."""
    out = []
    while True:
        out.append(v & M32)
        v >>= 32
        if not v:
            return out


def _seed_sequence_state(entropy: list[int]) -> list[int]:
    """numpy's SeedSequence(entropy).generate_state(4, uint64), written out."""
    ent = [w for e in entropy for w in _words(e)]
    h = 0x43B0D7E5

    def hashmix(v: int) -> int:
        nonlocal h
        v ^= h
        h = (h * 0x931E8875) & M32
        v = (v * h) & M32
        return v ^ (v >> 16)

    def mix(x: int, y: int) -> int:
        r = (0xCA01F9DD * x - 0x4973F715 * y) & M32
        return r ^ (r >> 16)

    pool = [hashmix(ent[i] if i < len(ent) else 0) for i in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(4, len(ent)):
        for dst in range(4):
            pool[dst] = mix(pool[dst], hashmix(ent[src]))
    hb, out = 0x8B51F9DD, []
    for i in range(8):
        v = pool[i % 4] ^ hb
        hb = (hb * 0x58F38DED) & M32
        v = (v * hb) & M32
        out.append(v ^ (v >> 16))
    return [out[2 * j] | (out[2 * j + 1] << 32) for j in range(4)]


def _pcg64_seeded(entropy: list[int]) -> tuple[int, int]:
    """PCG64(SeedSequence(entropy))'s 128-bit (state, inc)."""
    u = _seed_sequence_state(entropy)
    initstate, initseq = (u[0] << 64) | u[1], (u[2] << 64) | u[3]
    inc = ((initseq << 1) | 1) & M128
    state = inc  # 0 * mult + inc
    state = (state + initstate) & M128
    return (state * PCG_MULT + inc) & M128, inc


def _pcg64_next(state: int, inc: int) -> tuple[int, int]:
    """One step and the XSL-RR output of the new state."""
    state = (state * PCG_MULT + inc) & M128
    x, rot = ((state >> 64) ^ state) & M64, state >> 122
    return state, ((x >> rot) | (x << (64 - rot))) & M64


def test_seed_sequence_and_pcg64_as_documented() -> None:
    for entropy in ([0, 0, 0], [0, 0, 1], [5, 2, 7], [2**40 + 3, 1, 9], [7, 0, 2**33]):
        state, inc = _pcg64_seeded(entropy)
        bg = np.random.PCG64(np.random.SeedSequence(entropy))
        assert bg.state["state"] == {"state": state, "inc": inc}, entropy
        for want in bg.random_raw(5):
            state, got = _pcg64_next(state, inc)
            assert got == int(want)
