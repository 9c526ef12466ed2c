"""laconic's .npy/.npz reader against NumPy's own values.

Every numeric dtype (bool, 8/16/32/64-bit integers signed and unsigned, float16/32/64) in either
byte order and in C or Fortran order, saved by NumPy as .npy (np.save), as stored .npz members
(np.savez) and as deflated ones (np.savez_compressed), is read through laconic's reader
(tests/tools/read_array.cpp, which prints what NpyArray::read gives) and compared element by
element with np.load: integers exactly, floats bit for bit (float16 widened as NumPy widens it),
NaN as NaN.  Archives written by laconic (synth --compress) are read back by np.load.

Run from the repository root:  /usr/bin/python3 -m unittest discover -s tests/python -p test_npy_roundtrip.py
It needs numpy and the built reader: $LACONIC_READ_ARRAY, else build/tests/laconic_read_array.
"""

import math
import os
import shutil
import subprocess
import tempfile
import unittest

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_tool(variable, *candidates):
    paths = [os.environ[variable]] if os.environ.get(variable) else []
    paths += [os.path.join(REPO, c) for c in candidates]
    for p in paths:
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


READER = find_tool("LACONIC_READ_ARRAY", "build/tests/laconic_read_array")
LACONIC = find_tool("LACONIC_BINARY", "build/laconic")

DTYPES = ["b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]
SHAPES = [(3, 4, 5), (7, 2), (6,), (), (0, 3), (1, 5, 1)]


def values(dtype, shape, seed):
    """Values of `dtype` that cover its range: the extremes, zeros, and for floats -0, the
    smallest subnormal, infinities and NaN."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape)) if shape else 1
    stored = np.dtype(dtype)
    dt = stored.newbyteorder("=")  # drawn in native order, stored in `dtype`'s
    if dt.kind == "b":
        flat = rng.integers(0, 2, size=n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        flat = rng.integers(info.min, info.max, size=n, dtype=dt, endpoint=True)
        special = np.array([info.min, info.max, 0, 1], dtype=dt)
        flat[: min(n, 4)] = special[: min(n, 4)]
    else:
        info = np.finfo(dt)
        flat = (rng.standard_normal(n) * 100).astype(dt)
        special = np.array([info.max, -info.max, info.smallest_subnormal, -0.0, np.inf, -np.inf, np.nan,
                            info.tiny], dtype=dt)
        flat[: min(n, len(special))] = special[: min(n, len(special))]
    return flat.astype(stored).reshape(shape)


def variants():
    """(name, array) for every dtype × byte order × order × shape."""
    out = []
    for d in DTYPES:
        orders = ["<", ">"] if np.dtype(d).itemsize > 1 else ["|"]
        for bo in orders:
            for layout in ("C", "F"):
                for k, shape in enumerate(SHAPES):
                    a = values(bo + d, shape, seed=len(out))
                    a = np.asfortranarray(a) if layout == "F" else np.ascontiguousarray(a)
                    name = f"{d}_{'be' if bo == '>' else 'le'}_{layout}_{k}"
                    out.append((name, a))
    return out


def parse(text):
    """The reader's output: {address: (dtype, shape, [values as text])}."""
    arrays, current = {}, None
    for line in text.splitlines():
        if line.startswith("# "):
            parts = line[2:].split(" ")
            current = parts[0]
            arrays[current] = (parts[1], tuple(int(p) for p in parts[2:]), [])
        elif line.startswith("error: "):
            raise AssertionError(line)
        else:
            arrays[current][2].append(line)
    return arrays


def as_float(text):
    return math.nan if text.lstrip("-") == "nan" else float.fromhex(text)


@unittest.skipIf(np is None, "numpy is not importable")
@unittest.skipIf(READER is None, "no laconic_read_array (set LACONIC_READ_ARRAY)")
class RoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="laconic_roundtrip_")
        cls.arrays = variants()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def read(self, addresses):
        out = {}
        # A few hundred addresses per run keeps the command line short.
        for i in range(0, len(addresses), 200):
            r = subprocess.run([READER, *addresses[i:i + 200]], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)
            out.update(parse(r.stdout))
        return out

    def check(self, address, expected, got):
        dtype, shape, texts = got
        e = np.dtype(expected.dtype)
        self.assertEqual(dtype, "b1" if e.kind == "b" else f"{e.kind}{e.itemsize}", address)
        self.assertEqual(shape, expected.shape, address)
        flat = expected.ravel(order="C")  # np.load's values in C order, whatever the file's order
        self.assertEqual(len(texts), flat.size, address)
        if e.kind in "biu":
            self.assertEqual([int(t) for t in texts], [int(v) for v in flat], address)
        else:
            for i, (t, v) in enumerate(zip(texts, flat)):
                x, want = as_float(t), float(v)  # float16/32 widen exactly to Python's float
                if math.isnan(want):
                    self.assertTrue(math.isnan(x), f"{address}[{i}]: {t}, NumPy has nan")
                else:
                    self.assertEqual(x, want, f"{address}[{i}]: {t}, NumPy has {want!r}")
                    self.assertEqual(math.copysign(1, x), math.copysign(1, want), f"{address}[{i}]: sign of zero")

    def test_npy(self):
        addresses, expected = [], {}
        for name, a in self.arrays:
            path = os.path.join(self.tmp, name + ".npy")
            np.save(path, a)
            loaded = np.load(path)
            self.assertEqual(loaded.dtype, a.dtype)
            addresses.append(path)
            expected[path] = loaded
        # The files really are in both orders and both byte orders.
        headers = ""
        for p in addresses:
            with open(p, "rb") as f:
                headers += f.read(128).decode("latin-1")
        self.assertIn("'fortran_order': True", headers)
        self.assertIn("'descr': '>f2'", headers)
        got = self.read(addresses)
        for path in addresses:
            self.check(path, expected[path], got[path])

    def check_npz(self, save):
        archive = os.path.join(self.tmp, save.__name__ + ".npz")
        save(archive, **dict(self.arrays))
        with np.load(archive) as z:
            expected = {f"{archive}:{name}": z[name] for name, _ in self.arrays}
        got = self.read(list(expected))
        for address, a in expected.items():
            self.check(address, a, got[address])

    def test_npz_stored(self):
        self.check_npz(np.savez)

    def test_npz_deflated(self):
        self.check_npz(np.savez_compressed)

    def test_npz_of_one_array_by_its_file_name(self):
        path = os.path.join(self.tmp, "one.npz")
        a = np.asfortranarray(values(">i8", (4, 3), seed=99))
        np.savez_compressed(path, a)
        got = self.read([path])
        self.check(path, np.load(path)["arr_0"], got[path])

    @unittest.skipIf(LACONIC is None, "no laconic binary (set LACONIC_BINARY)")
    def test_synth_compress_archives_load_in_numpy(self):
        out = os.path.join(self.tmp, "synth")
        for compress in ([], ["--compress"]):
            r = subprocess.run([LACONIC, "synth", "tiny", "--out", os.path.join(out, str(bool(compress))),
                                "--samples", "2", "--bits", "8", *compress],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
        plain, packed = os.path.join(out, "False"), os.path.join(out, "True")
        npz = sorted(f for f in os.listdir(packed) if f.endswith(".npz"))
        self.assertTrue(npz)
        for f in npz:
            with np.load(os.path.join(packed, f)) as z:
                self.assertEqual(list(z.keys()), [f[:-4]])
                np.testing.assert_array_equal(z[f[:-4]], np.load(os.path.join(plain, f[:-4] + ".npy")))


if __name__ == "__main__":
    unittest.main()
