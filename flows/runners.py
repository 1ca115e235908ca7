"""Where tasks run: a Dask cluster for tiling and mapping, local or remote.

``LCZ_DASK_ADDRESS`` (or the flow parameter ``dask_address``) names a running scheduler, e.g.
``tcp://10.0.0.5:8786``, whose workers all see the data at the same paths; otherwise each flow run
starts a ``distributed.LocalCluster`` of ``workers`` single-threaded processes (torch and GDAL use
their own threads; one per process keeps a 2-core machine from oversubscribing) and stops it
when the run ends (worker threads instead of processes when there is no Prefect server, as when
a flow is called from Python). ``workers=0`` and no address: tasks run in a thread of the flow's
own process.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

__all__ = ["DASK_ADDRESS_ENV", "dask_address", "retry_transient", "task_runner"]

DASK_ADDRESS_ENV = "LCZ_DASK_ADDRESS"


# Errors that name bad input or a missing file: retrying cannot help.
_NOT_TRANSIENT = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """A task's ``retry_condition_fn``: retry an I/O error (a network share that hiccuped, a
    busy file), never bad input (``ValueError``, a missing file), which fails at once."""
    try:
        state.result()
    except _NOT_TRANSIENT:
        return False
    except OSError:
        return True
    except BaseException as e:  # a Dask worker that died while running it: run it elsewhere
        return type(e).__name__ == "KilledWorker"
    return False


def dask_address(parameter: str | None) -> str | None:
    """The scheduler address to use: the parameter, else ``$LCZ_DASK_ADDRESS``, else None (an
    empty string counts as unset)."""
    return (parameter or os.environ.get(DASK_ADDRESS_ENV) or "").strip() or None


def task_runner(address: str | None, workers: int) -> Any:
    """A ``DaskTaskRunner`` on the cluster at ``address``, or on a new LocalCluster of
    ``workers`` processes; a thread pool when neither is asked for."""
    address = dask_address(address)
    if address is None and workers <= 0:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if address is not None:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": _has_api_server(),
            "dashboard_address": None,
        },
    )


def _has_api_server() -> bool:
    # Without a Prefect server (a flow called from Python, ephemeral mode) each worker process
    # would start an ephemeral server of its own; the cluster's workers are then threads.
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)
