"""Where sweep tasks run: inline, on local worker processes, or on a Dask cluster; rows come back in task order.

Local workers die with the sweep: each one watches the process that started the sweep and exits as soon as it
is gone (SIGTERM or SIGKILL of the parent included), so no orphan keeps computing.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .errors import OptionError
from .replications import Task, run_task

__all__ = ["run_tasks"]

#: How often a local worker checks that the sweep that started it is still alive (seconds).
_WATCH_EVERY = 0.5


def _watch_parent(parent: int) -> None:
    """Worker initializer: a daemon thread that exits the worker as soon as the sweep process is gone."""

    def gone() -> bool:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return os.getppid() == 1      # re-parented to init: whatever started us has died

    def watch() -> None:
        while not gone():
            time.sleep(_WATCH_EVERY)
        os._exit(1)

    if gone():
        os._exit(1)
    threading.Thread(target=watch, name="mfi-sim parent watch", daemon=True).start()


def run_tasks(tasks: Sequence[Task], workers: int = 1, dask: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Runs the tasks inline (workers=1), on a local process pool, or on Dask; rows in task order."""
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(tasks))

    if dask is not None:
        return _run_dask(tasks, dask, workers, tick)
    if workers <= 1 or len(tasks) <= 1:
        rows = []
        for task in tasks:
            rows.append(run_task(task))
            tick()
        return rows
    return _run_processes(tasks, workers, tick)


def _run_processes(tasks: Sequence[Task], workers: int, tick: Callable[[], None]) -> list[dict[str, Any]]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    rows_by_index: dict[int, dict[str, Any]] = {}
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), initializer=_watch_parent,
                               initargs=(os.getpid(),))
    try:
        futures = {pool.submit(run_task, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            rows_by_index[futures[future]] = future.result()
            tick()
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or failed: the workers write nothing, so they stop now rather than
        # after their current task (the interpreter would wait for them on exit).
        for worker in list((pool._processes or {}).values()):
            worker.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [rows_by_index[i] for i in range(len(tasks))]


def _run_dask(tasks: Sequence[Task], address: str, workers: int, tick: Callable[[], None]) -> list[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise OptionError("--dask needs the dask extra: pip install 'mfi-sim[dask]'") from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=30)
        except OSError as exc:
            raise OptionError(f"--dask {address}: cannot reach the scheduler ({exc})") from None
    try:
        futures = client.map(run_task, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        rows: dict[int, dict[str, Any]] = {}
        for future in as_completed(futures):
            rows[index[future.key]] = future.result()
            tick()
        return [rows[i] for i in range(len(tasks))]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
