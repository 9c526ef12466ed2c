// What the fuzz targets check, shared by the libFuzzer entry points
// (tests/fuzz/fuzz_*.cpp) and the replay test (tests/test_fuzz_replay.cpp),
// which runs every seed and every saved crash through the same checks in the
// ordinary and the sanitized test builds.
//
// An input may be rejected, but only with a laconic::Error (the CLI's "bad
// input", exit 1). Anything else is a finding: another exception escaping
// (an "internal error"), a crash, undefined behaviour or a leak (ASan, UBSan),
// or a violated invariant, thrown as fuzz::Violation:
//   .npy      the header parsed from memory and the file opened from disk
//             agree; the data is exactly what the header promises; write_npy
//             writes the array back unchanged; every value read through a
//             quantization fits the precision it claims (so it has no more
//             terms than that width allows, §3).
//   manifest, every loaded layer is consistent (shape valid, tensor sizes fit
//   model.csv the shape, widths 1..32, fixed-point bits add up) and, when
//             small, the cpu and reference engines give identical counts on
//             it, and the three reports render.
// The manifest and model.csv targets read .npy fixtures written once into a
// temporary directory: ordinary traces of every dtype and rank, and awkward
// ones (NaN and infinities, denormals, integer extremes, zero samples).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "laconic/engine.hpp"
#include "laconic/error.hpp"
#include "laconic/network.hpp"
#include "laconic/npy.hpp"
#include "laconic/npz.hpp"
#include "laconic/profile.hpp"
#include "laconic/quantize.hpp"
#include "laconic/report.hpp"
#include "laconic/terms.hpp"

namespace laconic::fuzz {

namespace fs = std::filesystem;

// An invariant the code under test broke.
struct Violation : std::logic_error {
  using std::logic_error::logic_error;
};

inline void check(bool condition, const std::string& what) {
  if (!condition) throw Violation(what);
}

// A fresh temporary directory, removed at exit.
inline fs::path fixture_root() {
  static const fs::path root = [] {
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
      fs::path candidate = fs::temp_directory_path() / ("laconic-fuzz-" + std::to_string(rd()));
      if (fs::create_directory(candidate)) {
        static const fs::path to_remove = candidate;
        std::atexit([] {
          std::error_code ec;
          fs::remove_all(to_remove, ec);
        });
        return candidate;
      }
    }
    throw std::runtime_error("cannot create a fixture directory");
  }();
  return root;
}

// ---------------------------------------------------------------------------
// .npy

// The input as a file without touching the disk: a memfd, opened by path
// through /proc/self/fd as NpyArray::open opens any file.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("laconic-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  void assign(const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0) throw std::runtime_error("ftruncate failed");
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) throw std::runtime_error("pwrite failed");
      done += static_cast<std::size_t>(n);
    }
  }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

inline Quantization quantization(QuantizeMode mode, int bits, bool is_signed, int int_bits = 0, int frac_bits = 0,
                                 std::vector<std::int64_t> zero_points = {}) {
  Quantization q;
  q.mode = mode;
  q.precision = Precision{bits, is_signed};
  q.int_bits = int_bits;
  q.frac_bits = frac_bits;
  q.zero_points = std::move(zero_points);
  return q;
}

// The quantizations a manifest can give a tensor of `dtype`: its own width,
// others, zero points (per tensor, and per slice of the first axis, which a
// tensor whose size they do not divide refuses), DNNsim precision profiles.
inline std::vector<Quantization> quantizations_for(DType dtype) {
  const int own = dtype == DType::b1 ? 1 : std::min(bit_width(dtype), 32);
  if (!is_float(dtype))
    return {quantization(QuantizeMode::none, own, is_signed(dtype)),
            quantization(QuantizeMode::none, 8, true),
            quantization(QuantizeMode::none, 1, false),
            quantization(QuantizeMode::none, 32, false),
            quantization(QuantizeMode::none, 8, false, 0, 0, {-128}),
            quantization(QuantizeMode::none, 32, true, 0, 0, {std::numeric_limits<std::int64_t>::min()}),
            quantization(QuantizeMode::none, 9, true, 0, 0, {3, -3}),
            quantization(QuantizeMode::dnnsim, 13, true, 5, 8),
            quantization(QuantizeMode::dnnsim, 1, false, 1, 0)};
  return {quantization(QuantizeMode::fixed, 12, true, 4, 8),   quantization(QuantizeMode::fixed, 1, false, 0, 1),
          quantization(QuantizeMode::fixed, 32, true, 16, 16), quantization(QuantizeMode::fixed, 32, true, 0, 32),
          quantization(QuantizeMode::linear, 8, true),         quantization(QuantizeMode::linear, 32, true),
          quantization(QuantizeMode::linear, 1, true),         quantization(QuantizeMode::integral, 16, true),
          quantization(QuantizeMode::integral, 32, false),     quantization(QuantizeMode::integral, 8, false, 0, 0, {-128}),
          quantization(QuantizeMode::dnnsim, 13, true, 5, 8),  quantization(QuantizeMode::dnnsim, 32, false, 16, 16)};
}

