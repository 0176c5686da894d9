#!/usr/bin/python3
"""FTP login load: N threads each doing connect, USER, PASS, QUIT in a loop against one
server for a fixed time, users picked round-robin from a list. Prints one JSON object:
logins per second, latency percentiles (connect to 230), failures.

usage: ftp_logins.py HOST:PORT USERS_FILE PASSWORD [--threads N] [--seconds S] [--warmup S]
USERS_FILE: one user name per line.
"""
import argparse
import ftplib
import itertools
import json
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("users_file")
    ap.add_argument("password")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    a = ap.parse_args()
    host, port = a.address.rsplit(":", 1)
    with open(a.users_file) as f:
        users = [line.strip() for line in f if line.strip()]
    names = itertools.cycle(users)
    lock = threading.Lock()
    latencies, failures = [], [0]
    start = time.monotonic()
    measure_from = start + a.warmup
    stop_at = measure_from + a.seconds

    def worker():
        while True:
            now = time.monotonic()
            if now >= stop_at:
                return
            with lock:
                user = next(names)
            t0 = time.monotonic()
            ok = True
            try:
                f = ftplib.FTP()
                f.connect(host, int(port), timeout=30)
                f.login(user, a.password)
                t1 = time.monotonic()
                f.quit()
            except ftplib.all_errors:
                ok = False
                t1 = time.monotonic()
            if t0 >= measure_from and t1 <= stop_at:
                with lock:
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        failures[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()

    def pct(p):
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p / 100.0 * len(latencies)))] * 1000, 2)

    print(json.dumps({"logins": len(latencies), "failures": failures[0], "seconds": a.seconds,
                      "per_second": round(len(latencies) / a.seconds, 1), "p50_ms": pct(50), "p90_ms": pct(90),
                      "p99_ms": pct(99), "threads": a.threads}))
    return 0 if latencies and failures[0] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
