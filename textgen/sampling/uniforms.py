"""The uniform numbers a seeded story draws its tokens with, in numpy: the same float32 values as
`torch.rand(count, generator=torch.Generator().manual_seed(seed))` on the CPU, so the default
`generate` (textgen.sampling.numpy_generate, which never imports torch) writes the story torch's
path writes from the same seed.

torch's CPU generator is a Mersenne Twister (MT19937) seeded with the seed's low 32 bits by the
reference initialisation (init_genrand); a float32 uniform is the low 24 bits of one 32-bit output
times 2**-24. numpy's MT19937 is the same generator: its state is set here from that
initialisation and its raw outputs are read. tests/sampling/test_uniforms.py compares them with
torch's for many seeds and lengths.
"""

from __future__ import annotations

import numpy as np

STATE_WORDS = 624  # MT19937's state
FLOAT_BITS = 24  # float32's significand: the bits of a 32-bit output a uniform keeps


def mt19937_key(seed: int) -> np.ndarray:
    """The generator's state after init_genrand(seed & 0xffffffff)."""
    key = [seed & 0xFFFFFFFF]
    for index in range(1, STATE_WORDS):
        previous = key[-1]
        key.append((1812433253 * (previous ^ (previous >> 30)) + index) & 0xFFFFFFFF)
    return np.array(key, dtype=np.uint32)


def seeded_uniforms(seed: int, count: int) -> list[float]:
    """`count` uniform numbers in [0, 1), torch.rand's float32 values for `seed` as Python floats."""
    generator = np.random.MT19937(0)
    generator.state = {"bit_generator": "MT19937", "state": {"key": mt19937_key(seed), "pos": STATE_WORDS}}
    raw = generator.random_raw(count) if count else np.zeros(0, dtype=np.uint64)
    return ((raw & ((1 << FLOAT_BITS) - 1)).astype(np.float32) * np.float32(2.0 ** -FLOAT_BITS)).tolist()
