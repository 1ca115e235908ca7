"""Running the pipeline as a service: new imagery, map versions and what changed between them.

* :mod:`.inbox`: scene manifests, the inbox of arriving scenes, the area changed scenes touch;
* :mod:`.versions`: ``DIR/versions/vNNNN`` and the atomically switched ``latest`` pointer;
* :mod:`.changes`: LCZ transition matrices and changed area per district between two versions;
* :mod:`.remap`: plan -> map (only the windows changed imagery reaches) -> publish, as ``lcz-map remap`` does;
* :mod:`.provenance`: which model to map with, and when the labels call for training again.

Nothing here depends on Prefect; ``flows/`` orchestrates these steps as tasks.
"""
