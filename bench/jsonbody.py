"""
core.jsonbody against the standard library's json.loads (the parser it replaced), in this process: a PATCH's small
body and a megabyte of small containers (the body limit's worst case for the depth check). Best of 15 rounds, the
two parsers measured in turns so a busy moment of the machine falls on both; prints figures and same-run ratios.

    python -m bench.jsonbody
"""

import json
import timeit


def _fastest(number: int, rounds: int, *calls) -> list[float]:
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for n, call in enumerate(calls):
            best[n] = min(best[n], timeit.timeit(call, number=number) / number)
    return best


def main() -> None:
    from core.jsonbody import loads

    cases = {
        "PATCH body": (b'{"status": "done"}', 5_000),
        "1 MB of []": (b"[" + b",".join([b"[]"] * 300_000) + b"]", 1),
        "1 MB of {}": (b"[" + b",".join([b"{}"] * 300_000) + b"]", 1),
    }
    print("bench/jsonbody: core.jsonbody.loads against json.loads, best of 15 rounds in turns")
    print(f"  {'body':<12} {'ours':>12} {'json.loads':>12}  ratio")
    for name, (body, number) in cases.items():
        ours, standard = _fastest(number, 15, lambda b=body: loads(b), lambda b=body: json.loads(b))
        unit, scale = ("µs", 1e6) if number > 1 else ("ms", 1e3)
        print(f"  {name:<12} {ours * scale:>9.2f} {unit} {standard * scale:>9.2f} {unit}  {ours / standard:.2f}")


if __name__ == "__main__":
    main()
