#!/usr/bin/python3
"""Lists the tests of a CTest run that did not run, with the reason each gave.

    skipped_tests.py build/Testing/ctest.xml      # ctest --output-junit FILE

Groups the skipped tests by reason (GoogleTest's GTEST_SKIP message, the line
a script printed before exiting 77, a Python module's skip reasons) and lists
the Python modules that passed while some of their cases skipped themselves
(tests/python/run_module.py prints "laconic: skipped K of N: reason").
Standard library only.
"""
import collections
import sys
import xml.etree.ElementTree as ET


def skip_reason(output):
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines):  # GoogleTest: "file:line: Skipped", then the message
        if line.endswith(": Skipped") and i + 1 < len(lines) and lines[i + 1]:
            return lines[i + 1]
    partial = [line[len("laconic: "):] for line in lines if line.startswith("laconic: skipped ")]
    if partial:
        return "; ".join(partial)
    text = [line for line in lines if line]
    return text[-1] if text else "(no reason printed)"


def main(argv):
    if len(argv) != 2:
        print("usage: skipped_tests.py CTEST_JUNIT.xml", file=sys.stderr)
        return 2
    skipped = collections.defaultdict(list)
    partly = []
    for case in ET.parse(argv[1]).getroot().iter("testcase"):
        output = case.findtext("system-out") or ""
        if case.get("status") == "notrun":
            skipped[skip_reason(output)].append(case.get("name"))
        elif case.get("status") == "run":
            notes = [line[len("laconic: "):] for line in output.splitlines() if line.startswith("laconic: skipped ")]
            if notes:
                partly.append((case.get("name"), "; ".join(notes)))
    if not skipped and not partly:
        print("every test ran")
        return 0
    if skipped:
        print("%d test(s) did not run:" % sum(len(v) for v in skipped.values()))
        for reason, names in sorted(skipped.items()):
            print("  %s\n      %s" % (reason, " ".join(names)))
    for name, notes in partly:
        print("  %s ran, but %s" % (name, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
