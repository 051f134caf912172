"""Summarises a scripts/bench.sh run: the Go benchmark output, the peers'
JSON lines and the cold-start JSON lines, as Markdown tables with the ratios
and the targets of issue 2. Usage: report.py GO_TXT PEERS_JSONL COLD_JSONL BYTES

"best" is the fastest single pass over the invocation (one Go benchmark
iteration, one peer run): on a shared machine other load only ever slows a
pass down, so the fastest passes are the fairest comparison, and the targets
are judged on them. "mean" is the mean over every pass (the Go benchmark's
usual MB/s is the mean of its iterations), shown for the spread."""
import json
import statistics
import sys

# Targets (issue 2): intake at least 3x Node and 4x Python, within 4x of the
# raw byte scan; cold start under 20 ms and resident memory under 25 MB.
NODE_X, PYTHON_X, RAW_X = 3.0, 4.0, 4.0
START_MS, RSS_MB = 20.0, 25.0


def go_results(path):
    out = {}
    for line in open(path):
        if not line.startswith("Benchmark"):
            continue
        f = line.split()
        name = f[0].split("-")[0]
        m = {f[i + 1]: float(f[i]) for i in range(2, len(f) - 1, 2)}
        m["iterations"] = int(f[1])
        out.setdefault(name, []).append(m)
    return out


def mark(ok):
    return "met" if ok else "NOT MET"


def weighted_mean(pairs):
    """Mean rate over all passes, from (mean rate, passes) per batch: the
    harmonic mean weighted by passes (rates are bytes over time)."""
    n = sum(k for _, k in pairs)
    return n / sum(k / r for r, k in pairs)


def main():
    go_txt, peers_jsonl, cold_jsonl, size = sys.argv[1:5]
    go = go_results(go_txt)
    peers = {}
    for line in open(peers_jsonl):
        line = line.strip()
        if line.startswith("{"):
            p = json.loads(line)
            peers.setdefault(p["peer"], []).append(p)

    rows = {}
    intake = go.get("BenchmarkIntake", [])
    if intake:
        rows["go"] = dict(
            label="Go intake + detect (this repo)",
            best=max(m["best-MB/s"] for m in intake),
            mean=weighted_mean([(m["MB/s"], m["iterations"]) for m in intake]),
            best_rps=max(m["best-records/s"] for m in intake),
            mean_rps=weighted_mean([(m["records/s"], m["iterations"]) for m in intake]),
            allocs=statistics.median([m["allocs/record"] for m in intake]),
            passes=sum(m["iterations"] for m in intake))
    for name, label in (("node", "Node JSON.parse + filter"), ("python", "Python json.loads + filter")):
        ps = peers.get(name, [])
        if ps:
            rows[name] = dict(
                label=f"{label} ({ps[0]['version']})",
                best=max(p["best_mbps"] for p in ps),
                mean=weighted_mean([(p["mean_mbps"], p["runs"]) for p in ps]),
                best_rps=max(p["best_rps"] for p in ps),
                mean_rps=weighted_mean([(p["mean_rps"], p["runs"]) for p in ps]),
                allocs=None, passes=sum(p["runs"] for p in ps))
    raw = go.get("BenchmarkRawScan", [])
    if raw:
        rows["raw"] = dict(
            label="raw byte scan (Go, BenchmarkRawScan)",
            best=max(m["best-MB/s"] for m in raw),
            mean=weighted_mean([(m["MB/s"], m["iterations"]) for m in raw]),
            best_rps=None, mean_rps=None, allocs=None, passes=sum(m["iterations"] for m in raw))

    recs = next((p[0]["records"] for p in peers.values() if p), None)
    if recs is None and intake:
        recs = int(intake[0]["records/op"])
    print(f"Invocation: {int(size) / 1e6:.1f} MB, {recs} records. MB = 10^6 bytes. "
          "best = fastest single pass, mean = over all passes.")
    print()
    print("| reader | best MB/s | mean MB/s | best records/s | mean records/s | allocs/record | passes |")
    print("|---|---:|---:|---:|---:|---:|---:|")

    def num(v, fmt):
        return "" if v is None else format(v, fmt)

    for r in rows.values():
        print(f"| {r['label']} | {r['best']:.0f} | {r['mean']:.0f} | {num(r['best_rps'], ',.0f')} | "
              f"{num(r['mean_rps'], ',.0f')} | {num(r['allocs'], '.2f')} | {r['passes']} |")
    print()

    g = rows.get("go")
    if g:
        print("| ratio | best | mean | target (judged on best) |")
        print("|---|---:|---:|---|")
        for key, label, target in (("node", "Go / Node", NODE_X), ("python", "Go / Python", PYTHON_X)):
            p = rows.get(key)
            if p:
                print(f"| {label} | {g['best'] / p['best']:.2f}x | {g['mean'] / p['mean']:.2f}x | "
                      f">= {target:.0f}x: {mark(g['best'] / p['best'] >= target)} |")
        rw = rows.get("raw")
        if rw:
            print(f"| raw scan / Go | {rw['best'] / g['best']:.2f}x | {rw['mean'] / g['mean']:.2f}x | "
                  f"<= {RAW_X:.0f}x: {mark(rw['best'] / g['best'] <= RAW_X)} |")
        print()

    print("| process | median start ms | p95 start ms | median RSS MB | p95 RSS MB | target |")
    print("|---|---:|---:|---:|---:|---|")
    for line in open(cold_jsonl):
        line = line.strip()
        if not line.startswith("{"):
            continue
        c = json.loads(line)
        target = ""
        if c["name"] == "spresponder":
            target = (f"< {START_MS:.0f} ms: {mark(c['median_ms'] < START_MS)}; "
                      f"< {RSS_MB:.0f} MB: {mark(c['median_rss_mb'] < RSS_MB)}")
        print(f"| {c['name']} | {c['median_ms']:.1f} | {c['p95_ms']:.1f} | {c['median_rss_mb']:.1f} | "
              f"{c['p95_rss_mb']:.1f} | {target} |")


if __name__ == "__main__":
    main()
