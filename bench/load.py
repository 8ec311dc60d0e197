"""
The load generator of the HTTP benchmarks: `wrk` (C, epoll, keep-alive), driven by a generated Lua script that sets
the method, headers and body (alternating bodies for writes) and reports its figures as one JSON line.

The asyncio httpx client the benchmarks used before spent 2.5-3.9 ms of CPU per request and topped out near
200-260 req/s, below what the servers could do; wrk spends a few microseconds. Each run also reports wrk's own CPU
time, so a table can say how far from saturation the client was (`client CPU` = its CPU seconds per wall second:
0.10 is a tenth of one core).
"""

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LUA = r"""
local bodies = %(bodies)s
local n = 0
wrk.method = %(method)s
%(headers)s
request = function()
  n = n + 1
  local body = nil
  if #bodies > 0 then body = bodies[(n %% #bodies) + 1] end
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50": %%d, "p90": %%d, "p99": %%d, "non2xx": %%d, ' ..
    '"socket": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII text


@dataclass
class Scenario:
    url: str
    method: str = "GET"
    headers: dict = field(default_factory=dict)
    bodies: list[str] = field(default_factory=list)  # taken in turn, one per request

    def script(self) -> str:
        headers = "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in self.headers.items())
        bodies = "{" + ", ".join(_lua_string(b) for b in self.bodies) + "}"
        return LUA % {"bodies": bodies, "method": _lua_string(self.method), "headers": headers}


@dataclass
class Run:
    requests: int
    seconds: float
    p50: float  # ms
    p90: float
    p99: float
    errors: int
    client_cpu: float  # wrk's CPU seconds per wall second

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is missing: `make bench` installs it (Debian package wrk)")
    return path


def drive(scenario: Scenario, *, seconds: float, connections: int, threads: int = 1) -> Run:
    """One wrk run. wrk's latencies are per request, measured from the request's send to its last byte."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(scenario.script())
    try:
        started = time.monotonic()
        proc = subprocess.Popen(
            [
                ensure_wrk(),
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                scenario.url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
    finally:
        Path(script.name).unlink(missing_ok=True)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if status != 0 or line is None:
        raise SystemExit(f"wrk failed on {scenario.url}: {out[-500:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return Run(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50=data["p50"] / 1000,
        p90=data["p90"] / 1000,
        p99=data["p99"] / 1000,
        errors=data["non2xx"] + data["socket"],
        client_cpu=(usage.ru_utime + usage.ru_stime) / wall,
    )


@dataclass
class Result:
    runs: list[Run] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return sum(r.requests for r in self.runs) / sum(r.seconds for r in self.runs)

    def _weighted(self, name: str) -> float:
        # Percentiles of the rounds pooled, approximated by their request-weighted mean (wrk gives percentiles, not
        # the samples); p99 also reports the worst round, which is the figure a user meets on a slow spell.
        total = sum(r.requests for r in self.runs) or 1
        return sum(getattr(r, name) * r.requests for r in self.runs) / total

    @property
    def p50(self) -> float:
        return self._weighted("p50")

    @property
    def p90(self) -> float:
        return self._weighted("p90")

    @property
    def p99(self) -> float:
        return self._weighted("p99")

    @property
    def p99_worst(self) -> float:
        return max(r.p99 for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def client_cpu(self) -> float:
        return max(r.client_cpu for r in self.runs)

    def by_round(self) -> list[float]:
        return [r.rps for r in self.runs]


def interleaved(scenarios: dict[str, Scenario], *, seconds: float, rounds: int, connections: int) -> dict:
    """Each scenario for `seconds` in all, run in `rounds` alternating slices, so that a slow spell of a shared
    machine falls on all of them alike rather than on one. Read the same-run ratios, not the absolute figures."""
    results = {name: Result() for name in scenarios}
    for _ in range(rounds):
        for name, scenario in scenarios.items():
            results[name].runs.append(drive(scenario, seconds=seconds / rounds, connections=connections))
    return results


def ratio_range(ours: list[float], theirs: list[float]) -> str:
    ratios = sorted(a / b for a, b in zip(ours, theirs, strict=True))
    return f"{ratios[0]:.2f} to {ratios[-1]:.2f} across {len(ratios)} rounds (median {statistics.median(ratios):.2f})"


def table(results: dict, *, base: str | None = None) -> list[str]:
    head = f"  {'scenario':14} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p99 max':>8} {'errors':>7}"
    head += f" {'client CPU':>10}" + (f" {'of ' + base:>9}" if base else "")
    lines = [head]
    for name, r in results.items():
        line = (
            f"  {name:14} {r.rps:8.0f} {r.p50:7.1f} {r.p90:7.1f} {r.p99:7.1f} {r.p99_worst:8.1f} {r.errors:7d}"
            f" {r.client_cpu:10.2f}"
        )
        if base:
            line += f" {r.rps / results[base].rps:9.2f}"
        lines.append(line)
    return lines
