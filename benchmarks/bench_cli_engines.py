"""``clvpredict fit`` on each engine of the command line: parameters, time and memory per stage.

Runs ``clvpredict fit --engine ENGINE`` on one transaction log for each engine asked, each in a
fresh process (Spark's JVM and Python workers are that process's children), and reports per
stage of the job (the steps ``-v`` logs): the wall time, and the CPU time of the whole process
tree (the Python process, the JVM, Spark's Python workers). It also reports the peak resident
memory of the tree (sampled every 0.2 s) and the parameters each engine fitted, with the
largest relative difference from the first engine's.

    python benchmarks/bench_cli_engines.py --log DIR/log_1m.parquet --engines polars spark \\
        --spark-master "local[2]" --spark-driver-memory 4g --out results/spark_1m.txt

Spark's session start is inside the "read transactions" stage (and reported on its own line),
so the stages of both engines add up to the job's time. CPU times of processes that ended
before a stage did are counted when their parent waited for them, which Spark's do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces: the fields start after its closing parenthesis.
    return text[text.rindex(")") + 2 :].split()


def _tree(root: int) -> list[int]:
    """``root`` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root``'s process tree: user and system time of every live process and
    of the children each has waited for."""
    total = 0
    for pid in _tree(root):
        fields = _stat(pid)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14-17 of proc(5), here 11-14.
            total += sum(int(v) for v in fields[11:15])
    return total / _TICK


def tree_rss_mb(root: int) -> float:
    total = 0
    for pid in _tree(root):
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[21])  # rss in pages: field 24 of proc(5)
    return total * _PAGE / 2**20


def child(argv: list[str], report: str) -> None:
    """Run the command line in this process with every stage timed, and write a JSON report."""
    from contextlib import contextmanager

    from clvpredict.jobs import cli, pipeline

    me = os.getpid()
    stages: list[dict] = []
    peak = {"rss_mb": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["rss_mb"] = max(peak["rss_mb"], tree_rss_mb(me))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    original = pipeline.step

    @contextmanager
    def timed(name, timings=None):
        wall, cpu = time.perf_counter(), tree_cpu(me)
        with original(name, timings):
            yield
        stages.append(
            {
                "stage": name,
                "wall_s": time.perf_counter() - wall,
                "cpu_s": tree_cpu(me) - cpu,
            }
        )

    pipeline.step = timed
    cli.step = timed
    if "spark" in argv:
        from clvpredict.jobs import spark_engine

        start_session = spark_engine.spark_session

        def session(master=None):
            wall, cpu = time.perf_counter(), tree_cpu(me)
            result = start_session(master)
            stages.append(
                {
                    "stage": "(of which: Spark session start)",
                    "wall_s": time.perf_counter() - wall,
                    "cpu_s": tree_cpu(me) - cpu,
                    "inner": True,
                }
            )
            return result

        spark_engine.spark_session = session
    wall, cpu = time.perf_counter(), tree_cpu(me)
    code = cli.main(argv)
    total = {"wall_s": time.perf_counter() - wall, "cpu_s": tree_cpu(me) - cpu}
    done.set()
    sampler.join()
    Path(report).write_text(
        json.dumps({"exit": code, "stages": stages, "total": total, **peak}, indent=1)
    )


def _load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def run(engine: str, args: argparse.Namespace, scratch: Path) -> dict:
    out = scratch / engine
    argv = [
        "fit",
        "--engine",
        engine,
        "--transactions",
        args.log,
        "--time-unit",
        args.time_unit,
        "--out",
        str(out),
        *args.extra,
    ]
    if engine == "spark":
        argv += ["--spark-master", args.spark_master]
    env = dict(os.environ)
    env["PYSPARK_SUBMIT_ARGS"] = f"--driver-memory {args.spark_driver_memory} pyspark-shell"
    report = scratch / f"{engine}.json"
    load_before = _load()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--child", str(report), "--", *argv],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result = json.loads(report.read_text())
    result["process_wall_s"] = time.perf_counter() - started
    result["load"] = (load_before, _load())
    model = json.loads((out / "model.json").read_text())
    result["params"] = {
        f"{role}.{name}": value
        for role in ("purchase_model", "spend_model")
        for name, value in model[role]["params"].items()
    }
    result["lifetime_years"] = model["settings"]["lifetime_years"]
    result["n_customers"] = model["settings"]["n_customers"]
    return result


def render(results: dict[str, dict], args: argparse.Namespace) -> str:
    import narwhals
    import polars

    lines = [
        f"clvpredict fit by engine, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"log: {Path(args.log).name}; --time-unit {args.time_unit} {' '.join(args.extra)}",
        f"machine: {platform.system()}, {os.cpu_count()} cores; Python "
        f"{platform.python_version()}, polars {polars.__version__}, narwhals "
        f"{narwhals.__version__}",
    ]
    if "spark" in results:
        import pyspark

        lines.append(
            f"spark: pyspark {pyspark.__version__}, master {args.spark_master}, driver memory "
            f"{args.spark_driver_memory}"
        )
    lines.append("")
    for engine, result in results.items():
        lines.append(
            f"== {engine}: exit {result['exit']}, load average (1, 5, 15 min) before "
            f"{result['load'][0]}, after {result['load'][1]}; peak RSS of the process tree "
            f"{result['rss_mb'] / 1024:.2f} GB"
        )
        lines.append(f"{'stage':<48} {'wall s':>9} {'CPU s':>9}")
        for stage in result["stages"]:
            lines.append(f"{stage['stage']:<48} {stage['wall_s']:>9.2f} {stage['cpu_s']:>9.2f}")
        total = result["total"]
        lines.append(f"{'whole job (cli.main)':<48} {total['wall_s']:>9.2f} {total['cpu_s']:>9.2f}")
        lines.append(f"{'process, imports included':<48} {result['process_wall_s']:>9.2f}")
        lines.append("")
    engines = list(results)
    first = results[engines[0]]
    lines.append("parameters (relative difference from " + engines[0] + ")")
    header = f"{'':<24}" + "".join(f"{e:>22}" for e in engines) + "   max rel diff"
    lines.append(header)
    for name, value in first["params"].items():
        values = [results[e]["params"][name] for e in engines]
        diff = max(abs(v / value - 1.0) for v in values)
        lines.append(f"{name:<24}" + "".join(f"{v:>22.15g}" for v in values) + f"   {diff:.1e}")
    for key in ("lifetime_years", "n_customers"):
        values = [results[e][key] for e in engines]
        lines.append(f"{key:<24}" + "".join(f"{v:>22.15g}" for v in values))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[3:], argv[1])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="transaction log (Parquet file or folder)")
    parser.add_argument("--engines", nargs="+", default=["polars", "spark"])
    parser.add_argument("--time-unit", default="W")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--spark-driver-memory", default="4g")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("extra", nargs="*", help="more fit options, after --")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for engine in args.engines:
            results[engine] = run(engine, args, Path(scratch))
    text = render(results, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
