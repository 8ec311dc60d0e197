"""
core.scrub.scrub_text on one log line while a task has marked many values (core.context.mark_sensitive: a
20,000-contact import marks a name and an email each), against searching the line for every marked value in turn
(what scrub_text did before core.context.Marked indexed them). Best of 15 rounds, the two measured in turns; prints
figures and same-run ratios.

    python -m bench.scrub
"""

import random

from bench import django_setup  # noqa: F401  (Django configured before our code is imported)
from bench.jsonbody import _fastest


def main() -> None:
    from core import context
    from core.scrub import scrub_text

    rng = random.Random(1)
    print("bench/scrub: one 110-character log line, best of 15 rounds in turns")
    print(f"  {'marked':>7} {'indexed':>12} {'one by one':>12}  ratio")
    for count in (10, 1_000, 40_000):
        values = [f"Contact {n} {rng.randrange(10**6)}" for n in range(count // 2)]
        values += [f"person{n}@example{n % 97}.com" for n in range(count // 2)]
        line = f"HubSpot push failed for {values[len(values) // 4]} <{values[-3]}>: 502 after 3 tries; batch 17 of 200"
        context.reset()
        context.mark_sensitive(*values)
        marked = list(context.sensitive_values.get())

        def one_by_one(line=line, marked=marked):
            for value in sorted(marked, key=len, reverse=True):
                if value in line:
                    line = line.replace(value, "[redacted]")
            unmarked = context.sensitive_values.set(())  # the rest of the scrub, without the marked values again
            try:
                return scrub_text(line)
            finally:
                context.sensitive_values.reset(unmarked)

        assert scrub_text(line) == one_by_one()
        ours, before = _fastest(20, 15, lambda line=line: scrub_text(line), one_by_one)
        print(f"  {count:>7} {ours * 1e6:>9.1f} µs {before * 1e6:>9.1f} µs  {ours / before:.3f}")
    context.reset()


if __name__ == "__main__":
    main()
