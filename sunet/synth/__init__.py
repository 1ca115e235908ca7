"""The synthetic city: an embedded, georeferenced stand-in for the Wuhan imagery.

``generate_city(SynthConfig(...), out_dir)`` plans a city in UTM 50N (:mod:`.layout`), renders
EPSG:3857 scenes from it (:mod:`.render`, :mod:`.layers`), and writes scenes, LCZ labels,
districts, a preview and a manifest (:mod:`.city`). ``lcz-map synth`` is the command line.
"""

from typing import TYPE_CHECKING

from sunet.lazy import lazy_exports

if TYPE_CHECKING:
    from sunet.synth.city import CityManifest, SceneRecord, generate_city
    from sunet.synth.config import SynthConfig
    from sunet.synth.layout import CityLayout, build_layout

__all__ = [
    "CityManifest",
    "CityLayout",
    "SceneRecord",
    "SynthConfig",
    "build_layout",
    "generate_city",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CityManifest": "sunet.synth.city",
        "SceneRecord": "sunet.synth.city",
        "generate_city": "sunet.synth.city",
        "SynthConfig": "sunet.synth.config",
        "CityLayout": "sunet.synth.layout",
        "build_layout": "sunet.synth.layout",
    },
)
