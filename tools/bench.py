"""``make bench``: run every benchmark, print one table each, write bench/results.json.

    .venv/bin/python tools/bench.py                 # everything (~25 min on 2 cores)
    .venv/bin/python tools/bench.py --quick         # smaller sizes, a smoke run (~4 min)
    .venv/bin/python tools/bench.py --only scale --only ask   # others' numbers are kept
    .venv/bin/python tools/bench.py --markdown              # results.json as Markdown tables

Each benchmark runs in its own subprocess (so its peak RSS is its own) and prints one JSON object
on stdout; progress goes to stderr.  Benchmarks report numbers; they never fail on time.  The
helpers at the top are shared by the ``bench_*.py`` scripts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
SQUAD = ROOT / "tests" / "data" / "squad-dev"
TOOLS = ROOT / "tools"


# ------------------------------------------------------------------ helpers shared by bench_*.py
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (as tools/squad_eval.py)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms_stats(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean of milliseconds, rounded for reading."""
    if not values:
        return {"n": 0}
    return {"p50": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1),
            "mean": round(statistics.fmean(values), 1), "n": len(values)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_now_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def size_mb(*paths: Path) -> float:
    return round(sum(p.stat().st_size for p in paths if p.exists()) / 1e6, 1)


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def spread(items: list[Any], n: int) -> list[Any]:
    """n items evenly spaced over the list (every topic represented)."""
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """A benchmark script's last act: its result (with its own peak RSS) as JSON on stdout."""
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, indent=2), flush=True)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = [f"\n== {title}", "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)),
           line]
    out += ["  ".join(c.rjust(w) if i else c.ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in cells[1:]]
    return "\n".join(out)


# ------------------------------------------------------------------------------ running children
# A child's ru_maxrss starts at its parent's RSS (Linux records the old memory map's high-water
# mark at exec, and subprocess forks with vfork), so a 450 MB parent would make every child look
# 450 MB.  A small launcher process in between makes wait4's number the child's own.
_LAUNCHER = ("import os, subprocess, sys\n"
             "p = subprocess.Popen(sys.argv[2:])\n"
             "_, status, usage = os.wait4(p.pid, 0)\n"
             "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
             "sys.exit(os.waitstatus_to_exitcode(status) & 255)")


def run_measured(cmd: Sequence[str]) -> tuple[str, int, float, float]:
    """Run ``cmd``; its stdout, exit code, peak RSS in MB (its own) and wall seconds."""
    rss_file = Path(tempfile.mkstemp(prefix="xnai-bench-rss-")[1])
    try:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(rss_file), *cmd],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
        raw = rss_file.read_text().strip()
    finally:
        rss_file.unlink(missing_ok=True)
    return proc.stdout, proc.returncode, round(int(raw or 0) / 1024, 1), round(wall, 2)


