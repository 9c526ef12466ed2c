#!/usr/bin/python3
"""Regenerates the .npz fixtures read by tests/test_npz.cpp, using real NumPy.

Run from anywhere: /usr/bin/python3 tests/data/npz/make_fixtures.py
The expected values are repeated in test_npz.cpp; change both together.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

act = np.arange(24, dtype="u1").reshape(2, 3, 4)       # 0 … 23
wgt = (np.arange(6, dtype="<i2") - 3).reshape(3, 2)     # -3 … 2
# Fortran order and big-endian: np.load gives [[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]].
fortran = np.asfortranarray((np.arange(6).reshape(2, 3) + 0.5).astype(">f4"))

np.savez(os.path.join(HERE, "savez.npz"), act=act, wgt=wgt)
np.savez_compressed(os.path.join(HERE, "savez_compressed.npz"), act=act, wgt=wgt, fortran=fortran)
np.savez_compressed(os.path.join(HERE, "one.npz"), np.array([1.5, -2.0, 65504.0], dtype="<f2"))
# A deflated Fortran-order member of 2 MiB (C index i holds i % 7 - 3): reads
# gather from it in several runs.
big = np.asfortranarray((np.arange(512 * 1024) % 7 - 3).astype("<i4").reshape(512, 1024))
np.savez_compressed(os.path.join(HERE, "fortran_big.npz"), w=big)
