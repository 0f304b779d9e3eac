#!/usr/bin/env python3
"""Builds benchmarks/results/report.json, report.md and latency.svg from the
raw outputs benchmarks/run.sh leaves in the results directory:

  micro.json            Google Benchmark JSON of micro_benchmark
  load-embedded.json    load_generator --log embedded --json
  load-kafka.json       load_generator --log kafka --json
  ingest.json           ingest_benchmark --json
  projection.txt        stdout of projection_benchmark
  http-embedded.json    (when the build has the HTTP API) load_generator --http
  http-kafka.json       against `palaver serve` on the embedded log / the broker
  inbox-wrk.json        inbox_vs_nginx.py: wrk against the inbox page and nginx
  run.json              what run.sh recorded (mode, start/end, load averages)

Every palaver figure is printed beside the raw limit measured in the same run
and the ratio between them. Python 3 standard library only.

Usage: report.py RESULTS_DIR
"""
import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def machine():
    info = {"nproc": os.cpu_count()}
    try:
        info["nproc"] = int(subprocess.check_output(["nproc"], text=True).strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    cpuinfo = read_text("/proc/cpuinfo") or ""
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    info["cpu_model"] = m.group(1).strip() if m else platform.processor()
    meminfo = read_text("/proc/meminfo") or ""
    m = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    info["memory_gib"] = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    info["debian_version"] = (read_text("/etc/debian_version") or "").strip()
    info["kernel"] = platform.release()
    return info


# ---------------------------------------------------------------- micro

def micro_rows(micro):
    """name -> items_per_second (and extra counters) from Google Benchmark JSON."""
    rows = {}
    if not micro:
        return rows
    for b in micro.get("benchmarks", []):
        if b.get("error_occurred"):
            rows[b["name"].split("/iterations:")[0].split("/manual_time")[0]] = {
                "error": b.get("error_message", "error")}
            continue
        name = b["name"]
        for suffix in ("/manual_time", "/real_time"):
            name = name.replace(suffix, "")
        name = re.sub(r"/iterations:\d+", "", name)
        rows[name] = {k: v for k, v in b.items()
                      if k in ("items_per_second", "bytes_per_second", "real_time",
                               "cpu_time", "time_unit", "iterations", "puts_per_event",
                               "failed_applies")}
    return rows


def ips(rows, name):
    r = rows.get(name)
    return r.get("items_per_second") if r else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_rate(v):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k/s"
    return f"{v:.0f}/s"


def fmt_ratio(v):
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:.0f}x"
    if v >= 10:
        return f"{v:.1f}x"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}x"


def fmt_ms(v):
    return "n/a" if v is None else f"{v:.2f} ms"


def micro_tables(rows):
    produce = ips(rows, "raw/kafka_produce/event_frames")
    consume = ips(rows, "raw/kafka_consume/event_frames")
    json_consume = ips(rows, "raw/kafka_consume/storefront_json")
    json_produce = ips(rows, "raw/kafka_produce/storefront_json")
    codec, storefront, projections = [], [], []
    types = sorted({n.split("/", 1)[1] for n in rows if n.startswith("encode/")})
    for t in types:
        enc, dec = ips(rows, "encode/" + t), ips(rows, "decode/" + t)
        codec.append({"type": t, "encode_per_second": enc, "decode_per_second": dec,
                      "encode_to_raw_produce": ratio(enc, produce),
                      "decode_to_raw_consume": ratio(dec, consume)})
    stypes = sorted({n.split("/", 2)[2] for n in rows if n.startswith("storefront/map/")})
    for t in stypes:
        m = ips(rows, "storefront/map/" + t)
        storefront.append({"type": t,
                           "parse_per_second": ips(rows, "storefront/parse/" + t),
                           "validate_per_second": ips(rows, "storefront/validate/" + t),
                           "map_per_second": m,
                           "map_to_raw_consume": ratio(m, json_consume)})
    pnames = sorted({n.split("/", 1)[1] for n in rows if n.startswith("projector/")})
    for p in pnames:
        proj = ips(rows, "projector/" + p)
        raw = ips(rows, "raw/rocksdb_writebatch/" + p)
        apply = ips(rows, "apply/" + p)
        projections.append({"projection": p, "apply_in_memory_per_second": apply,
                            "projector_per_second": proj,
                            "raw_writebatch_per_second": raw,
                            "projector_to_raw": ratio(proj, raw),
                            "apply_to_raw": ratio(apply, raw),
                            "puts_per_event": (rows.get("raw/rocksdb_writebatch/" + p) or {}).get(
                                "puts_per_event")})
    limits = {"kafka_produce_event_frames": produce, "kafka_consume_event_frames": consume,
              "kafka_produce_storefront_json": json_produce,
              "kafka_consume_storefront_json": json_consume}
    return codec, storefront, projections, limits


