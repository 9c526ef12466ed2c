#!/usr/bin/python3
"""Writes the seed corpus of the npz fuzz target (tests/fuzz/corpus/npz/)
with real NumPy and Python's zipfile: archives as np.savez and
np.savez_compressed write them (every numeric dtype, both byte orders, C and
Fortran order), ZIP64 records, and the archives laconic must refuse.

Run from anywhere: /usr/bin/python3 tests/fuzz/make_npz_corpus.py
"""
import io
import os
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "npz")
os.makedirs(OUT, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


rng = np.random.default_rng(7)
ints = rng.integers(-100, 100, size=(2, 3, 4))

np.savez(path("stored_two.npz"), act=ints.astype("u1"), wgt=ints.astype("<i2"))
np.savez_compressed(path("deflated_two.npz"), act=ints.astype("<u2"), wgt=ints.astype(">i4"))
np.savez(path("stored_every_dtype.npz"),
         **{d.replace("<", "le_").replace(">", "be_").replace("|", ""): ints.astype(d)
            for d in ["|b1", "|i1", "|u1", "<i2", ">u2", "<i4", ">u4", "<i8", ">u8", "<f2", ">f4", "<f8"]})
np.savez_compressed(path("deflated_fortran.npz"), w=np.asfortranarray(ints.astype("<f4")),
                    t=ints.astype(">f8").transpose(2, 0, 1))
np.savez_compressed(path("deflated_one.npz"), ints.astype("<f2"))
np.savez(path("empty.npz"))
np.savez_compressed(path("scalar_and_empty.npz"), s=np.array(2.5), e=np.zeros((3, 0), "<i2"))
# A deflated member with many blocks (a few hundred KiB of output).
np.savez_compressed(path("deflated_blocks.npz"), big=rng.integers(0, 4, size=(16, 2048)).astype("u1"))

# A member that is not .npy, and a bzip2 member (zipfile can write both).
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as z:
    z.writestr("meta.json", b"{}")
    with z.open("a.npy", "w") as f:
        np.lib.format.write_array(f, ints.astype("<i2"))
    z.writestr(zipfile.ZipInfo("b.npy"), b"\x93NUMPY", compress_type=zipfile.ZIP_BZIP2)
open(path("other_members.npz"), "wb").write(buffer.getvalue())

# A truncated archive and one with a wrong CRC.
whole = open(path("deflated_two.npz"), "rb").read()
open(path("truncated.npz"), "wb").write(whole[: len(whole) // 2])
stored = bytearray(open(path("stored_two.npz"), "rb").read())
stored[stored.index(b"\x93NUMPY") + 130] ^= 0xFF
open(path("bad_crc.npz"), "wb").write(bytes(stored))