// Every value read through `q` must have a magnitude below 2^bits (so at
// most max_terms(bits) terms); integer and integral data must be within the
// declared two's-complement range, and linear data within its mapped range.
inline void check_values(const std::vector<std::int64_t>& values, const Quantization& q, const std::string& what) {
  const Precision& p = q.precision;
  const std::uint64_t magnitude_limit = (std::uint64_t{1} << p.bits) - 1;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::int64_t v = values[i];
    const std::string where = what + ": value " + std::to_string(i) + " = " + std::to_string(v) + " read as " +
                              std::string(to_string(q.mode)) + " " + std::to_string(p.bits) + "-bit";
    check(magnitude(v) <= magnitude_limit, where + " has a magnitude of more than " + std::to_string(p.bits) + " bits");
    if (q.mode == QuantizeMode::none || q.mode == QuantizeMode::integral)
      check(v >= p.min_value() && v <= p.max_value(), where + " is outside the declared range");
    if ((q.mode == QuantizeMode::fixed || q.mode == QuantizeMode::dnnsim) && !p.is_signed)
      check(v >= 0, where + " is negative but declared unsigned");
    for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf})
      check(terms(e, v) <= max_terms(e, p.bits), where + " has more terms than its width allows");
  }
}

// Checks an opened array (a .npy file or an .npz member): reading every
// element agrees with reading it in two parts; what write_npy writes from the
// elements reads back unchanged; every quantization keeps its values within
// their precision. `reopen` opens the same array again.
inline void check_opened_array(const NpyArray& array, const std::function<NpyArray()>& reopen) {
  const std::size_t item = item_size(array.dtype());
  const std::uint64_t bytes = array.header().data_bytes();
  std::vector<unsigned char> elements(static_cast<std::size_t>(bytes));
  if (bytes > 0) array.read(0, array.size(), elements.data());
  if (array.size() > 1) {
    const std::uint64_t half = array.size() / 2;
    std::vector<unsigned char> tail(static_cast<std::size_t>((array.size() - half) * item));
    array.read(half, array.size() - half, tail.data());
    check(std::memcmp(tail.data(), elements.data() + half * item, tail.size()) == 0,
          "a read from the middle disagrees with a read of the whole array");
  }
  if (const std::byte* in_place = array.contiguous_data())
    check(bytes == 0 || std::memcmp(in_place, elements.data(), elements.size()) == 0,
          "contiguous_data() disagrees with read()");

  // What laconic writes (synth, tests) reads back as the same array.
  const std::string copy = (fixture_root() / "roundtrip.npy").string();
  write_npy(copy, array.dtype(), array.shape(), elements.data());
  const NpyArray again = NpyArray::open(copy);
  check(again.shape() == array.shape() && again.dtype() == array.dtype(), "write_npy changed the header");
  check(bytes == 0 || std::memcmp(again.data(), elements.data(), static_cast<std::size_t>(bytes)) == 0,
        "write_npy changed the data");

  for (const Quantization& q : quantizations_for(array.dtype())) {
    std::vector<NpyArray> files;
    files.push_back(reopen());
    std::vector<std::int64_t> values(static_cast<std::size_t>(array.size()));
    try {
      const NpyTensorSource source(std::move(files), q, "fuzzed tensor");
      check(source.size() == array.size(), "tensor size differs from the file's");
      source.read(0, values.size(), values.data());
    } catch (const Error&) {
      continue;
    }
    check_values(values, q, "fuzzed tensor");
  }
}

