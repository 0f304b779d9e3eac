#!/usr/bin/env python3
"""Inbox page queries of a running `palaver serve` beside nginx serving a static
file of the same size, both measured with wrk, back to back, in the same run.

  inbox_vs_nginx.py --url http://127.0.0.1:PORT --shop SHOP --token TOKEN --json OUT

1. GETs /v1/shops/SHOP/inbox (the API's default page size) once with the
   admin token and notes the exact body size; the shop must hold
   conversations already (run.sh runs this after load_generator --http, which
   created them through the API).
2. Writes a static file of exactly that size into a temporary directory and
   serves it with nginx on loopback: a generated minimal nginx.conf,
   `daemon off;`, access_log off, worker_processes = nproc, as the current
   user. nginx is stopped however this script ends.
3. Runs `wrk -tT -cC -dD --latency` against the nginx file, then against the
   inbox URL with `-H "Authorization: Bearer TOKEN"` (repeated identical
   requests: palaver may answer them from its page cache, which is replaced
   whenever the shop's views change), then once more with
   `Cache-Control: no-cache` (the page read and rendered for every request),
   and writes requests/s, latency percentiles, non-2xx/3xx and socket error
   counts and both ratios (target: inbox >= 50% of nginx) to OUT.

With --server-pid (the `palaver serve` process), the report also holds the
server's CPU time (user + system, from /proc) per inbox request during the
wrk run: a figure that depends much less than requests/s on what else the
machine is running.

A run where wrk saw any non-2xx/3xx answer or socket error, or where the
inbox answered something other than 200 before the run, is written as failed
("ok": false) and the script exits 1: errors are not speed.
Python 3 standard library only; needs `wrk` and `nginx` (./deps.sh --bench).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def die_with_parent():
    """In the child: SIGTERM when this script dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def fetch(url, headers):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:  # no answer: status 0
        return 0, str(getattr(e, "reason", e)).encode()


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(out):
    """Requests/s, latency percentiles (ms), request count, errors from `wrk --latency`."""
    r = {"requests_per_second": None, "latency_ms": {}, "requests": None,
         "non_2xx_3xx": 0, "socket_errors": 0}
    m = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    if m:
        r["requests_per_second"] = float(m.group(1))
    m = re.search(r"^\s*(\d+) requests in ([\d.]+\w+)", out, re.M)
    if m:
        r["requests"] = int(m.group(1))
    dist = out.split("Latency Distribution", 1)
    if len(dist) == 2:
        for pct, value in re.findall(r"^\s*(\d+)%\s+([\d.]+\w+)", dist[1], re.M):
            r["latency_ms"]["p" + pct] = to_ms(value)
    m = re.search(r"^\s*Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", out, re.M)
    if m:
        r["latency_ms"]["avg"] = to_ms(m.group(1))
        r["latency_ms"]["max"] = to_ms(m.group(3))
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if m:
        r["non_2xx_3xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["socket_errors"] = sum(int(g) for g in m.groups())
    return r


def cpu_seconds(pid):
    """User and system CPU seconds of process `pid` so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick  # utime, stime
    except (OSError, ValueError, IndexError):
        return None


def run_wrk(args, url, headers=()):
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    p = subprocess.run(cmd, capture_output=True, text=True)
    result = parse_wrk(p.stdout)
    result["exit_code"] = p.returncode
    result["output"] = p.stdout + p.stderr
    result["ok"] = (p.returncode == 0 and result["requests_per_second"] is not None
                    and result["requests"] and result["non_2xx_3xx"] == 0
                    and result["socket_errors"] == 0)
    return result


NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  default_type application/json;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/client_body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {dir}/www;
  }}
}}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="palaver serve, http://HOST:PORT")
    ap.add_argument("--shop", required=True)
    ap.add_argument("--token", required=True, help="an API token of the shop")
    ap.add_argument("--json", required=True, help="where the figures go")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", default="10s")
    ap.add_argument("--server-pid", type=int,
                    help="pid of palaver serve: also report its CPU time per inbox request")
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            print(f"inbox_vs_nginx: {tool} is not installed (./deps.sh --bench)", file=sys.stderr)
            return 2
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"

    inbox_url = args.url.rstrip("/") + f"/v1/shops/{args.shop}/inbox"
    auth = f"Authorization: Bearer {args.token}"
    NO_CACHE = "Cache-Control: no-cache"  # the page rendered for every request
    report = {"inbox_url": inbox_url, "threads": args.threads, "connections": args.connections,
              "duration": args.duration, "ok": False}

    def write():
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)

    status, body = fetch(inbox_url, {"Authorization": f"Bearer {args.token}"})
    report["inbox_status"] = status
    report["body_bytes"] = len(body)
    try:
        rows = len(json.loads(body).get("conversations", []))
    except (ValueError, AttributeError):
        rows = None
    report["inbox_rows"] = rows
    if status != 200 or not rows:
        report["error"] = f"GET inbox answered {status} with {rows} rows: {body[:300]!r}"
        print("inbox_vs_nginx: " + report["error"], file=sys.stderr)
        write()
        return 1
    print(f"inbox page: {rows} conversations, {len(body)} bytes")

    tmp = tempfile.mkdtemp(prefix="palaver-bench-nginx.")
    nginx = None

    def stop(*_):
        if nginx and nginx.poll() is None:
            nginx.terminate()
            try:
                nginx.wait(timeout=5)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    def on_signal(signum, _frame):
        stop()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        os.makedirs(os.path.join(tmp, "www"))
        with open(os.path.join(tmp, "www", "inbox.json"), "wb") as f:
            f.write(b"x" * len(body))
        port = free_port()
        # As root, nginx would hand its workers to "nobody", who cannot read the
        # private temporary directory: keep them as the current user.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(user=user, workers=os.cpu_count() or 1, dir=tmp, port=port))
        nginx = subprocess.Popen([nginx_bin, "-p", tmp, "-c", conf, "-e", f"{tmp}/error.log"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 preexec_fn=die_with_parent)
        static_url = f"http://127.0.0.1:{port}/inbox.json"
        if not wait_for_port(port, nginx):
            err = nginx.stderr.read().decode(errors="replace") if nginx.poll() is not None else ""
            report["error"] = f"nginx did not start: {err.strip()}"
            print("inbox_vs_nginx: " + report["error"], file=sys.stderr)
            write()
            return 1
        s_status, s_body = fetch(static_url, {})
        if s_status != 200 or len(s_body) != len(body):
            report["error"] = f"nginx answered {s_status} with {len(s_body)} bytes"
            write()
            return 1

        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration} --latency: "
              f"nginx {static_url}, then {inbox_url} twice (as is, then with "
              f"'Cache-Control: no-cache')")
        report["nginx"] = run_wrk(args, static_url)
        for name, headers in (("inbox", [auth]), ("inbox_uncached", [auth, NO_CACHE])):
            before = cpu_seconds(args.server_pid) if args.server_pid else None
            report[name] = run_wrk(args, inbox_url, headers)
            after = cpu_seconds(args.server_pid) if args.server_pid else None
            if before and after and report[name]["requests"]:
                n = report[name]["requests"]
                report[name]["server_cpu_us_per_request"] = {
                    "user": (after[0] - before[0]) / n * 1e6,
                    "system": (after[1] - before[1]) / n * 1e6,
                    "total": (sum(after) - sum(before)) / n * 1e6}
    finally:
        stop()

    n, i, u = report["nginx"], report["inbox"], report["inbox_uncached"]
    for r in (i, u):
        r["ratio"] = (r["requests_per_second"] / n["requests_per_second"]
                      if n["requests_per_second"] and r["requests_per_second"] else None)
    report["ratio"] = i["ratio"]
    report["ok"] = bool(n["ok"] and i["ok"] and u["ok"])
    report["meets_target"] = bool(report["ok"] and report["ratio"] is not None
                                  and report["ratio"] >= 0.5)
    for name, r in (("nginx static", n), ("palaver inbox", i), ("  no-cache", u)):
        lat = r["latency_ms"]
        print(f"{name:14} {r['requests_per_second'] or 0:10.0f} req/s  p50 {lat.get('p50', 0):.2f} ms"
              f"  p90 {lat.get('p90', 0):.2f}  p99 {lat.get('p99', 0):.2f}  max {lat.get('max', 0):.2f}"
              f"  non-2xx/3xx {r['non_2xx_3xx']}  socket errors {r['socket_errors']}")
    for name, r in (("inbox", i), ("inbox, no-cache", u)):
        if "server_cpu_us_per_request" in r:
            cpu = r["server_cpu_us_per_request"]
            print(f"palaver serve CPU per request ({name}): {cpu['total']:.1f} us "
                  f"(user {cpu['user']:.1f}, system {cpu['system']:.1f})")
    if i["ratio"] is not None and u["ratio"] is not None:
        print(f"inbox / nginx = {i['ratio']:.3f} (target >= 0.5); "
              f"rendered every time (no-cache): {u['ratio']:.3f}")
    write()
    if not report["ok"]:
        print("inbox_vs_nginx: FAILED: wrk saw errors (see the output in the JSON)",
              file=sys.stderr)
        for name, r in (("nginx", n), ("inbox", i), ("inbox, no-cache", u)):
            if not r["ok"]:
                print(f"--- wrk against {name}:\n{r['output']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
