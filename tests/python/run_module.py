#!/usr/bin/python3
"""Runs one Python test module for CTest.

    run_module.py test_plot_profile.py

Prints how many tests ran and one line per reason for which tests were
skipped ("laconic: skipped N of M: reason"), so that a module that skipped
most of its cases does not pass silently (CTest keeps only the first kilobyte
of a passing test's output, so the long per-test listing is printed only
when something fails). Exit status:
0 when every test that ran passed, 1 on a failure or an error, 77 (CTest's
SKIP_RETURN_CODE) when the module ran no test at all because every one
skipped itself.
"""
import collections
import io
import os
import sys
import unittest


def main(argv):
    if len(argv) != 2:
        print("usage: run_module.py TEST_MODULE.py", file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    suite = unittest.defaultTestLoader.discover(here, pattern=argv[1])
    listing = io.StringIO()
    result = unittest.TextTestRunner(stream=listing, verbosity=2).run(suite)
    if not result.wasSuccessful():
        print(listing.getvalue())
    print("laconic: %s: %d test(s) ran, %d skipped, %d failed" %
          (argv[1], result.testsRun, len(result.skipped), len(result.failures) + len(result.errors)))
    reasons = collections.Counter(reason for _, reason in result.skipped)
    for reason, count in sorted(reasons.items()):
        print("laconic: skipped %d of %d: %s" % (count, result.testsRun, reason))
    if not result.wasSuccessful():
        return 1
    if result.testsRun > 0 and len(result.skipped) == result.testsRun:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
