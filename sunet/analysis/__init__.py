"""Analysis of a finished map: urban canopy parameters, and a report per district.

``parameters`` holds the parameter table (Stewart & Oke's class values, each parameter's
aggregation rule) and pure functions of arrays; ``parameter_rasters`` writes a map's parameter
rasters and styles (``write_parameters``, the ``lcz-map parameters`` command). ``summaries``
holds the per-area statistics (composition both ways, mixing, parameter distributions, changes)
as pure accumulators; ``report`` reads a map and writes its district analysis (``analyse``, the
``lcz-map analyse`` command) with ``figures`` and ``html``.
"""

from typing import TYPE_CHECKING

from sunet.lazy import lazy_exports

if TYPE_CHECKING:
    from sunet.analysis.config import AnalyseConfig, ParametersConfig
    from sunet.analysis.parameter_rasters import ParametersReport, write_parameters
    from sunet.analysis.report import AnalysisReport, analyse

__all__ = [
    "AnalyseConfig",
    "AnalysisReport",
    "ParametersConfig",
    "ParametersReport",
    "analyse",
    "write_parameters",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AnalyseConfig": "sunet.analysis.config",
        "AnalysisReport": "sunet.analysis.report",
        "ParametersConfig": "sunet.analysis.config",
        "ParametersReport": "sunet.analysis.parameter_rasters",
        "analyse": "sunet.analysis.report",
        "write_parameters": "sunet.analysis.parameter_rasters",
    },
)
