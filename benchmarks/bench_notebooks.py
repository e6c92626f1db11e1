"""Run every lesson notebook top to bottom (Restart & Run All) and measure it.

Prints one JSON line: for each notebook its wall time (kernel start to last cell) and the peak
memory of its kernel (the RSS of the kernel process and all its children, summed, sampled every
``--interval`` seconds), then the total wall time and the largest peak. A notebook that raises is
reported with its error and makes the script exit 1.

    .venv/bin/python benchmarks/bench_notebooks.py                  # every notebooks/*.ipynb
    .venv/bin/python benchmarks/bench_notebooks.py notebooks/02_*.ipynb
    .venv/bin/python benchmarks/bench_notebooks.py --write notebooks/01_*.ipynb

``--write`` saves each executed notebook back in place, cleaned the way lessons are committed:
no widget state (``metadata.widgets``, widget-state and widget-view outputs), no execution
timestamps, notebook metadata reduced to the kernelspec and the language name.

Budgets (issue: the course): each lesson <= 90 s and <= 1.2 GB on a 2-core machine.
"""
import argparse
import glob
import json
import os
import sys
import threading
import time

import nbformat
import psutil
from nbclient import NotebookClient

WIDGET_MIMES = ("application/vnd.jupyter.widget-state+json", "application/vnd.jupyter.widget-view+json")


class PeakRSS:
    """Samples the summed RSS of a process tree in a thread; ``peak`` in bytes."""

    def __init__(self, interval: float):
        self.interval, self.peak, self.pid = interval, 0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)

    def _run(self):
        while not self._stop.is_set():
            if self.pid is not None:
                self._sample()
            self._stop.wait(self.interval)

    def start(self, pid):
        self.pid = pid
        self._thread.start()

    def stop(self):
        if self.pid is not None:
            self._sample()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def clean(nb):
    """Strip widget state, timestamps and editor metadata (what a committed lesson must not carry)."""
    nb.metadata = nbformat.from_dict({k: v for k, v in {
        "kernelspec": nb.metadata.get("kernelspec"),
        "language_info": {"name": nb.metadata.get("language_info", {}).get("name", "python")},
    }.items() if v is not None})
    for cell in nb.cells:
        for key in ("execution", "ExecuteTime", "collapsed", "scrolled", "widgets"):
            cell.metadata.pop(key, None)
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is not None:
                for mime in WIDGET_MIMES:
                    data.pop(mime, None)
            output.get("metadata", {}).pop("application/vnd.jupyter.widget-view+json", None)
    return nb


def run(path: str, timeout: int, interval: float, write: bool) -> dict:
    nb = nbformat.read(path, as_version=4)
    sampler = PeakRSS(interval)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            store_widget_state=False, resources={"metadata": {"path": os.path.dirname(path) or "."}})
    client.on_notebook_start = lambda notebook: sampler.start(client.km.provisioner.pid)
    error = None
    t0 = time.perf_counter()
    try:
        client.execute()
    except Exception as exc:          # report it with the figures instead of stopping the benchmark
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    wall = time.perf_counter() - t0
    sampler.stop()
    if write and error is None:
        nbformat.write(clean(nb), path)
    figures = {"wall_s": round(wall, 2), "peak_rss_mb": round(sampler.peak / 2 ** 20, 1),
               "size_kb": round(os.path.getsize(path) / 1024, 1)}
    if error:
        figures["error"] = error
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between memory samples")
    parser.add_argument("--write", action="store_true", help="save each executed notebook back, cleaned")
    args = parser.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    paths = args.paths or sorted(glob.glob(os.path.join(root, "notebooks", "*.ipynb")))
    results = {}
    for path in paths:
        results[os.path.basename(path)] = run(path, args.timeout, args.interval, args.write)
    out = {"benchmark": "notebooks", "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
           "notebooks": results,
           "total_wall_s": round(sum(r["wall_s"] for r in results.values()), 2),
           "max_peak_rss_mb": max((r["peak_rss_mb"] for r in results.values()), default=0.0),
           "budget": {"wall_s_each": 90, "peak_rss_mb_each": 1200, "total_wall_s_all_lessons": 360}}
    print(json.dumps(out))
    sys.exit(1 if any("error" in r for r in results.values()) else 0)


if __name__ == "__main__":
    main()
