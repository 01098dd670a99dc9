"""textgen/sampling/uniforms.py: the uniform numbers a seeded story draws with, made in numpy, are torch.rand's
for the same seed, value for value (the story of a seed is the same with and without torch)."""

from __future__ import annotations

import pytest
import torch

from textgen.sampling.uniforms import mt19937_key, seeded_uniforms


@pytest.mark.parametrize("seed", [0, 1, 7, 42, 12345, 2**31 + 5, 2**32 - 1])
@pytest.mark.parametrize("count", [0, 1, 5, 16, 17, 200, 1000, 2000])
def test_the_numbers_are_torch_rands_for_the_seed(seed, count):
    generator = torch.Generator().manual_seed(seed)
    expected = torch.rand(count, generator=generator).tolist()
    assert seeded_uniforms(seed, count) == expected


def test_the_state_is_the_reference_initialisation():
    # init_genrand(5489) is MT19937's default seed: its first output is 3499211612 (the reference implementation)
    import numpy as np

    generator = np.random.MT19937(0)
    generator.state = {"bit_generator": "MT19937", "state": {"key": mt19937_key(5489), "pos": 624}}
    assert int(generator.random_raw()) == 3499211612


def test_the_numbers_lie_in_zero_one_and_differ_by_seed():
    first, second = seeded_uniforms(3, 500), seeded_uniforms(4, 500)
    assert all(0.0 <= value < 1.0 for value in first + second)
    assert first != second and seeded_uniforms(3, 500) == first