inline void check_npy(const std::uint8_t* data, std::size_t size) {
  static MemoryFile file;
  bool parsed = false;
  NpyHeader header;
  try {
    header = parse_npy_header(data, size, "input");
    parsed = true;
    check(header.data_offset <= size, "data offset past the end of the input");
    check(header.major_version >= 1 && header.major_version <= 3, "unsupported version accepted");
    header.data_bytes();  // the parser refuses shapes whose size does not fit 64 bits
  } catch (const Error&) {
  }

  file.assign(data, size);
  std::vector<NpyArray> opened;
  try {
    opened.push_back(NpyArray::open(file.path()));
  } catch (const Error&) {
    return;
  }
  const NpyArray& array = opened.front();
  check(parsed, "NpyArray::open accepted a file whose header parse_npy_header refuses");
  check(array.header().shape == header.shape && array.header().dtype == header.dtype &&
            array.header().big_endian == header.big_endian && array.header().fortran_order == header.fortran_order &&
            array.header().data_offset == header.data_offset,
        "NpyArray::open and parse_npy_header disagree");
  check(array.header().data_offset + array.header().data_bytes() == size,
        "the data is not exactly what the header promises");
  check(array.size() == 0 || array.data() != nullptr, "no data pointer");
  check_opened_array(array, [&] { return NpyArray::open(file.path()); });
}

// .npz: the archive's central directory, then each of its arrays (at most
// 16) opened, verified and checked as a .npy array is.
inline void check_npz(const std::uint8_t* data, std::size_t size) {
  static MemoryFile file;
  file.assign(data, size);
  std::vector<std::string> names;
  try {
    names = NpzArchive::open(file.path()).names();
  } catch (const Error&) {
    return;
  }
  if (names.size() > 16) names.resize(16);
  for (const std::string& name : names) {
    std::vector<NpyArray> opened;
    try {
      opened.push_back(NpzArchive::open(file.path()).array(name));
    } catch (const Error& e) {
      check(std::string(e.what()).find(file.path() + ":") != std::string::npos,
            "an archive error that names neither archive nor member: " + std::string(e.what()));
      continue;
    }
    check(opened.front().path() == file.path() + ":" + name, "the array is not named archive:member");
    check_opened_array(opened.front(), [&] { return NpzArchive::open(file.path()).array(name); });
  }
}

// ---------------------------------------------------------------------------
// Fixtures for the manifest and model.csv targets.

// The binary16 bits of `v`, exact for the small integers and halves the
// fixtures hold.
inline std::uint16_t half_bits(double v) {
  const std::uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  const double a = std::fabs(v);
  if (std::isnan(v)) return 0x7e00;
  if (std::isinf(a) || a > 65504) return static_cast<std::uint16_t>(sign | 0x7c00);
  if (a < std::ldexp(1.0, -14)) return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::ldexp(a, 24)));
  int e = 0;
  const double m = std::frexp(a, &e);
  return static_cast<std::uint16_t>(sign | ((e + 14) << 10) | static_cast<std::uint16_t>(std::ldexp(m, 11) - 1024));
}

// `values` repeated or cut to the shape's element count, stored as `dtype`.
inline void fixture(const fs::path& path, DType dtype, const std::vector<std::uint64_t>& shape,
                    const std::vector<double>& values) {
  std::uint64_t count = 1;
  for (auto d : shape) count *= d;
  std::vector<unsigned char> bytes(static_cast<std::size_t>(count) * item_size(dtype));
  for (std::uint64_t i = 0; i < count; ++i) {
    const double v = values[static_cast<std::size_t>(i % values.size())];
    unsigned char* out = bytes.data() + i * item_size(dtype);
    auto put = [&](auto typed) { std::memcpy(out, &typed, sizeof typed); };
    switch (dtype) {
      case DType::b1: put(static_cast<std::uint8_t>(v != 0)); break;
      case DType::i8: put(static_cast<std::int64_t>(v)); break;
      case DType::u8: put(static_cast<std::uint64_t>(v)); break;
      case DType::f2: put(half_bits(v)); break;
      case DType::i1: put(static_cast<std::int8_t>(v)); break;
      case DType::u1: put(static_cast<std::uint8_t>(v)); break;
      case DType::i2: put(static_cast<std::int16_t>(v)); break;
      case DType::u2: put(static_cast<std::uint16_t>(v)); break;
      case DType::i4: put(static_cast<std::int32_t>(v)); break;
      case DType::u4: put(static_cast<std::uint32_t>(v)); break;
      case DType::f4: put(static_cast<float>(v)); break;
      case DType::f8: put(v); break;
    }
  }
  write_npy(path.string(), dtype, shape, bytes.empty() ? nullptr : bytes.data());
}

