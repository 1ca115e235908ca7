"""Analysis of a finished map: urban canopy parameters from the LCZ abundances.

``parameters`` holds the parameter table (Stewart & Oke's class values, each parameter's
aggregation rule) and pure functions of arrays; ``parameter_rasters`` writes a map's parameter
rasters and styles (``write_parameters``, the ``lcz-map parameters`` command).
"""

from typing import TYPE_CHECKING

from sunet.lazy import lazy_exports

if TYPE_CHECKING:
    from sunet.analysis.config import ParametersConfig
    from sunet.analysis.parameter_rasters import ParametersReport, write_parameters

__all__ = ["ParametersConfig", "ParametersReport", "write_parameters"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ParametersConfig": "sunet.analysis.config",
        "ParametersReport": "sunet.analysis.parameter_rasters",
        "write_parameters": "sunet.analysis.parameter_rasters",
    },
)
