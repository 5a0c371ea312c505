"""Option vocabularies: the allowed values of every string option, one tuple each.

``golden`` and ``hw`` implement every entry (``tests/test_layering.py`` checks that their
dispatch tables name exactly these); ``sim`` validates YAML against them.
"""

__all__ = ["ROUNDINGS", "OVERFLOW_POLICIES", "WEIGHT_ENCODINGS", "INPUT_ENCODINGS",
           "FULL_SCALE_AUTO", "PIPELINES"]

#: ``requant.rounding``: gemmlowp double rounding, TFLITE_SINGLE_ROUNDING, ruy's x86 form,
#: TFLite's int64 MultiplyByQuantizedMultiplier of the 16x8 kernels (16-bit multiplier).
ROUNDINGS = ("double", "single", "ruy", "single16")
#: ``accumulator.overflow``.
OVERFLOW_POLICIES = ("wrap", "saturate")
#: ``crossbar.weight_encoding``: two cells per weight slice (w+ − w−) or one offset cell.
WEIGHT_ENCODINGS = ("differential", "offset")
#: ``crossbar.input_encoding``: separate sign phase, or DAC code ``x + 2^(N−1)``.
INPUT_ENCODINGS = ("twos_complement", "offset")
#: ``crossbar.adc_full_scale``: the smallest power-of-two range holding every column sum.
FULL_SCALE_AUTO = "auto"
#: ``timing.pipeline``: the shipped pipeline, or the deeper one (registered weight write,
#: two-level parameter decode, DSP-registered multipliers; MAC-array tops only).
PIPELINES = ("standard", "deep")