// `values` as an i2 array of `shape` in Fortran order ('fortran_order': True,
// the first axis fastest).
inline void fixture_fortran(const fs::path& path, const std::vector<std::uint64_t>& shape,
                            const std::vector<double>& values) {
  std::uint64_t count = 1;
  for (auto d : shape) count *= d;
  std::string bytes = npy_preamble(DType::i2, shape);
  const auto at = bytes.find("'fortran_order': False");
  bytes.replace(at, 22, "'fortran_order': True ");
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto v = static_cast<std::int16_t>(values[static_cast<std::size_t>(i % values.size())]);
    bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  std::ofstream(path, std::ios::binary) << bytes;
}

struct FixtureArray {
  std::string name;
  DType dtype;
  std::vector<std::uint64_t> shape;
  std::vector<double> values;
};

// An .npz of `arrays`, deflated or stored.
inline void fixture_npz(const fs::path& path, const std::vector<FixtureArray>& arrays, bool compress) {
  std::vector<std::vector<unsigned char>> data;
  std::vector<NpzEntry> entries;
  for (const auto& a : arrays) {
    const fs::path scratch = path.string() + "." + a.name + ".npy";
    fixture(scratch, a.dtype, a.shape, a.values);
    const NpyArray array = NpyArray::open(scratch.string());
    data.emplace_back(static_cast<std::size_t>(array.header().data_bytes()));
    array.read(0, array.size(), data.back().data());
    fs::remove(scratch);
  }
  for (std::size_t i = 0; i < arrays.size(); ++i)
    entries.push_back(NpzEntry{arrays[i].name, arrays[i].dtype, arrays[i].shape, data[i].data()});
  write_npz(path.string(), entries, compress);
}

// A deterministic mix of zeros, small and larger magnitudes of both signs.
inline std::vector<double> pattern(int lo, int hi, int count = 97) {
  std::vector<double> v;
  std::uint32_t state = 12345;
  for (int i = 0; i < count; ++i) {
    state = state * 1103515245u + 12345u;
    const int r = static_cast<int>((state >> 8) % static_cast<std::uint32_t>(hi - lo + 1)) + lo;
    v.push_back(i % 3 == 0 ? 0.0 : r);
  }
  return v;
}