def run_child(cmd: list[str]) -> tuple[dict[str, Any], float, float]:
    """Run one benchmark script; its JSON stdout, its peak RSS (MB) and wall time."""
    out, code, rss, wall = run_measured(cmd)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[1:3])} exited with {code}")
    return json.loads(out[out.index("{"):]), rss, round(wall, 1)


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            capture_output=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "xnai_edge"], cwd=ROOT,
                           text=True, capture_output=True).stdout.splitlines()
    return {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "git_commit": commit, "xnai_edge_uncommitted_files": len(dirty),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


def squad_kb(quick: bool) -> Path:
    return BENCH_DIR / ("squad-kb-quick" if quick else "squad-kb")


def squad_passages(quick: bool) -> list[str]:
    return ["--passages", "300"] if quick else []


def bench_ingest(quick: bool) -> list[str]:
    return [str(TOOLS / "bench_ingest.py"), "--data-dir", str(squad_kb(quick)),
            *squad_passages(quick)]


def bench_retrieval(quick: bool) -> list[str]:
    return [str(TOOLS / "squad_eval.py"), "retrieval", "--data-dir", str(squad_kb(quick)),
            "--questions", "100" if quick else "1000", *squad_passages(quick)]


def bench_scale(quick: bool, chunks: int, vectors: str) -> list[str]:
    return [str(TOOLS / "bench_retrieval_scale.py"), "--chunks", str(chunks),
            "--queries", "50" if quick else "300", "--vectors", vectors]


def bench_ask(quick: bool) -> list[str]:
    return [str(TOOLS / "bench_ask.py"), "--squad-kb", str(squad_kb(quick)),
            *squad_passages(quick), *(["--quick"] if quick else [])]


def bench_answer(quick: bool) -> list[str]:
    """Every dev question (answerable and SQuAD v2.0 unanswerable), replayed in process from a
    retrieval cache kept beside the KB (rebuilt with it)."""
    cache = BENCH_DIR / ("squad-answer-cache-quick.json" if quick else "squad-answer-cache.json")
    return [str(TOOLS / "squad_eval.py"), "answer", "--data-dir", str(squad_kb(quick)),
            "--cache", str(cache), *squad_passages(quick)]


MANUAL_SETS = ("manual-eval", "manual-dev1", "manual-dev2", "manual-dev3", "manual-dev4",
               "manual-holdout", "manual-holdout2")
"""Real technical documents as an owner's (tests/data/LICENSES.md): gzip(1) and Debian's Users
and Groups; journald.conf(5) and mosquitto.conf(5); systemd's UIDS-GIDS.md and
avahi-daemon.conf(5); the Valgrind FAQ (HTML) and the Shared MIME-info spec (PDF); the chrony
FAQ (text) and restic's "Backing up" chapter (Sphinx HTML); the
hold-out sets (measured only): logind.conf(5) and adduser.conf(5); the Valgrind manual's core
chapter (HTML) and the Libtasn1 manual (PDF)."""


def bench_manual(name: str) -> list[str]:
    return [str(TOOLS / "manual_quality.py"), "--set", str(ROOT / "tests" / "data" / name)]


def show_manuals(r: dict[str, Any]) -> str:
    rows = [[name, f["answer_contains_gold"], f["naive_contains_gold"],
             f["abstained_when_answerable"], f["abstained_when_unanswerable"],
             f"{f['words_median']} / {f['words_p95']}"]
            for name, f in r.items() if isinstance(f, dict) and "answerable" in f]
    return table("answers on real manuals (40 answerable + 10 unanswerable questions each)",
                 ["set", "right", "naive read-out", "I don't know, answerable",
                  "I don't know, unanswerable", "words median / p95"], rows)


def bench_mqtt(quick: bool) -> list[str]:
    """Home Assistant over MQTT: loop latency on/off, reconnect, traffic (tools/bench_mqtt.py)."""
    return [str(TOOLS / "bench_mqtt.py"), *(["--quick"] if quick else [])]


def bench_web(quick: bool) -> list[str]:
    """The status page: page weight, first paint, RSS added, latency under /api/status load."""
    return [str(TOOLS / "bench_web.py"), *(["--quick"] if quick else [])]


def show_web(r: dict[str, Any]) -> str:
    from tools.bench_web import show as show_bench_web  # it imports this module

    return show_bench_web(r)


def show_mqtt(r: dict[str, Any]) -> str:
    if str(ROOT) not in sys.path:  # run as a script, only tools/ is on the path
        sys.path.insert(0, str(ROOT))
    from tools.bench_mqtt import show as show_bench_mqtt  # it imports this module

    return show_bench_mqtt(r)


def bench_wyoming(quick: bool) -> list[str]:
    """Home Assistant's Assist over Wyoming: STT/TTS latency vs direct, RSS added."""
    return [str(TOOLS / "bench_wyoming.py"), *(["--quick"] if quick else [])]


def show_wyoming(r: dict[str, Any]) -> str:
    from tools.bench_wyoming import show as show_bench_wyoming  # it imports this module

    return show_bench_wyoming(r)


def scale_runs(quick: bool) -> tuple[tuple[int, str], ...]:
    """(chunks, vectors) of the scale runs; see bench_retrieval_scale.py for the two kinds."""
    if quick:
        return (2_000, "random"), (10_000, "random")
    return (10_000, "random"), (100_000, "random"), (100_000, "sentences")


# ------------------------------------------------------------------------------------- tables
ANCHORS = {"bm25": ("FTS5 BM25 (anchor)", 0.76, 0.90), "dense": ("MiniLM dense (anchor)", 0.61,
                                                                  0.84),
           "rrf": ("plain RRF (anchor)", 0.74, 0.91)}


def show_retrieval(r: dict[str, Any]) -> str:
    ret = r["retrieval"]
    k = ret.get("k", 5)
    rows = []
    for mode, name in (("bm25", "BM25 (FTS5)"), ("dense", "dense (MiniLM+FAISS)"),
                       ("rrf", "plain RRF"), ("hybrid", "hybrid (ours)")):
        lat = ret.get("latency_ms", {}).get(mode, {})
        rows.append([name, ret[f"{mode}_recall@1"], ret[f"{mode}_recall@{k}"],
                     lat.get("p50"), lat.get("p95")])
        if mode in ANCHORS:
            label, r1, rk = ANCHORS[mode]
            rows.append([f"  {label}", r1, rk, None, None])
    emb = ret.get("latency_ms", {}).get("query_embedding", {})
    rows.append(["(query embedding alone)", None, None, emb.get("p50"), emb.get("p95")])
    return table(f"retrieval on SQuAD dev: {ret['questions']} questions, "
                 f"{r['ingest']['passages']} passages", ["method", "recall@1", f"recall@{k}",
                                                         "p50 ms", "p95 ms"], rows)


def show_ingest(r: dict[str, Any]) -> str:
    rows = [["in-process (Ingestor.ingest_text + FAISS)", r["passages"], r["chunks"],
             r["ingest_s"], r["faiss_build_s"], r["total_s"], r["chunks_per_s"],
             r["passages_per_s"]]]
    if cli := r.get("cli"):
        rows.append(["`xnai-edge ingest DIR` (.md files, cold)", cli["files"], cli["chunks"],
                     None, None, cli["wall_s"], cli["chunks_per_s"], cli["files_per_s"]])
    rows.append(["naive: embed each passage (anchor)", 2067, 2067, None, None, 158.0, 13.0,
                 13.0])
    out = table("ingest of SQuAD passages into a fresh data dir",
                ["path", "passages", "chunks", "ingest s", "FAISS s", "total s", "chunks/s",
                 "passages/s"], rows)
    return out + (f"\n   embedder: {r['embed_s']} s of the ingest ({r['embed_share']:.0%}); "
                  f"SQLite+chunking+hashing: {r['other_s']} s; model load "
                  f"{r['model_load_s']} s; SQLite {r['sqlite_mb']} MB, FAISS {r['faiss_mb']} MB")


def show_scale(results: dict[str, Any]) -> str:
    rows = []
    for r in results.values():
        for kind in ("flat", "hnsw"):
            x = r.get(kind)
            if not x:
                continue
            q, st = x["search_ms"], x["stages_ms"]
            rows.append([f"{r['chunks']:,}", r["vectors"].split()[0], kind, q["p50"], q["p95"],
                         st["embed"]["p50"], st["bm25"]["p50"], st["bm25_fill"]["p50"],
                         st["faiss"]["p50"], st["faiss"]["p95"], x["build_s"], x["load_s"],
                         x["index_mb"], x.get("recall_vs_flat@10"), r["sqlite_mb"],
                         r["peak_rss_mb"]])
    note = ("\n   100k chunks are not embedded (too slow): texts are SQuAD sentences shuffled; "
            "vectors 'random' = random unit vectors,\n   'mean' = mean of the chunk's sentences' "
            "real embeddings. Queries are SQuAD questions, embedded for real.\n   bm25 fill = "
            "the second FTS5 query that scores the dense-only candidates.")
    return table("retrieval latency at scale (Retriever.search, query embedding included; ms)",
                 ["chunks", "vectors", "index", "p50", "p95", "embed p50", "bm25 p50",
                  "bm25 fill p50", "faiss p50", "faiss p95", "build s", "load s", "index MB",
                  "recall@10 vs flat", "SQLite MB", "peak RSS MB"], rows) + note


def show_ask(r: dict[str, Any]) -> str:
    rows = []
    for name in ("manual", "off_manual", "squad"):
        s = r[name]
        rows.append([f"{name} ({s['questions']} q)", s["first_token_ms"]["p50"],
                     s["first_token_ms"]["p95"], s["total_ms"]["p50"], s["total_ms"]["p95"],
                     s["retrieve_ms"]["p50"], s["correct"],
                     ", ".join(f"{m} {n}" for m, n in sorted(s["methods"].items()))])
    out = table("ask: Answerer with models loaded once", ["questions", "first token p50",
                "first token p95", "total p50", "total p95", "retrieve p50", "correct",
                                                          "methods"], rows)
    c = r["cold_start"]
    out += table("ask: one-off `xnai-edge ask` subprocess (cold start)",
                 ["case", "wall s (p50)", "runs", "peak RSS MB"],
                 [["fresh data dir (ingests the manual)", c["fresh_s"], 1, c["fresh_rss_mb"]],
                  ["existing data dir", c["warm_s"]["p50"], c["warm_s"]["n"],
                   c["warm_rss_mb"]]])
    return out + (f"\n   model load in-process: embedder {r['embedder_load_s']} s, "
                  f"LLM {r['llm_load_s']} s; first question (warm-up) {r['warmup_ms']} ms")


def show_answer(r: dict[str, Any]) -> str:
    halves = r["answer"]
    names = {"recall@1": "retrieval recall@1", "recall@5": "retrieval recall@5",
             "sentence_contains_gold": "picked sentence contains gold",
             "answer_contains_gold": "spoken answer contains gold",
             "abstained_when_answerable": "I don't know, although answerable",
             "abstained_when_unanswerable": "I don't know, unanswerable (SQuAD 2.0)",
             "abstained_when_not_in_kb": "I don't know, article not in KB",
             "words_median": "answer words, median", "words_p95": "answer words, p95"}
    cols = ("report_half", "fit_half", "all")
    rows = [[label, *(halves[c].get(key, "-") for c in cols)] for key, label in names.items()]
    rows.append(["questions (answerable / not)",
                 *(f"{halves[c]['answerable']} / {halves[c]['unanswerable']}" for c in cols)])
    return table("answer quality on SQuAD dev (fitted on fit half; report half unseen)",
                 ["metric", *cols], rows)


def show_rss(results: dict[str, Any]) -> str:
    rows = []
    for name, r in results.items():
        if name == "meta" or not isinstance(r, dict):
            continue
        if name in ("scale", "manuals"):  # one run per size / per set
            rows += [[f"{name} {n}", x.get("peak_rss_mb"), x.get("wall_s"), x.get("started"),
                      x.get("git_commit"), x.get("loadavg_1m_before"), x.get("loadavg_1m")]
                     for n, x in r.items()]
        else:
            rows.append([name, r.get("peak_rss_mb"), r.get("wall_s"), r.get("started"),
                         r.get("git_commit"), r.get("loadavg_1m_before"), r.get("loadavg_1m")])
    return table("runs (load = 1-min load average, this benchmark included)",
                 ["benchmark", "peak RSS MB", "wall s", "started", "commit", "load before",
                  "load after"], rows)


def markdown(results: dict[str, Any]) -> str:
    """The tables of a results.json as Markdown, for docs/benchmarks.md."""
    out: list[str] = []
    texts = [show(n, results) for n in NAMES if n in results and "error" not in results[n]]
    blocks = [b for text in [*texts, show_rss(results)]
              for b in text.strip("\n").split("\n== ")]
    for block in blocks:
        title, header, rule, *rows = block.removeprefix("== ").split("\n")
        notes = [r.strip() for r in rows if r.startswith("   ")]
        widths = [len(c) for c in rule.split("  ")]
        cut = [[line[sum(widths[:i]) + 2 * i:sum(widths[:i + 1]) + 2 * i].strip()
                for i in range(len(widths))]
               for line in (header, *(r for r in rows if not r.startswith("   ")))]
        out += [f"**{title}**\n", "| " + " | ".join(cut[0]) + " |", "|" + "---|" * len(widths)]
        out += ["| " + " | ".join(c) + " |" for c in cut[1:]]
        out += ["", *notes, ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------- main
NAMES = ("ingest", "retrieval", "scale", "ask", "answer", "manuals", "mqtt", "web", "wyoming")


def run_one(name: str, quick: bool, results: dict[str, Any]) -> None:
    py = sys.executable
    specs: list[tuple[list[str], dict[str, Any], str]] = []  # command, where, key
    if name == "scale":
        results.setdefault("scale", {})
        specs += [([py, *bench_scale(quick, n, v)], results["scale"],
                   str(n) if v == "random" else f"{n}-{v}") for n, v in scale_runs(quick)]
    elif name == "manuals":
        results.setdefault("manuals", {})
        specs += [([py, *bench_manual(m)], results["manuals"], m) for m in MANUAL_SETS]
    else:
        cmd = {"ingest": bench_ingest, "retrieval": bench_retrieval, "ask": bench_ask,
               "answer": bench_answer, "mqtt": bench_mqtt, "web": bench_web,
               "wyoming": bench_wyoming}[name](quick)
        specs.append(([py, *cmd], results, name))
    for cmd, where, key in specs:
        log(f"running {' '.join(Path(c).name if '/' in c else c for c in cmd)}")
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        load_before = round(os.getloadavg()[0], 2)
        result, rss, wall = run_child(cmd)
        result.setdefault("peak_rss_mb", rss)
        result["wait4_peak_rss_mb"] = rss
        result["wall_s"] = wall
        result["started"] = started
        result["git_commit"] = machine()["git_commit"]
        result["loadavg_1m_before"] = load_before
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
        where[key] = result


def show(name: str, results: dict[str, Any]) -> str:
    return {"ingest": show_ingest, "retrieval": show_retrieval, "scale": show_scale,
            "ask": show_ask, "answer": show_answer, "manuals": show_manuals, "mqtt": show_mqtt,
            "web": show_web, "wyoming": show_wyoming}[name](results[name])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only these ({', '.join(NAMES)}); repeat or comma-separate")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    parser.add_argument("--markdown", action="store_true",
                        help="print the tables of an existing --out file as Markdown; run nothing")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.out.read_text(encoding="utf-8"))))
        return 0
    chosen = [n.strip() for o in args.only or [] for n in o.split(",") if n.strip()] or NAMES
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if "ingest" not in chosen and not squad_kb(args.quick).exists() and \
            set(chosen) & {"retrieval", "ask", "answer"}:
        log("no SQuAD knowledge base yet: it is built first (not timed as the ingest benchmark)")
    BENCH_DIR.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    if args.only and args.out.exists():  # keep the other benchmarks' numbers
        results = json.loads(args.out.read_text(encoding="utf-8"))
        if results.get("meta", {}).get("quick") != args.quick:
            results = {}
    results["meta"] = {**machine(), "quick": args.quick}
    failed = []
    for name in NAMES:
        if name not in chosen:
            continue
        try:
            run_one(name, args.quick, results)
            print(show(name, results), flush=True)
        except (RuntimeError, OSError, ValueError, KeyError, TypeError) as exc:  # go on
            failed.append(name)
            results[name] = {"error": str(exc)}
            log(f"{name} failed: {exc}")
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    results["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(show_rss(results))
    meta = results["meta"]
    print(f"\ncommit {meta['git_commit']} ({meta['xnai_edge_uncommitted_files']} uncommitted "
          f"files under xnai_edge/); load average at start {meta['loadavg_start']}, at end "
          f"{meta['loadavg_end']} ({meta['cores']} cores); all numbers in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
