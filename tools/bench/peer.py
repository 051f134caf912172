"""Python peer of BenchmarkIntake: the same invocation file, decoded the way
a Python custom handler would (json.loads of the envelope, of Data.events
and of each event body), with the same category filter as the Go intake
(internal/benchdata.Handled). Timed from the request body as a str, as a
Python function is handed it (the UTF-8 decode is done before timing).
Prints one JSON line: the fastest, median and mean run, in MB/s (10^6
bytes) and records/s. Usage: python3 peer.py FILE [RUNS]"""
import json
import platform
import statistics
import sys
import time

HANDLED = {"ServicePrincipalSignInLogs", "ServicePrincipalRiskEvents", "RiskyServicePrincipals", "AuditLogs"}


def once(buf):
    inv = json.loads(buf)
    events = json.loads(inv["Data"]["events"])
    records = handled = 0
    for e in events:
        body = json.loads(e)
        for r in body["records"]:
            records += 1
            if r.get("category") in HANDLED:
                handled += 1
    return records, handled, len(events)


def main():
    if len(sys.argv) < 2:
        print("usage: python3 peer.py FILE [RUNS]", file=sys.stderr)
        sys.exit(2)
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with open(sys.argv[1], "rb") as f:
        buf = f.read()
    text = buf.decode("utf-8")  # as the function receives it: not timed
    res = once(text)  # warm-up, not counted
    wall, cpu = [], []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        res = once(text)
        t1, c1 = time.perf_counter(), time.process_time()
        wall.append(t1 - t0)
        cpu.append(c1 - c0)
    mb = len(buf) / 1e6
    records, handled, events = res
    print(json.dumps({
        "peer": "python", "from": "str", "version": platform.python_version(), "bytes": len(buf), "events": events,
        "records": records, "handled": handled, "runs": runs,
        "best_mbps": mb / min(wall), "median_mbps": mb / statistics.median(wall), "mean_mbps": mb / statistics.mean(wall),
        "best_rps": records / min(wall), "median_rps": records / statistics.median(wall), "mean_rps": records / statistics.mean(wall),
        "cpu_best_mbps": mb / min(cpu), "cpu_median_mbps": mb / statistics.median(cpu),
    }))


if __name__ == "__main__":
    main()