// Traces a manifest in the fixture directory can name (one letter each, so
// that a mutation reaches another): conv activations (N, 4, 6, 6) of several
// dtypes, conv weights for 4 channels, fc tensors, and awkward files.
inline const fs::path& manifest_fixture() {
  static const fs::path dir = [] {
    const fs::path d = fixture_root() / "manifest";
    fs::create_directories(d);
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    fixture(d / "a.npy", DType::i2, {2, 4, 6, 6}, pattern(-300, 300));
    fixture(d / "u.npy", DType::u1, {1, 4, 6, 6}, pattern(0, 255));
    fixture(d / "f.npy", DType::f4, {2, 4, 6, 6}, {0.0, 1.25, -0.5, 2.75, 0.0, -1.0, 0.0625});
    fixture(d / "d.npy", DType::f8, {1, 4, 6, 6}, pattern(-40000, 40000));
    fixture(d / "n.npy", DType::f4, {1, 4, 6, 6}, {0.0, 1.0, nan, 2.0, inf, -inf});
    fixture(d / "e.npy", DType::f8, {1, 4, 6, 6}, {0.0, 4.9406564584124654e-324, 0.0, 1e-310});
    fixture(d / "b.npy", DType::f8, {1, 4, 6, 6}, {1e300, -1e308, 0.0, 3.0});
    fixture(d / "z.npy", DType::i2, {0, 4, 6, 6}, {0.0});
    fixture(d / "s.npy", DType::i4, {4, 6, 6}, {-2147483648.0, 2147483647.0, 0.0, 1.0});
    fixture(d / "l.npy", DType::u4, {1, 4, 6, 6}, {4294967295.0, 0.0, 65536.0});
    fixture(d / "x.npy", DType::i1, {3, 8, 3, 3}, pattern(-128, 127));
    fixture(d / "w.npy", DType::i2, {8, 4, 3, 3}, pattern(-500, 500));
    fixture(d / "g.npy", DType::i2, {8, 1, 3, 3}, pattern(-7, 7));
    fixture(d / "p.npy", DType::i2, {8, 2, 1, 1}, pattern(-7, 7));
    fixture(d / "k.npy", DType::i1, {2, 4, 7, 7}, pattern(-3, 3));
    fixture(d / "v.npy", DType::f4, {8, 4, 3, 3}, {0.5, -0.25, 0.0, 1.0});
    fixture(d / "q.npy", DType::u4, {3, 4, 1, 1}, {0.0, 1.0, 4294967295.0});
    fixture(d / "y.npy", DType::i2, {16, 8, 1, 1}, pattern(-3, 3));
    fixture(d / "c.npy", DType::i2, {3, 144}, pattern(-9, 9));
    fixture(d / "h.npy", DType::u2, {2, 144}, pattern(0, 65535));
    fixture(d / "o.npy", DType::f4, {5, 10}, {0.0, 1.5, -2.0});
    fixture(d / "m.npy", DType::f4, {7, 10}, {0.0, 3.0, -2.0});
    fixture(d / "r.npy", DType::i2, {10}, {1.0, 0.0});
    fixture(d / "t.npy", DType::i2, {}, {5.0});
    fixture(d / "j.npy", DType::i2, {1, 1, 1, 1, 1}, {1.0});
    fixture(d / "i.npy", DType::i2, {0, 1048576, 1048576, 1048576}, {0.0});
    // The other dtypes, orders and containers (upper-case names).
    fixture(d / "B.npy", DType::b1, {1, 4, 6, 6}, {1.0, 0.0, 0.0});
    fixture(d / "I.npy", DType::i8, {2, 4, 6, 6}, pattern(-300, 300));
    fixture(d / "U.npy", DType::u8, {8, 4, 3, 3}, {1.0, 9007199254740992.0, 0.0});
    fixture(d / "H.npy", DType::f2, {1, 4, 6, 6}, {0.0, 1.5, -0.25, 65504.0, 3.0});
    fixture_fortran(d / "F.npy", {8, 4, 3, 3}, pattern(-100, 100));
    fixture_npz(d / "Z.npz", {{"act", DType::u1, {1, 4, 6, 6}, pattern(0, 255)}, {"wgt", DType::i1, {8, 4, 3, 3},
                                                                                   pattern(-128, 127)}}, true);
    fixture_npz(d / "S.npz", {{"act", DType::i8, {2, 144}, pattern(-9, 9)}}, false);
    std::ofstream(d / "P.txt") << "magnitude (+1 of the sign), fraction, wgt_magnitude, wgt_fraction\n5;3;\n8;2;\n1;8;\n12;0;\n";
    return d;
  }();
  return dir;
}

