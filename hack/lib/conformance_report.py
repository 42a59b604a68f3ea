#!/usr/bin/env python3
"""Reads the JUnit reports of hack/conformance.sh runs.

  conformance_report.py summary JUNIT FOCUS SKIP [LIST]
      Prints "N passed, M failed, K skipped" for the specs the run selected (full name matched by
      FOCUS and not by SKIP; Ginkgo also lists every spec it filtered out as skipped). With LIST,
      also writes one "STATE<TAB>NAME" line per selected spec there.
  conformance_report.py compare FOCUS SKIP LABEL_A JUNIT_A LABEL_B JUNIT_B
      Prints a Markdown table of the selected specs, one row per spec with the state in each run,
      specs whose states differ first.

The regular expressions are Go RE2 as Ginkgo reads them; the subset our focus and skip lists use
(alternation, escapes, anchors, classes) means the same in Python's re.
"""
import re
import sys
import xml.etree.ElementTree as ET


def states(junit, focus, skip):
    """{full spec name: passed|failed|skipped} for the selected specs of one JUnit file."""
    focus_re = re.compile(focus)
    skip_re = re.compile(skip) if skip else None
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        # Ginkgo's suite-level nodes ([SynchronizedBeforeSuite], [ReportAfterSuite], ...) are
        # testcases too; they are not specs.
        if name.startswith("[") and name.split("]", 1)[0][1:] in (
            "BeforeSuite", "AfterSuite", "SynchronizedBeforeSuite", "SynchronizedAfterSuite",
            "ReportBeforeSuite", "ReportAfterSuite", "DeferCleanup (Suite)"):
            if case.find("failure") is not None or case.find("error") is not None:
                out[name] = "failed"
            continue
        if not focus_re.search(name) or (skip_re and skip_re.search(name)):
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            state = "failed"
        elif case.find("skipped") is not None:
            state = "skipped"
        else:
            state = "passed"
        out[name] = state
    return out


def summary(junit, focus, skip, listing=None):
    result = states(junit, focus, skip)
    if listing:
        with open(listing, "w", encoding="utf-8") as f:
            for name in sorted(result):
                f.write(f"{result[name]}\t{name.removeprefix('[It] ')}\n")
    count = {s: sum(1 for v in result.values() if v == s) for s in ("passed", "failed", "skipped")}
    print(f"{count['passed']} passed, {count['failed']} failed, {count['skipped']} skipped")


def compare(focus, skip, label_a, junit_a, label_b, junit_b):
    a = states(junit_a, focus, skip)
    b = states(junit_b, focus, skip)
    names = sorted(set(a) | set(b), key=lambda n: (a.get(n) == b.get(n), n))
    print(f"| Spec | {label_a} | {label_b} |")
    print("| --- | --- | --- |")
    for name in names:
        cell = name.removeprefix("[It] ").replace("|", "\\|")
        print(f"| {cell} | {a.get(name, 'not run')} | {b.get(name, 'not run')} |")


def main(argv):
    if len(argv) >= 5 and argv[1] == "summary":
        summary(argv[2], argv[3], argv[4], argv[5] if len(argv) > 5 else None)
    elif len(argv) == 8 and argv[1] == "compare":
        compare(*argv[2:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
