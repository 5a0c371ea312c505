"""The worked example users start from: M = 0.01 as TFLite computes it, applied to 1234."""

from fractions import Fraction

from golden import multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_wide, quantize_multiplier


def test_quantize_multiplier_of_one_percent_is_tflites_value():
    # TFLite rounds 0.64·2^31 = 1374389534.72 to nearest; the seed slides truncate to ...534
    assert quantize_multiplier(0.01) == (1374389535, -6)


def test_1234_times_one_percent_agrees_within_rounding():
    m0, shift = quantize_multiplier(0.01)
    exact = Fraction(1234) * Fraction(m0) / 2 ** (31 - shift)   # the multiplier as represented
    for rounding in ("double", "single", "ruy"):
        got = int(multiply_by_quantized_multiplier(1234, m0, shift, rounding=rounding))
        assert got == int(multiply_by_quantized_multiplier_wide(1234, m0, shift, rounding=rounding))
        assert abs(got - exact) <= Fraction(1, 2)       # one correctly rounded result
        assert abs(got - Fraction(1234, 100)) <= Fraction(1, 2)
        assert got == 12