// A DNNsim layout: models/net/model.csv (the fuzzed input) and
// net_traces/net/wgt-<layer>.npy, act-<layer>-<batch>.npy.
inline const fs::path& dnnsim_fixture() {
  static const fs::path dir = [] {
    const fs::path d = fixture_root() / "dnnsim";
    const fs::path t = d / "net_traces" / "net";
    fs::create_directories(d / "models" / "net");
    fs::create_directories(t);
    fixture(t / "wgt-conv.npy", DType::f4, {8, 4, 3, 3}, pattern(-500, 500));
    fixture(t / "act-conv-0.npy", DType::f4, {2, 4, 6, 6}, pattern(0, 300));
    fixture(t / "act-conv-1.npy", DType::f4, {1, 4, 6, 6}, pattern(0, 30));
    fixture(t / "wgt-dw.npy", DType::f4, {4, 1, 3, 3}, pattern(-7, 7));
    fixture(t / "act-dw-0.npy", DType::f4, {1, 4, 6, 6}, pattern(-7, 7));
    fixture(t / "wgt-fc.npy", DType::f4, {3, 144}, pattern(-9, 9));
    fixture(t / "act-fc-0.npy", DType::f4, {2, 4, 6, 6}, pattern(0, 9));
    fixture(t / "act-fc-2.npy", DType::f4, {1, 144}, pattern(0, 9));
    fixture(t / "wgt-int.npy", DType::i2, {8, 4, 3, 3}, pattern(-500, 500));
    fixture(t / "act-int-0.npy", DType::u1, {1, 4, 6, 6}, pattern(0, 255));
    fixture(t / "wgt-frac.npy", DType::f4, {8, 4, 3, 3}, {0.5, 1.0});
    fixture(t / "act-frac-0.npy", DType::f8, {1, 4, 6, 6}, {1.0, 1e-320, -0.0});
    fixture(t / "wgt-wide.npy", DType::f8, {8, 4, 3, 3}, {40000.0, 1.0});
    fixture(t / "act-wide-0.npy", DType::f4, {1, 4, 6, 6}, {std::numeric_limits<double>::quiet_NaN(), 1.0});
    fixture(t / "wgt-big.npy", DType::f4, {2, 4, 7, 7}, pattern(-3, 3));
    fixture(t / "act-big-0.npy", DType::f4, {1, 4, 6, 6}, pattern(0, 3));
    fixture(t / "wgt-zero.npy", DType::f4, {8, 4, 3, 3}, {0.0});
    fixture(t / "act-zero-0.npy", DType::f4, {0, 4, 6, 6}, {0.0});
    fixture(t / "wgt-dup.npy", DType::f4, {8, 4, 3, 3}, {1.0});
    fixture(t / "act-dup-1.npy", DType::f4, {1, 4, 6, 6}, {2.0});
    fixture(t / "act-dup-01.npy", DType::f4, {1, 4, 6, 6}, {2.0});
    // '/' in a layer name is '-' in its files (§7a); raw floats for the profile.
    fixture(t / "wgt-a-b.npy", DType::f4, {8, 4, 3, 3}, {0.5, -0.125, 0.0, 0.0625});
    fixture(t / "act-a-b-0.npy", DType::f4, {1, 4, 6, 6}, {0.0, 1.5, 2.25, 0.0, 3.0});
    // A second model directory over the same traces, with a precision.txt
    // for two layers.
    fs::create_directories(d / "models" / "prec");
    std::ofstream(d / "models" / "prec" / "precision.txt")
        << "magnitude (+1 of the sign), fraction, wgt_magnitude, wgt_fraction\n5;9;\n8;0;\n1;16;\n12;0;\n";
    return d;
  }();
  return dir;
}

// ---------------------------------------------------------------------------
// Networks

inline std::uint64_t product(std::initializer_list<std::int64_t> factors) {
  std::uint64_t n = 1;
  for (std::int64_t f : factors) {
    if (f <= 0 || __builtin_mul_overflow(n, static_cast<std::uint64_t>(f), &n))
      return std::numeric_limits<std::uint64_t>::max();
  }
  return n;
}