# ---------------------------------------------------------------- projection_benchmark

def parse_projection(text):
    if not text:
        return None
    out = {}
    m = re.search(r"rebuild: (\d+) events in ([\d.]+) s = (\d+) events/s", text)
    if m:
        out["rebuild_events_per_second"] = float(m.group(3))
    m = re.search(r"raw rocksdb WriteBatch\(1000\).*?(\d+) puts, (\d+) puts/s", text)
    if m:
        out["raw_puts_per_second"] = float(m.group(2))
    out["inbox"] = []
    for m in re.finditer(r"inbox (.+?)\s+p50\s+([\d.]+) us\s+p99\s+([\d.]+) us", text):
        out["inbox"].append({"query": m.group(1).strip(), "p50_us": float(m.group(2)),
                             "p99_us": float(m.group(3))})
    m = re.search(r"inbox build: (\d+) conversations", text)
    if m:
        out["conversations"] = int(m.group(1))
    m = re.search(r"peak RSS:\s*(\d+) kB", text)
    if m:
        out["peak_rss_bytes"] = int(m.group(1)) * 1024
    m = re.search(r"rebuild memory: peak (\d+) kB above", text)
    if m:
        out["rebuild_memory_bytes"] = int(m.group(1)) * 1024
    return out


# ---------------------------------------------------------------- SVG

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def svg_panel(x0, y0, w, h, title, series, ylabel, xlabel="seconds into the measured window"):
    """series: list of (label, [(x, y)], color, dashed)."""
    parts = []
    pts = [p for _, s, _, _ in series for p in s]
    if not pts:
        parts.append(f'<text x="{x0 + w / 2}" y="{y0 + h / 2}" text-anchor="middle" '
                     f'font-size="13">{title}: no data</text>')
        return parts
    xmax = max(p[0] for p in pts) or 1
    ymax = max(p[1] for p in pts) or 1
    ymax *= 1.1
    left, bottom = 60, 40
    pw, ph = w - left - 20, h - bottom - 30

    def X(x):
        return x0 + left + pw * x / xmax

    def Y(y):
        return y0 + 30 + ph - ph * min(y, ymax) / ymax

    parts.append(f'<text x="{x0 + w / 2}" y="{y0 + 18}" text-anchor="middle" font-size="14" '
                 f'font-weight="bold">{title}</text>')
    parts.append(f'<rect x="{x0 + left}" y="{y0 + 30}" width="{pw}" height="{ph}" fill="none" '
                 f'stroke="#999"/>')
    for i in range(6):
        yv = ymax * i / 5
        parts.append(f'<line x1="{x0 + left}" x2="{x0 + left + pw}" y1="{Y(yv):.1f}" '
                     f'y2="{Y(yv):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x0 + left - 6}" y="{Y(yv) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{yv:.3g}</text>')
    for i in range(6):
        xv = xmax * i / 5
        parts.append(f'<text x="{X(xv):.1f}" y="{y0 + 30 + ph + 16}" text-anchor="middle" '
                     f'font-size="11">{xv:.3g}</text>')
    parts.append(f'<text x="{x0 + left + pw / 2}" y="{y0 + h - 4}" text-anchor="middle" '
                 f'font-size="11">{xlabel}</text>')
    parts.append(f'<text x="{x0 + 14}" y="{y0 + 30 + ph / 2}" text-anchor="middle" font-size="11" '
                 f'transform="rotate(-90 {x0 + 14} {y0 + 30 + ph / 2})">{ylabel}</text>')
    ly = y0 + 40
    for label, s, color, dashed in series:
        if not s:
            continue
        d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in s)
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} '
                     f'points="{d}"/>')
        parts.append(f'<line x1="{x0 + left + pw - 190}" x2="{x0 + left + pw - 170}" y1="{ly}" '
                     f'y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{x0 + left + pw - 165}" y="{ly + 4}" font-size="11">{label}</text>')
        ly += 15
    return parts


