"""qmac golden models: the bit-exact NumPy reference every hardware result is judged against.

* :mod:`golden.fixedpoint` — gemmlowp / TFLite / ruy fixed-point primitives;
* :mod:`golden.multiplier` — TFLite ``QuantizeMultiplier``;
* :mod:`golden.datapath` — models of the hardware blocks and TFLite's int8 fully connected;
* :mod:`golden.quantize`, :mod:`golden.calibration`, :mod:`golden.metrics`,
  :mod:`golden.layer` — the quantization toolkit.

The public names of all of them are re-exported here; see each module's ``__all__``.
"""

from golden import calibration as _calibration
from golden import datapath as _datapath
from golden import fixedpoint as _fixedpoint
from golden import layer as _layer
from golden import metrics as _metrics
from golden import multiplier as _multiplier
from golden import quantize as _quantize
from golden.calibration import *  # noqa: F401,F403
from golden.datapath import *  # noqa: F401,F403
from golden.fixedpoint import *  # noqa: F401,F403
from golden.layer import *  # noqa: F401,F403
from golden.metrics import *  # noqa: F401,F403
from golden.multiplier import *  # noqa: F401,F403
from golden.quantize import *  # noqa: F401,F403

__all__ = [
    *_fixedpoint.__all__,
    *_multiplier.__all__,
    *_datapath.__all__,
    *_quantize.__all__,
    *_calibration.__all__,
    *_metrics.__all__,
    *_layer.__all__,
]
