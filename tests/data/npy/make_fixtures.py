#!/usr/bin/python3
"""Regenerates the .npy fixtures read by tests/test_npy.cpp, using real NumPy.

Run from anywhere: /usr/bin/python3 tests/data/npy/make_fixtures.py
The expected values are repeated in test_npy.cpp; change both together.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, array, version=None):
    path = os.path.join(HERE, name)
    if version is None:
        np.save(path, array, allow_pickle=True)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, array, version=version, allow_pickle=False)


# One file per supported dtype, with extreme values and a multi-dim shape or two.
save("i1.npy", np.array([-128, -1, 0, 1, 127], dtype="i1"))
save("u1.npy", np.array([0, 1, 128, 255], dtype="u1"))
save("i2.npy", np.array([-32768, -2, 0, 3, 32767], dtype="<i2"))
save("u2.npy", np.arange(24, dtype="<u2").reshape(2, 3, 4) * 2731)
save("i4.npy", np.array([[-2147483648, -1, 0], [1, 123456789, 2147483647]], dtype="<i4"))
save("u4.npy", np.array([0, 1, 3000000000, 4294967295], dtype="<u4"))
save("f4.npy", np.array([[1.5, -0.25, np.finfo(np.float32).max],
                         [np.float32(1e-45), -np.inf, np.nan]], dtype="<f4"))
save("f8.npy", np.array([0.1, -1e300, np.inf, 5e-324], dtype="<f8"))
save("scalar_f8.npy", np.array(2.5, dtype="<f8"))
save("empty_f4.npy", np.zeros((3, 0), dtype="<f4"))

# Format versions 2.0 and 3.0 (4-byte header length; 3.0 declares utf-8).
save("v2_i2.npy", np.array([[1, -2], [3, -4]], dtype="<i2"), version=(2, 0))
save("v3_u1.npy", np.array([7, 8, 9], dtype="u1"), version=(3, 0))

# The other numeric dtypes: 64-bit integers (tensor.long().numpy() and
# astype(int) give <i8), bool and float16 (with a subnormal, -0, inf and NaN).
save("i8.npy", np.array([-2**63, -1, 0, 1, 2**63 - 1], dtype="<i8"))
save("u8.npy", np.array([0, 1, 2**63, 2**64 - 1], dtype="<u8"))
save("b1.npy", np.array([True, False, True]))
save("f2.npy", np.array([1.0, -2.5, 65504.0, 2.0**-24, -0.0, np.inf, np.nan, 1.0 / 3.0], dtype="<f2"))

# Big-endian and Fortran-order files, read through swaps and strides.
save("big_endian_f4.npy", np.array([1.0, 2.0], dtype=">f4"))
save("big_endian_i2.npy", np.array([-32768, -2, 0, 3, 32767], dtype=">i2"))
save("big_endian_u8.npy", np.array([0, 1, 2**63, 2**64 - 1], dtype=">u8"))
save("big_endian_f8.npy", np.array([0.1, -1e300, np.inf, 5e-324], dtype=">f8"))
save("fortran_f4.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
save("fortran_i2_3d.npy", np.asfortranarray(np.arange(24, dtype="<i2").reshape(2, 3, 4) - 12))
save("fortran_big_endian_f8.npy", np.asfortranarray((np.arange(6).reshape(3, 2) + 0.5).astype(">f8")))

# Files NumPy writes that laconic must refuse.
save("U3.npy", np.array(["abc"], dtype="<U3"))
save("structured.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i2")]))
save("c8.npy", np.array([1 + 2j], dtype="<c8"))