def write_svg(path, loads, https):
    w, h = 900, 300
    panels = []
    lat_series, lag_series = [], []
    c = 0
    for mode, load in loads.items():
        if not load:
            continue
        s = load.get("projected_latency_series", [])
        lat_series.append((f"{mode} p50", [(p["t"], p["p50"]) for p in s], COLORS[c], False))
        lat_series.append((f"{mode} p99", [(p["t"], p["p99"]) for p in s], COLORS[c], True))
        lag_series.append((f"{mode} events behind",
                           [(p["t"], p["events_behind"]) for p in load.get("lag_series", [])],
                           COLORS[c], False))
        c += 1
    panels.append(("append -> projected latency (ms), per 0.5 s window", lat_series, "ms"))
    panels.append(("projection lag (events appended, not yet projected)", lag_series, "events"))
    ws_series = []
    for i, (mode, http) in enumerate((https or {}).items()):
        if http and http.get("ws_latency_series"):
            s = http["ws_latency_series"]
            ws_series.append((f"{mode} p50", [(p["t"], p["p50"]) for p in s], COLORS[3 + i], False))
            ws_series.append((f"{mode} p99", [(p["t"], p["p99"]) for p in s], COLORS[3 + i], True))
    if ws_series:
        panels.append(("shopper POST -> agent WebSocket latency (ms), per 0.5 s window",
                       ws_series, "ms"))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h * len(panels)}" '
             f'font-family="sans-serif">',
             f'<rect width="100%" height="100%" fill="white"/>']
    for i, (title, series, ylabel) in enumerate(panels):
        parts += svg_panel(0, i * h, w, h, title, series, ylabel)
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


# ---------------------------------------------------------------- markdown