// Checks a loaded network's layers; profiles the small ones on both CPU
// engines (the first sample, a geometry small enough to cut every set and
// block) and renders the reports.
inline void check_network(const Network& network) {
  check(!network.layers.empty(), "a network with no layers was accepted");
  bool small = true;
  for (const NetworkLayer& layer : network.layers) {
    const std::string what = "layer '" + layer.name + "': ";
    const LayerShape& sh = layer.shape;
    try {
      sh.validate(layer.name);
    } catch (const Error& e) {
      throw Violation(what + "loaded with an invalid shape: " + e.what());
    }
    check(layer.activations && layer.weights, what + "tensors missing");
    const std::uint64_t per_sample = product({sh.channels, sh.height, sh.width});
    check(per_sample != std::numeric_limits<std::uint64_t>::max(), what + "activations per sample overflow");
    check(layer.samples() >= 1, what + "no samples");
    check(layer.activations->size() == layer.samples() * per_sample, what + "activations are not whole samples");
    check(layer.weights->size() == product({sh.filters, sh.channels_per_group(), sh.kernel_height, sh.kernel_width}),
          what + "weights do not fit the shape");
    for (const auto& [source, precision] : {std::pair{layer.activations.get(), layer.activation_precision},
                                            std::pair{layer.weights.get(), layer.weight_precision}}) {
      check(precision.bits >= 1 && precision.bits <= 32, what + "precision outside 1..32 bits");
      if (const auto* npy = dynamic_cast<const NpyTensorSource*>(source)) {
        const Quantization& q = npy->quantization();
        check(q.precision == precision, what + "the tensor's precision differs from the layer's");
        if (q.mode == QuantizeMode::fixed)
          check(q.int_bits >= 0 && q.frac_bits >= 0 && q.int_bits + q.frac_bits == q.precision.bits,
                what + "fixed point int_bits " + std::to_string(q.int_bits) + " + frac_bits " +
                    std::to_string(q.frac_bits) + " != bits " + std::to_string(q.precision.bits));
      }
    }
    const std::uint64_t padded_plane =
        product({sh.channels, sh.padded_height(), sh.padded_width()});
    const std::uint64_t macs = product({sh.filters, sh.out_height(), sh.out_width(), sh.channels_per_group(),
                                        sh.kernel_height, sh.kernel_width});
    check(macs == static_cast<std::uint64_t>(sh.macs_per_sample()), what + "macs_per_sample overflows");
    if (padded_plane > (1u << 16) || macs > (1u << 17) || layer.weights->size() > (1u << 14)) small = false;
  }
  if (!small) return;

  // The dnnsim preset (column registers, diagonal depthwise, first-layer
  // fold) at small geometries.
  ProfileConfig config;
  config.set_all_geometries(Geometry{1, 3, 2, 3});
  config.geometry(Accelerator::baseline) = Geometry{1, 3, 1, 3};
  ProfileOptions options;
  options.sample_limit = 1;
  const auto cpu = make_cpu_engine();
  const auto reference = make_reference_engine();
  std::string cpu_error, reference_error;
  NetworkResult fast, slow;
  try {
    fast = profile_network(network, *cpu, config, options);
  } catch (const Error& e) {
    cpu_error = e.what();
  }
  try {
    slow = profile_network(network, *reference, config, options);
  } catch (const Error& e) {
    reference_error = e.what();
  }
  check(cpu_error == reference_error,
        "the engines fail differently: cpu \"" + cpu_error + "\", reference \"" + reference_error + "\"");
  if (!cpu_error.empty()) return;
  const auto diffs = compare_results(slow, fast);
  check(diffs.empty(), "cpu and reference differ: " + (diffs.empty() ? "" : diffs.front()));
  // The reports render (a report that throws would lose a finished run).
  markdown_report(fast);
  csv_report(fast, true);
  json_report(fast, true);
}

inline void check_manifest(const std::uint8_t* data, std::size_t size) {
  const fs::path path = manifest_fixture() / "manifest.json";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  Network network;
  try {
    network = load_manifest(path.string());
  } catch (const Error&) {
    return;
  }
  check(network.format == "manifest" && !network.name.empty(), "manifest network without a name");
  check_network(network);
}

// The model.csv is read twice: as a model directory of its own, and beside
// a two-layer precision.txt (§7a) over the same traces.
inline void check_dnnsim(const std::uint8_t* data, std::size_t size) {
  const fs::path root = dnnsim_fixture();
  for (const char* net : {"net", "prec"}) {
    const fs::path model = root / "models" / net;
    {
      std::ofstream out(model / "model.csv", std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    Network network;
    try {
      network = load_dnnsim(model.string(), (root / "net_traces" / "net").string());
    } catch (const Error&) {
      continue;
    }
    check(network.format == "dnnsim", "dnnsim format");
    check(network.precision_profile.empty() == (std::string(net) == "net"), "precision profile not recorded");
    check_network(network);
  }
}

}  // namespace laconic::fuzz