def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[1]
    run = load(os.path.join(d, "run.json")) or {}
    micro = load(os.path.join(d, "micro.json"))
    loads = {"embedded": load(os.path.join(d, "load-embedded.json")),
             "kafka": load(os.path.join(d, "load-kafka.json"))}
    ingest = load(os.path.join(d, "ingest.json"))
    https = {"embedded": load(os.path.join(d, "http-embedded.json")),
             "kafka": load(os.path.join(d, "http-kafka.json"))}
    projection = parse_projection(read_text(os.path.join(d, "projection.txt")))
    inbox_wrk = load(os.path.join(d, "inbox-wrk.json"))
    rows = micro_rows(micro)
    codec, storefront, projections, limits = micro_tables(rows)

    summary = []

    def add(stage, figure, value, unit, limit_name, limit, r, target=""):
        summary.append({"stage": stage, "figure": figure, "value": value, "unit": unit,
                        "limit": limit_name, "limit_value": limit, "ratio": r, "target": target})

    for mode, load_ in loads.items():
        if not load_:
            continue
        raw = load_.get("raw", {})
        limit = (raw.get("kafka_produce") or raw.get("rocksdb_writebatch") or {}).get("per_second")
        add(f"end-to-end load ({mode})", "sustained events/s", load_["events_per_second"],
            "events/s", load_.get("raw_limit_name", ""), limit, load_.get("ratio_to_raw"),
            ">= 50% of raw (Kafka)" if mode == "kafka" else "")
        same = raw.get("rocksdb_same_shape")
        if same:
            add(f"end-to-end load ({mode})", "sustained events/s vs raw of the same shape",
                load_["events_per_second"], "events/s",
                f'RocksDB WriteBatch({raw.get("same_shape_batch")}) from '
                f'{raw.get("same_shape_writers")} writers, same sync',
                same.get("per_second"), ratio(load_["events_per_second"], same.get("per_second")))
        if raw.get("kafka_consume"):
            add(f"end-to-end load ({mode})", "sustained events/s vs raw consume",
                load_["events_per_second"], "events/s", "librdkafka consume of the same records",
                raw["kafka_consume"].get("per_second"),
                ratio(load_["events_per_second"], raw["kafka_consume"].get("per_second")))
        p = load_["projected_latency_ms"]
        add(f"end-to-end load ({mode})", "append -> projected p50 / p95 / p99 / max",
            f'{p["p50"]:.2f} / {p["p95"]:.2f} / {p["p99"]:.2f} / {p["max"]:.2f}', "ms", "", None, None)
        cl = load_["command_latency_ms"]
        add(f"end-to-end load ({mode})", "command (Execute) p50 / p99",
            f'{cl["p50"]:.2f} / {cl["p99"]:.2f}', "ms", "", None, None)
        add(f"end-to-end load ({mode})", "max projection lag", load_.get("max_lag_events"),
            "events", "", None, None)
        rp = load_.get("replay", {})
        add(f"replay ({mode})", "rebuild every view from offset 0", rp.get("events_per_second"),
            "events/s", "raw read of the same log", rp.get("raw_log_read_per_second"),
            rp.get("ratio"), ">= 150,000 events/s")
        add(f"end-to-end load ({mode})", "peak RSS (in-process engine + projector + driver)",
            round(load_.get("peak_rss_bytes", 0) / 2**20, 1), "MiB", "", None, None)
    if ingest:
        pv = ingest["palaver"]
        add("storefront ingestion (Kafka)", "JSON in -> projected views",
            pv["events_per_second"], "events/s", "raw librdkafka consume of the same records",
            ingest["raw_consume"]["per_second"], ingest["ratio_to_raw_consume"],
            ">= 100,000 events/s")
        add("storefront ingestion (Kafka)", "raw produce of the same records",
            ingest["raw_produce"]["per_second"], "records/s", "", None, None)
        add("storefront ingestion (Kafka)", "MapStorefrontRecord alone (JSON stage, 1 thread)",
            ingest["map_only_per_second"], "records/s", "raw librdkafka consume",
            ingest["raw_consume"]["per_second"],
            ratio(ingest["map_only_per_second"], ingest["raw_consume"]["per_second"]))
        obo = (ingest.get("raw_produce_one_by_one") or {}).get("per_second")
        add("storefront ingestion (Kafka)", "JSON in -> projected views (records)",
            pv["records_per_second"], "records/s",
            "raw produce one by one, each awaiting its ack", obo,
            ratio(pv["records_per_second"], obo))
        add("storefront ingestion (Kafka)", "engine Execute alone on the Kafka log (1 thread)",
            ingest.get("engine_only_per_second"), "commands/s", "raw librdkafka consume",
            ingest["raw_consume"]["per_second"],
            ratio(ingest.get("engine_only_per_second"), ingest["raw_consume"]["per_second"]))
    if projection:
        add("projection_benchmark", "rebuild", projection.get("rebuild_events_per_second"),
            "events/s", "raw RocksDB WriteBatch(1000) puts/s of the rebuilt keys",
            projection.get("raw_puts_per_second"),
            ratio(projection.get("rebuild_events_per_second"), projection.get("raw_puts_per_second")),
            ">= 150,000 events/s")
        if projection.get("rebuild_memory_bytes"):
            add("projection_benchmark", "rebuild memory: peak RSS above the RSS before it",
                f'{projection["rebuild_memory_bytes"] / (1 << 20):.0f}', "MiB", "", None, None,
                "bounded by the configured caches")
        for q in projection.get("inbox", []):
            add("projection_benchmark", f'inbox page "{q["query"]}" p50 / p99 at '
                f'{projection.get("conversations", "?")} conversations',
                f'{q["p50_us"] / 1000:.3f} / {q["p99_us"] / 1000:.3f}', "ms", "", None, None,
                "p99 <= 2 ms at 1 M")
    for mode, http in https.items():
        if not http:
            continue
        p = http.get("ws_latency_ms") or {}
        short = http.get("sent_per_second", 0) < 0.98 * http.get("rate", 0)
        add(f"HTTP/WebSocket ({mode} log)",
            f'shopper POST -> agent WebSocket p50 / p95 / p99 / max at {http.get("rate", 0):.0f}/s '
            f'offered ({http.get("sent_per_second", 0):.0f}/s sent'
            f'{" = BELOW the offered rate" if short else ""}, '
            f'{http.get("seen_on_stream", 0)} of {http.get("answered_2xx", 0)} seen)',
            f'{p.get("p50", 0):.2f} / {p.get("p95", 0):.2f} / {p.get("p99", 0):.2f} / '
            f'{p.get("max", 0):.2f}', "ms", "", None, None, "p99 <= 25 ms at 1,000/s")
        q = http.get("post_latency_ms") or {}
        add(f"HTTP/WebSocket ({mode} log)", "POST answered p50 / p99",
            f'{q.get("p50", 0):.2f} / {q.get("p99", 0):.2f}', "ms", "", None, None)
        if http.get("server_peak_rss_bytes"):
            add(f"HTTP/WebSocket ({mode} log)", "palaver serve peak RSS",
                round(http["server_peak_rss_bytes"] / 2**20, 1), "MiB", "", None, None,
                "bounded by configuration")
    if inbox_wrk:
        n, i = inbox_wrk.get("nginx") or {}, inbox_wrk.get("inbox") or {}
        failed = "" if inbox_wrk.get("ok") else " (FAILED: errors, see below)"
        add("HTTP inbox page (wrk)",
            f'GET /inbox, {inbox_wrk.get("inbox_rows")} conversations, '
            f'{inbox_wrk.get("body_bytes")} bytes{failed}',
            i.get("requests_per_second"), "requests/s",
            "nginx, static file of the same size, same wrk", n.get("requests_per_second"),
            inbox_wrk.get("ratio") if inbox_wrk.get("ok") else None, ">= 50% of nginx")
        u = inbox_wrk.get("inbox_uncached") or {}
        if u:
            add("HTTP inbox page (wrk)", "the same with Cache-Control: no-cache (rendered every time)",
                u.get("requests_per_second"), "requests/s",
                "nginx, static file of the same size, same wrk", n.get("requests_per_second"),
                u.get("ratio") if inbox_wrk.get("ok") else None, "")
        for name, r in (("inbox", i), ("inbox no-cache", u), ("nginx", n)):
            if not r:
                continue
            lat = r.get("latency_ms") or {}
            add("HTTP inbox page (wrk)", f"{name} latency p50 / p90 / p99 / max",
                " / ".join(f'{lat.get(k, 0):.2f}' for k in ("p50", "p90", "p99", "max")),
                "ms", "", None, None)

    report = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "run": run,
        "summary": summary,
        "micro": {"codec": codec, "storefront": storefront, "projections": projections,
                  "limits": limits, "all": rows},
        "load": loads,
        "ingest": ingest,
        "projection_benchmark": projection,
        "http": https,
        "inbox_wrk": inbox_wrk,
    }
    with open(os.path.join(d, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    write_svg(os.path.join(d, "latency.svg"), loads, https)

    m = report["machine"]
    md = []
    md.append("# palaver benchmark report\n")
    md.append(f'Generated {report["generated_at"]} by `benchmarks/run.sh` '
              f'({run.get("mode", "?")} mode). Machine: {m["nproc"]} cores, {m["cpu_model"]}, '
              f'{m["memory_gib"]} GiB, Debian {m["debian_version"]}, kernel {m["kernel"]}. '
              f'Load average at start {run.get("loadavg_start", "?")}, at end '
              f'{run.get("loadavg_end", "?")}.\n')
    md.append("Every palaver figure stands beside the raw limit of the layer underneath, "
              "measured in the same run on the same machine; the ratio is the figure that "
              "counts (absolute numbers drift on a shared machine).\n")
    md.append("## Summary\n")

    def val(v, unit):
        if isinstance(v, (int, float)):
            if unit.endswith("/s"):
                return fmt_rate(v)
            if unit == "events":
                return f"{v:,.0f}"
            if unit == "MiB":
                return f"{v:,.1f}"
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
        return "n/a" if v is None else str(v)

    md.append(md_table(["stage", "figure", "palaver", "unit", "raw limit", "limit", "ratio", "target"],
                       [[s["stage"], s["figure"], val(s["value"], s["unit"]), s["unit"],
                         s["limit"], fmt_rate(s["limit_value"]) if s["limit_value"] else "",
                         fmt_ratio(s["ratio"]) if s["ratio"] is not None else "", s["target"]]
                        for s in summary]))
    md.append("\n![append -> projected latency and projection lag](latency.svg)\n")
    for mode, load_ in loads.items():
        if not load_:
            continue
        c = load_["config"]
        md.append(f"### Load generator, {mode} log\n")
        md.append(f'{c["shops"]} shops (Zipf {c["zipf"]}), {c["conversations"]} conversations, '
                  f'{c["agents_per_shop"]} agents per shop, {c["drivers"]} drivers, '
                  f'{load_["window_seconds"]:.1f} s measured, {c["partitions"]} partitions'
                  f'{", sync writes" if c.get("sync_writes") else ""}. '
                  f'{load_["commands"]} actions ({load_["commands_per_second"]:.0f}/s), '
                  f'{load_["events"]} events appended; drain after the load '
                  f'{load_["drain_seconds"]:.2f} s.\n')
        md.append(md_table(["action", "count"], [[k, v] for k, v in load_["mix"].items()]))
        if load_.get("errors"):
            md.append("\nRefused or failed: " + ", ".join(f"{k} = {v}" for k, v in
                                                         load_["errors"].items()) + "\n")
        md.append("")
    if ingest:
        pv = ingest["palaver"]
        md.append("### Storefront ingestion (issue 6)\n")
        md.append(f'{ingest["records"]} records (avg {ingest["average_record_bytes"]:.0f} bytes), '
                  f'{ingest["shops"]} shops, {ingest["partitions"]} partitions. palaver: '
                  f'{pv["records"]} records -> {pv["events"]} events in {pv["seconds"]:.2f} s '
                  f'({"complete" if pv["complete"] else "stopped at the time bound"}, '
                  f'{"all projected" if pv["projected"] else "NOT all projected"}), dead letters '
                  f'{pv["dead_letters"]}, retries {pv["retries"]}.\n')
        md.append(md_table(["stage", "rate", "ratio to raw consume"], [
            ["raw librdkafka produce (idempotent, acks=all)",
             fmt_rate(ingest["raw_produce"]["per_second"]), ""],
            ["raw librdkafka consume", fmt_rate(ingest["raw_consume"]["per_second"]), "1"],
            ["raw produce one by one, each awaiting its ack (serial round trips)",
             fmt_rate((ingest.get("raw_produce_one_by_one") or {}).get("per_second")),
             fmt_ratio(ratio((ingest.get("raw_produce_one_by_one") or {}).get("per_second"),
                             ingest["raw_consume"]["per_second"]))],
            ["MapStorefrontRecord only (parse + validate + decode + map)",
             fmt_rate(ingest["map_only_per_second"]),
             fmt_ratio(ratio(ingest["map_only_per_second"], ingest["raw_consume"]["per_second"]))],
            ["engine Execute only, Kafka log, 1 thread (commands)",
             fmt_rate(ingest.get("engine_only_per_second")),
             fmt_ratio(ratio(ingest.get("engine_only_per_second"),
                             ingest["raw_consume"]["per_second"]))],
            ["palaver: consumer -> engine -> Kafka log -> projected (records)",
             fmt_rate(pv["records_per_second"]), fmt_ratio(ingest["ratio_to_raw_consume"])],
            ["palaver: events projected", fmt_rate(pv["events_per_second"]),
             fmt_ratio(ratio(pv["events_per_second"], ingest["raw_consume"]["per_second"]))],
        ]))
        md.append("")
    md.append("## Microbenchmarks\n")
    md.append(f'Raw limits: librdkafka produce of the encoded sample frames '
              f'{fmt_rate(limits["kafka_produce_event_frames"])}, consume '
              f'{fmt_rate(limits["kafka_consume_event_frames"])}; of the storefront JSON examples '
              f'produce {fmt_rate(limits["kafka_produce_storefront_json"])}, consume '
              f'{fmt_rate(limits["kafka_consume_storefront_json"])}. A ratio above 1 means the '
              f'stage is faster than the layer it feeds and is not the bottleneck.\n')
    md.append("### Event codec (one sample per type)\n")
    md.append(md_table(["type", "encode", "decode", "encode / raw produce", "decode / raw consume"],
                       [[r["type"], fmt_rate(r["encode_per_second"]), fmt_rate(r["decode_per_second"]),
                         fmt_ratio(r["encode_to_raw_produce"]), fmt_ratio(r["decode_to_raw_consume"])]
                        for r in codec]))
    md.append("\n### Storefront JSON (schema examples)\n")
    md.append(md_table(["type", "parse", "validate", "map (all of it)", "map / raw consume"],
                       [[r["type"], fmt_rate(r["parse_per_second"]), fmt_rate(r["validate_per_second"]),
                         fmt_rate(r["map_per_second"]), fmt_ratio(r["map_to_raw_consume"])]
                        for r in storefront]))
    md.append("\n### Projections (generated events)\n")
    md.append(md_table(["projection", "Apply in memory", "Projector (log -> RocksDB)",
                        "raw RocksDB WriteBatch of its puts", "Projector / raw", "puts per event"],
                       [[r["projection"], fmt_rate(r["apply_in_memory_per_second"]),
                         fmt_rate(r["projector_per_second"]), fmt_rate(r["raw_writebatch_per_second"]),
                         fmt_ratio(r["projector_to_raw"]),
                         f'{r["puts_per_event"]:.2f}' if r["puts_per_event"] else "n/a"]
                        for r in projections]))
    if inbox_wrk:
        md.append("\n### Inbox page vs nginx (wrk)\n")
        md.append(f'`wrk -t{inbox_wrk.get("threads")} -c{inbox_wrk.get("connections")} '
                  f'-d{inbox_wrk.get("duration")} --latency`, nginx first, then '
                  f'`GET {inbox_wrk.get("inbox_url")}` with an admin Bearer token: the page held '
                  f'{inbox_wrk.get("inbox_rows")} conversations, {inbox_wrk.get("body_bytes")} bytes; '
                  f'nginx served a file of the same size on loopback. '
                  + ("" if inbox_wrk.get("ok") else
                     f'**FAILED**: {inbox_wrk.get("error", "wrk saw non-2xx/3xx answers or socket errors")}.')
                  + "\n")
        wrows = []
        for name in ("nginx", "inbox", "inbox_uncached"):
            r = inbox_wrk.get(name)
            if not r:
                continue
            lat = r.get("latency_ms") or {}
            wrows.append([name, fmt_rate(r.get("requests_per_second")),
                          *(fmt_ms(lat.get(k)) for k in ("p50", "p75", "p90", "p99", "max")),
                          r.get("requests"), r.get("non_2xx_3xx"), r.get("socket_errors")])
        md.append(md_table(["server", "requests/s", "p50", "p75", "p90", "p99", "max", "requests",
                            "non-2xx/3xx", "socket errors"], wrows))
        md.append("\n`inbox` repeats one request, which palaver may answer from its page cache "
                  "(replaced whenever the shop's views change); `inbox_uncached` sends "
                  "`Cache-Control: no-cache`, so every page is read and rendered.\n")
        if inbox_wrk.get("ratio") is not None:
            md.append(f'\ninbox / nginx = {inbox_wrk["ratio"]:.3f} (target >= 0.5)\n')
        uncached_ratio = (inbox_wrk.get("inbox_uncached") or {}).get("ratio")
        if uncached_ratio is not None:
            md.append(f'\ninbox_uncached / nginx = {uncached_ratio:.3f}\n')
        for name in ("inbox", "inbox_uncached"):
            cpu = (inbox_wrk.get(name) or {}).get("server_cpu_us_per_request")
            if cpu:
                md.append(f'\n`palaver serve` CPU per request ({name}): {cpu["total"]:.0f} µs '
                          f'(user {cpu["user"]:.0f}, system {cpu["system"]:.0f}); wrk and nginx '
                          'share the same 2 cores, so this is steadier than requests/s.\n')
    ptext = read_text(os.path.join(d, "projection.txt"))
    if ptext:
        md.append("\n### projection_benchmark output\n")
        md.append("```\n" + ptext.strip() + "\n```")
    md.append("")
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"report: {os.path.join(d, 'report.md')}, report.json, latency.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
