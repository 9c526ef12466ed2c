// Tests for MODEL.md §2 (values and precision) and §7a (DNNsim precision
// profiles) as the profiler applies them: .npy traces written with
// write_npy, opened with NpyArray::open and read through NpyTensorSource.
// Integer traces (every integer dtype and bool, less their zero points) are
// checked against their declared width; float traces (float16 too) are
// quantized by `fixed`, `linear`, `integral` or `dnnsim`. Every expected
// integer is worked out by hand in a comment beside it.

#include "laconic/quantize.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "laconic/error.hpp"
#include "laconic/npy.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

using test::TempDir;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

using test::throws_error;

// One file of a tensor: its dtype, shape and values (as doubles, converted to
// the dtype on writing; every value used here is exact in its dtype).
struct FileSpec {
  DType dtype;
  std::vector<std::uint64_t> shape;
  std::vector<double> values;
};

using test::encode;

std::string describe(const Quantization& q) {
  std::ostringstream out;
  out << to_string(q.mode) << " bits=" << q.precision.bits << (q.precision.is_signed ? " signed" : " unsigned");
  if (q.mode == QuantizeMode::fixed) out << " int_bits=" << q.int_bits << " frac_bits=" << q.frac_bits;
  return out.str();
}

// A tensor written into its own temporary directory as t0.npy, t1.npy, ...
struct Tensor {
  TempDir dir;
  std::vector<std::string> paths;
  std::unique_ptr<NpyTensorSource> source;

  Tensor(const std::vector<FileSpec>& files, const Quantization& q) {
    std::vector<NpyArray> arrays;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const std::string path = dir.file("t" + std::to_string(i) + ".npy");
      const auto bytes = encode(files[i].dtype, files[i].values);
      write_npy(path, files[i].dtype, files[i].shape, bytes.empty() ? nullptr : bytes.data());
      paths.push_back(path);
      arrays.push_back(NpyArray::open(path));
    }
    source = std::make_unique<NpyTensorSource>(std::move(arrays), q, "layer 'L' activations");
  }

  std::vector<std::int64_t> read(std::uint64_t first, std::uint64_t count) const {
    std::vector<std::int64_t> out(count, -999);
    source->read(first, count, out.data());
    return out;
  }
  std::vector<std::int64_t> read_all() const { return read(0, source->size()); }
};

Quantization integer(int bits, bool is_signed) {
  Quantization q;
  q.mode = QuantizeMode::none;
  q.precision = Precision{bits, is_signed};
  return q;
}

Quantization fixed(int int_bits, int frac_bits, bool is_signed = true) {
  Quantization q;
  q.mode = QuantizeMode::fixed;
  q.int_bits = int_bits;
  q.frac_bits = frac_bits;
  q.precision = Precision{int_bits + frac_bits, is_signed};
  return q;
}

Quantization linear(int bits) {
  Quantization q;
  q.mode = QuantizeMode::linear;
  q.precision = Precision{bits, true};  // as the manifest reader sets it: the data decides
  return q;
}

Quantization integral(int bits = 16, bool is_signed = true) {
  Quantization q;
  q.mode = QuantizeMode::integral;
  q.precision = Precision{bits, is_signed};
  return q;
}

Quantization with_zero_points(Quantization q, std::vector<std::int64_t> zero_points) {
  q.zero_points = std::move(zero_points);
  return q;
}

// A DNNsim precision profile entry (§7a): magnitude and fraction bits.
Quantization dnnsim(int magnitude, int fraction, bool is_signed = true) {
  Quantization q = fixed(magnitude, fraction, is_signed);
  q.mode = QuantizeMode::dnnsim;
  return q;
}

std::vector<std::uint64_t> shape1(std::size_t n) { return {static_cast<std::uint64_t>(n)}; }

// One 1-D file of `dtype` holding `values`.
std::vector<FileSpec> one_file(DType dtype, const std::vector<double>& values) {
  return {FileSpec{dtype, shape1(values.size()), values}};
}

// ---------------------------------------------------------------------------
// Integer traces: used as they are, checked against the declared width.

TEST(QuantizeInteger, ValuesWithinTheDeclaredWidthAreUsedAsTheyAre) {
  // An i2 file declared 8-bit signed: -128..127 fit.
  const Quantization q = integer(8, true);
  SCOPED_TRACE("quantization " + describe(q));
  const Tensor t(one_file(DType::i2, {-128, 127, 0, -1, 5}), q);
  EXPECT_EQ(t.source->size(), 5u);
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{-128, 127, 0, -1, 5}));
}

TEST(QuantizeInteger, I2DeclaredEightBitsRejectsValuesOutsideMinus128To127) {
  for (const double bad : {128.0, -129.0, 32767.0, -32768.0}) {
    SCOPED_TRACE("bad value " + std::to_string(bad));
    const Tensor t(one_file(DType::i2, {0, 1, bad, 2}), integer(8, true));
    // The message names the file, the element (1-D index "(2,)"), the value
    // and the declared range.
    EXPECT_TRUE(throws_error([&] { t.read_all(); },
                             {t.paths[0], "element (2,)", std::to_string(static_cast<int>(bad)), "8-bit signed",
                              "-128..127", "layer 'L' activations"}));
    // A read that stops before the bad element succeeds.
    EXPECT_EQ(t.read(0, 2), (std::vector<std::int64_t>{0, 1}));
  }
}

TEST(QuantizeInteger, ElementIndexIsTheMultiDimensionalIndexInTheFile) {
  // Shape (2, 3): flat element 4 is index (1, 1).
  const Tensor t({FileSpec{DType::i2, {2, 3}, {0, 1, 2, 3, 300, 5}}}, integer(8, true));
  EXPECT_TRUE(throws_error([&] { t.read_all(); }, {t.paths[0], "element (1, 1)", "300"}));
  // Reading from an offset keeps the file's own index: flat 4 is still (1, 1).
  EXPECT_TRUE(throws_error([&] { t.read(3, 2); }, {t.paths[0], "element (1, 1)"}));
}

TEST(QuantizeInteger, UnsignedDeclaredRejectsNegativeValues) {
  // An i1 file declared 8-bit unsigned: 0..255; -1 is out.
  const Tensor ok(one_file(DType::i1, {0, 127}), integer(8, false));
  EXPECT_EQ(ok.read_all(), (std::vector<std::int64_t>{0, 127}));
  const Tensor bad(one_file(DType::i1, {0, -1}), integer(8, false));
  EXPECT_TRUE(throws_error([&] { bad.read_all(); }, {bad.paths[0], "element (1,)", "-1", "unsigned", "0..255"}));
}

TEST(QuantizeInteger, NarrowUnsignedWidths) {
  // u1 declared 4-bit unsigned: 0..15.
  const Tensor ok(one_file(DType::u1, {0, 15, 7}), integer(4, false));
  EXPECT_EQ(ok.read_all(), (std::vector<std::int64_t>{0, 15, 7}));
  const Tensor bad(one_file(DType::u1, {15, 16}), integer(4, false));
  EXPECT_TRUE(throws_error([&] { bad.read_all(); }, {bad.paths[0], "element (1,)", "16", "4-bit unsigned", "0..15"}));
  // A u1 value is printed as a number, not as a character: 200 is "200".
  const Tensor high(one_file(DType::u1, {200}), integer(7, false));
  EXPECT_TRUE(throws_error([&] { high.read_all(); }, {high.paths[0], "200", "0..127"}));
}

TEST(QuantizeInteger, OneBitWidths) {
  // 1-bit unsigned: 0..1; 1-bit signed (two's complement): -1..0.
  const Tensor u(one_file(DType::i1, {0, 1, 1}), integer(1, false));
  EXPECT_EQ(u.read_all(), (std::vector<std::int64_t>{0, 1, 1}));
  const Tensor u_bad(one_file(DType::i1, {0, 2}), integer(1, false));
  EXPECT_TRUE(throws_error([&] { u_bad.read_all(); }, {u_bad.paths[0], "element (1,)", "0..1"}));
  const Tensor s(one_file(DType::i1, {-1, 0}), integer(1, true));
  EXPECT_EQ(s.read_all(), (std::vector<std::int64_t>{-1, 0}));
  const Tensor s_bad(one_file(DType::i1, {-1, 1}), integer(1, true));
  EXPECT_TRUE(throws_error([&] { s_bad.read_all(); }, {s_bad.paths[0], "element (1,)", "-1..0"}));
}

TEST(QuantizeInteger, U4ExtremesAt32Bits) {
  // u4 at its own width, 32-bit unsigned: 0..4294967295 all fit.
  const Tensor t(one_file(DType::u4, {0, 4294967295.0, 2147483648.0, 1}), integer(32, false));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{0, 4294967295LL, 2147483648LL, 1}));
  // Declared 32-bit signed, 4294967295 is outside -2147483648..2147483647.
  const Tensor s(one_file(DType::u4, {4294967295.0}), integer(32, true));
  EXPECT_TRUE(throws_error([&] { s.read_all(); }, {s.paths[0], "element (0,)", "4294967295", "-2147483648..2147483647"}));
  // Declared 31-bit unsigned: max 2^31 - 1 = 2147483647; 2147483648 is out.
  const Tensor n(one_file(DType::u4, {2147483647.0, 2147483648.0}), integer(31, false));
  EXPECT_TRUE(throws_error([&] { n.read_all(); }, {n.paths[0], "element (1,)", "2147483648", "0..2147483647"}));
}

TEST(QuantizeInteger, I4ExtremesAt32Bits) {
  const Tensor t(one_file(DType::i4, {-2147483648.0, 2147483647.0, -1}), integer(32, true));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{-2147483648LL, 2147483647LL, -1}));
  // 31-bit signed: -1073741824..1073741823; -2147483648 is out.
  const Tensor n(one_file(DType::i4, {-2147483648.0}), integer(31, true));
  EXPECT_TRUE(throws_error([&] { n.read_all(); }, {n.paths[0], "-2147483648", "-1073741824..1073741823"}));
  // 32-bit unsigned: a negative i4 is out.
  const Tensor u(one_file(DType::i4, {5, -2147483648.0}), integer(32, false));
  EXPECT_TRUE(throws_error([&] { u.read_all(); }, {u.paths[0], "element (1,)", "-2147483648", "0..4294967295"}));
}

TEST(QuantizeInteger, EveryIntegerDTypeAtItsOwnWidth) {
  struct Case {
    DType dtype;
    double lo, hi;
  } cases[] = {{DType::i1, -128, 127},           {DType::u1, 0, 255},
               {DType::i2, -32768, 32767},       {DType::u2, 0, 65535},
               {DType::i4, -2147483648.0, 2147483647.0}, {DType::u4, 0, 4294967295.0}};
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.dtype)));
    const Tensor t(one_file(c.dtype, {c.lo, c.hi}), integer(bit_width(c.dtype), is_signed(c.dtype)));
    EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{static_cast<std::int64_t>(c.lo), static_cast<std::int64_t>(c.hi)}));
  }
}

// ---------------------------------------------------------------------------
// Fixed point: v = round(x · 2^frac), half away from zero, clipped to
// ±(2^(int+frac) − 1).

TEST(QuantizeFixed, FunctionRoundsHalfAwayFromZeroAndClips) {
  // int 4, frac 4: scale 16, limit 2^8 - 1 = 255.
  EXPECT_EQ(quantize_fixed(1.03125, 4, 4, true), 17);    // 16.5 -> 17
  EXPECT_EQ(quantize_fixed(-1.03125, 4, 4, true), -17);  // -16.5 -> -17
  EXPECT_EQ(quantize_fixed(1.09375, 4, 4, true), 18);    // 17.5 -> 18 (not to even)
  EXPECT_EQ(quantize_fixed(0.03125, 4, 4, true), 1);     // 0.5 -> 1
  EXPECT_EQ(quantize_fixed(-0.03125, 4, 4, true), -1);   // -0.5 -> -1
  EXPECT_EQ(quantize_fixed(0.03, 4, 4, true), 0);        // 0.48 -> 0
  EXPECT_EQ(quantize_fixed(15.96875, 4, 4, true), 255);  // 255.5 -> 256 -> clipped to 255
  EXPECT_EQ(quantize_fixed(100.0, 4, 4, true), 255);     // 1600 -> 255
  EXPECT_EQ(quantize_fixed(-100.0, 4, 4, true), -255);   // -1600 -> -255
  EXPECT_EQ(quantize_fixed(-0.0, 4, 4, true), 0);
  // int 2, frac 0: limit 3. 2.5 -> 3, -2.5 -> -3, 1.5 -> 2, 7 -> 3.
  EXPECT_EQ(quantize_fixed(2.5, 2, 0, true), 3);
  EXPECT_EQ(quantize_fixed(-2.5, 2, 0, true), -3);
  EXPECT_EQ(quantize_fixed(1.5, 2, 0, true), 2);
  EXPECT_EQ(quantize_fixed(0.5, 2, 0, true), 1);
  EXPECT_EQ(quantize_fixed(7.0, 2, 0, true), 3);
  // Unsigned: clipped to 0..limit.
  EXPECT_EQ(quantize_fixed(-5.0, 2, 0, false), 0);
  EXPECT_EQ(quantize_fixed(9.0, 2, 0, false), 3);
  // 32 bits: limit 2^32 - 1 = 4294967295.
  EXPECT_EQ(quantize_fixed(1e30, 16, 16, true), 4294967295LL);
  EXPECT_EQ(quantize_fixed(-1e30, 16, 16, true), -4294967295LL);
  EXPECT_EQ(quantize_fixed(1.5, 16, 16, true), 98304);  // 1.5 * 65536
}

TEST(QuantizeFixed, SignedTraceF4) {
  const Quantization q = fixed(4, 4);
  SCOPED_TRACE("quantization " + describe(q));
  const Tensor t(one_file(DType::f4, {1.03125, -1.03125, 0.5, 0.03125, -0.03125, 100, -100, 15.96875, 0, 0.0624}), q);
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{
                              17,    // 1.03125 * 16 = 16.5 -> 17
                              -17,   // -16.5 -> -17
                              8,     // 0.5 * 16 = 8
                              1,     // 0.5 -> 1
                              -1,    // -0.5 -> -1
                              255,   // 1600 clipped to 2^8 - 1
                              -255,  // -1600 clipped to -(2^8 - 1)
                              255,   // 255.5 -> 256, clipped
                              0,     //
                              1,     // 0.0624 (as float) * 16 = 0.9984 -> 1
                          }));
}

TEST(QuantizeFixed, SignedTraceF8WithZeroFractionBits) {
  const Tensor t(one_file(DType::f8, {2.5, -2.5, 1.5, -1.5, 0.49999999999999994, 7, -7}), fixed(2, 0));
  // limit 2^2 - 1 = 3: 2.5 -> 3, -2.5 -> -3, 1.5 -> 2, -1.5 -> -2,
  // 0.49999999999999994 -> 0 (below one half), 7 -> 3, -7 -> -3.
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{3, -3, 2, -2, 0, 3, -3}));
}

TEST(QuantizeFixed, UnsignedClipsAtTheTopAndRejectsNegativeResults) {
  // int 4, frac 4, unsigned: limit 255.
  const Tensor ok(one_file(DType::f4, {1.0, 20.0, -0.01, 0}), fixed(4, 4, false));
  // 1 * 16 = 16; 20 * 16 = 320 -> 255; -0.01 * 16 = -0.16 -> rounds to 0, not negative.
  EXPECT_EQ(ok.read_all(), (std::vector<std::int64_t>{16, 255, 0, 0}));
  // -0.03125 * 16 = -0.5 -> -1: negative, an error naming file and element.
  const Tensor bad({FileSpec{DType::f4, {2, 2}, {1, 2, 3, -0.03125}}}, fixed(4, 4, false));
  EXPECT_TRUE(throws_error([&] { bad.read_all(); }, {bad.paths[0], "element (1, 1)", "-0.03125", "negative", "unsigned"}));
}

TEST(QuantizeFixed, NaNAndInfinitiesAreErrorsNamingFileAndElement) {
  for (const double bad : {kNaN, kInf, -kInf}) {
    for (const DType dtype : {DType::f4, DType::f8}) {
      SCOPED_TRACE(std::string(to_string(dtype)) + " value " + std::to_string(bad));
      const Tensor t({FileSpec{dtype, {2, 3}, {0, 1, 2, 3, 4, bad}}}, fixed(8, 0));
      EXPECT_TRUE(throws_error([&] { t.read_all(); }, {t.paths[0], "element (1, 2)", "finite"}));
      // Values before it read fine: 0..4 at int 8 frac 0.
      EXPECT_EQ(t.read(0, 5), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
    }
  }
}

// ---------------------------------------------------------------------------
// Linear: signed when the tensor has a negative value (max|x| -> 2^(P-1) - 1),
// else min..max -> 0..2^P - 1 as v = round((x - min) · (2^P - 1)/(max - min)).

TEST(QuantizeLinear, SignedMaxAbsIsANegativeValue) {
  // P = 8: max|x| = 2, scale = 127 / 2 = 63.5.
  const Tensor t(one_file(DType::f4, {-2, 1, 0.5, 0, -1}), linear(8));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{
                              -127,  // -2 * 63.5
                              64,    // 63.5 -> 64 (half away from zero)
                              32,    // 31.75 -> 32
                              0,     //
                              -64,   // -63.5 -> -64
                          }));
}

TEST(QuantizeLinear, SignedMaxAbsIsAPositiveValue) {
  // P = 4: max|x| = 4, scale = 7 / 4 = 1.75.
  const Tensor t(one_file(DType::f8, {-1, 4, 2, 3, -4 + 1e-9}), linear(4));
  // -1 -> -1.75 -> -2; 4 -> 7; 2 -> 3.5 -> 4; 3 -> 5.25 -> 5; ~-4 -> ~-7 -> -7.
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{-2, 7, 4, 5, -7}));
}

TEST(QuantizeLinear, UnsignedMapsMinToZeroAndMaxToTop) {
  // P = 8: min 1, max 3, scale = 255 / 2 = 127.5.
  const Tensor t(one_file(DType::f4, {1, 3, 2, 1.5}), linear(8));
  // 1 -> 0; 3 -> 255; 2 -> 127.5 -> 128; 1.5 -> 63.75 -> 64.
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{0, 255, 128, 64}));
}

TEST(QuantizeLinear, UnsignedFromZero) {
  // P = 4: min 0, max 6, scale = 15 / 6 = 2.5.
  const Tensor t(one_file(DType::f8, {0, 6, 3, 1, 2}), linear(4));
  // 0 -> 0; 6 -> 15; 3 -> 7.5 -> 8; 1 -> 2.5 -> 3; 2 -> 5.
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{0, 15, 8, 3, 5}));
}

TEST(QuantizeLinear, ThirtyTwoBitsUnsigned) {
  // P = 32: min 0, max 1: 0 -> 0, 1 -> 2^32 - 1, 0.5 -> 2147483647.5 -> 2147483648.
  const Tensor t(one_file(DType::f8, {0, 1, 0.5}), linear(32));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{0, 4294967295LL, 2147483648LL}));
}

TEST(QuantizeLinear, ConstantTensors) {
  {  // all zero -> 0
    const Tensor t(one_file(DType::f4, {0, 0, 0}), linear(8));
    EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{0, 0, 0}));
  }
  {  // a positive constant -> 2^P - 1 = 255
    const Tensor t(one_file(DType::f4, {5, 5}), linear(8));
    EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{255, 255}));
  }
  {  // a negative constant is signed: max|x| = 3 -> 2^(P-1) - 1 = 127, so -3 -> -127
    const Tensor t(one_file(DType::f8, {-3, -3, -3}), linear(8));
    EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{-127, -127, -127}));
  }
  {  // an empty tensor reads nothing and does not fail
    const Tensor t({FileSpec{DType::f4, {0}, {}}}, linear(8));
    EXPECT_EQ(t.source->size(), 0u);
    EXPECT_TRUE(t.read_all().empty());
  }
}

TEST(QuantizeLinear, RangeSpansEveryFileOfTheTensor) {
  // Files {0, 1} and {4, 2}: min 0, max 4 over both; P = 3, scale = 7 / 4 = 1.75.
  // 0 -> 0; 1 -> 1.75 -> 2; 4 -> 7; 2 -> 3.5 -> 4.
  const Tensor t({FileSpec{DType::f4, {2}, {0, 1}}, FileSpec{DType::f4, {2}, {4, 2}}}, linear(3));
  // Reading the first file alone still uses the range of the whole tensor.
  EXPECT_EQ(t.read(0, 2), (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(t.read(1, 2), (std::vector<std::int64_t>{2, 7}));  // across the boundary
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{0, 2, 7, 4}));
}

TEST(QuantizeLinear, SignednessIsDecidedByAllFiles) {
  // Files {1, 2} and {-4}: signed, max|x| = 4; P = 8, scale = 127 / 4 = 31.75.
  // 1 -> 31.75 -> 32; 2 -> 63.5 -> 64; -4 -> -127.
  const Tensor t({FileSpec{DType::f8, {2}, {1, 2}}, FileSpec{DType::f8, {1}, {-4}}}, linear(8));
  EXPECT_EQ(t.read(0, 2), (std::vector<std::int64_t>{32, 64}));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{32, 64, -127}));
}

TEST(QuantizeLinear, ConcurrentFirstReadsAgree) {
  // The range is found once, on first use, even when several threads read
  // at once. min -1, max 3 -> signed, scale = 127 / 3; 3 -> 127, -1 -> -42.33 -> -42.
  const Tensor t(one_file(DType::f4, {3, -1, 0, 3, -1, 0, 3, -1}), linear(8));
  std::vector<std::vector<std::int64_t>> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&] { r = t.read_all(); });
  for (auto& th : threads) th.join();
  for (const auto& r : results) EXPECT_EQ(r, (std::vector<std::int64_t>{127, -42, 0, 127, -42, 0, 127, -42}));
}

TEST(QuantizeLinear, NaNAndInfinitiesAreErrorsNamingFileAndElement) {
  for (const double bad : {kNaN, kInf, -kInf}) {
    SCOPED_TRACE("value " + std::to_string(bad));
    // The bad value is in the second file, at (1, 0); reading only the
    // first file still fails, since the range covers the whole tensor.
    const Tensor t({FileSpec{DType::f4, {2}, {0, 1}}, FileSpec{DType::f4, {2, 1}, {2, bad}}}, linear(8));
    EXPECT_TRUE(throws_error([&] { t.read(0, 1); }, {t.paths[1], "element (1, 0)", "finite"}));
    EXPECT_TRUE(throws_error([&] { t.read_all(); }, {t.paths[1], "element (1, 0)", "finite"}));
  }
}

// ---------------------------------------------------------------------------
// Integral: floats that hold integers, within the declared width.

TEST(QuantizeIntegral, IntegersAreTakenAsTheyAre) {
  const Tensor t(one_file(DType::f4, {-32768, 32767, 0, 3, -0.0}), integral(16, true));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{-32768, 32767, 0, 3, 0}));
  const Tensor w(one_file(DType::f8, {2147483647.0, -2147483648.0}), integral(32, true));
  EXPECT_EQ(w.read_all(), (std::vector<std::int64_t>{2147483647LL, -2147483648LL}));
  const Tensor u(one_file(DType::f8, {4294967295.0, 0}), integral(32, false));
  EXPECT_EQ(u.read_all(), (std::vector<std::int64_t>{4294967295LL, 0}));
}

TEST(QuantizeIntegral, AFractionIsAnError) {
  const Tensor t({FileSpec{DType::f4, {1, 4}, {1, 2, 2.5, 3}}}, integral());
  EXPECT_TRUE(throws_error([&] { t.read_all(); }, {t.paths[0], "element (0, 2)", "2.5", "not an integer"}));
  const Tensor tiny(one_file(DType::f8, {1e-300}), integral());
  EXPECT_TRUE(throws_error([&] { tiny.read_all(); }, {tiny.paths[0], "element (0,)", "not an integer"}));
}

TEST(QuantizeIntegral, OutOfWidthIsAnError) {
  // 16-bit signed: -32768..32767.
  const Tensor hi(one_file(DType::f4, {32767, 32768}), integral(16, true));
  EXPECT_TRUE(throws_error([&] { hi.read_all(); }, {hi.paths[0], "element (1,)", "32768", "-32768..32767"}));
  const Tensor lo(one_file(DType::f4, {-32769}), integral(16, true));
  EXPECT_TRUE(throws_error([&] { lo.read_all(); }, {lo.paths[0], "element (0,)", "-32769"}));
  // 8-bit unsigned: 0..255.
  const Tensor u(one_file(DType::f8, {255, 256}), integral(8, false));
  EXPECT_TRUE(throws_error([&] { u.read_all(); }, {u.paths[0], "element (1,)", "256", "0..255"}));
  const Tensor neg(one_file(DType::f8, {-1}), integral(8, false));
  EXPECT_TRUE(throws_error([&] { neg.read_all(); }, {neg.paths[0], "element (0,)", "-1", "0..255"}));
  // 32-bit signed: 2147483648 is one past the top.
  const Tensor w(one_file(DType::f8, {2147483648.0}), integral(32, true));
  EXPECT_TRUE(throws_error([&] { w.read_all(); }, {w.paths[0], "2147483648"}));
  // Far outside any integer type.
  const Tensor huge(one_file(DType::f8, {1e30}), integral(16, true));
  EXPECT_TRUE(throws_error([&] { huge.read_all(); }, {huge.paths[0], "element (0,)"}));
}

TEST(QuantizeIntegral, NaNAndInfinitiesAreErrorsNamingFileAndElement) {
  for (const double bad : {kNaN, kInf, -kInf}) {
    for (const DType dtype : {DType::f4, DType::f8}) {
      SCOPED_TRACE(std::string(to_string(dtype)) + " value " + std::to_string(bad));
      const Tensor t({FileSpec{dtype, {3}, {1, 2, 3}}, FileSpec{dtype, {2, 2}, {1, 2, bad, 4}}}, integral());
      EXPECT_TRUE(throws_error([&] { t.read_all(); }, {t.paths[1], "element (1, 0)", "finite"}));
      // The first file alone is fine.
      EXPECT_EQ(t.read(0, 3), (std::vector<std::int64_t>{1, 2, 3}));
    }
  }
}

// ---------------------------------------------------------------------------
// Reads across files, empty reads, reads past the end.

TEST(QuantizeReads, SpanFileBoundariesAndSkipEmptyFiles) {
  // Files of 3, 0, 2 and 1 values: 10 11 12 | | 20 21 | 30.
  const Tensor t({FileSpec{DType::i2, {3}, {10, 11, 12}}, FileSpec{DType::i2, {0, 4}, {}},
                  FileSpec{DType::i2, {1, 2}, {20, 21}}, FileSpec{DType::i2, {1}, {30}}},
                 integer(16, true));
  EXPECT_EQ(t.source->size(), 6u);
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{10, 11, 12, 20, 21, 30}));
  EXPECT_EQ(t.read(2, 2), (std::vector<std::int64_t>{12, 20}));      // across the empty file
  EXPECT_EQ(t.read(3, 1), (std::vector<std::int64_t>{20}));          // first element after the empty file
  EXPECT_EQ(t.read(1, 5), (std::vector<std::int64_t>{11, 12, 20, 21, 30}));
  EXPECT_EQ(t.read(4, 2), (std::vector<std::int64_t>{21, 30}));
  EXPECT_EQ(t.read(5, 1), (std::vector<std::int64_t>{30}));
  // Element by element.
  for (std::uint64_t i = 0; i < 6; ++i) {
    SCOPED_TRACE("element " + std::to_string(i));
    EXPECT_EQ(t.read(i, 1)[0], t.read_all()[i]);
  }
}

TEST(QuantizeReads, ErrorsNameTheFileHoldingTheBadValue) {
  // The bad value is in the second file; a read across the boundary names it.
  const Tensor t({FileSpec{DType::i2, {2}, {1, 2}}, FileSpec{DType::i2, {2}, {3, 999}}}, integer(8, true));
  EXPECT_EQ(t.read(0, 3), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_TRUE(throws_error([&] { t.read(1, 3); }, {t.paths[1], "element (1,)", "999"}));
}

TEST(QuantizeReads, CountZeroReadsNothingAnywhere) {
  const Tensor t({FileSpec{DType::i2, {2}, {1, 2}}, FileSpec{DType::i2, {1}, {3}}}, integer(16, true));
  for (std::uint64_t first = 0; first <= 3; ++first) {
    SCOPED_TRACE("first " + std::to_string(first));
    std::int64_t sentinel = -7;
    EXPECT_NO_THROW(t.source->read(first, 0, &sentinel));
    EXPECT_EQ(sentinel, -7);
  }
  // Even on a value that would be an error.
  const Tensor bad(one_file(DType::f4, {kNaN}), integral());
  std::int64_t sentinel = -7;
  EXPECT_NO_THROW(bad.source->read(0, 0, &sentinel));
  EXPECT_NO_THROW(bad.source->read(1, 0, &sentinel));
  EXPECT_EQ(sentinel, -7);
  // An empty tensor.
  const Tensor empty({FileSpec{DType::i1, {0}, {}}}, integer(8, true));
  EXPECT_EQ(empty.source->size(), 0u);
  EXPECT_NO_THROW(empty.source->read(0, 0, &sentinel));
}

TEST(QuantizeReads, PastTheEndIsAnError) {
  const Tensor t({FileSpec{DType::i2, {2}, {1, 2}}, FileSpec{DType::i2, {1}, {3}}}, integer(16, true));
  std::vector<std::int64_t> out(8);
  EXPECT_TRUE(throws_error([&] { t.source->read(2, 2, out.data()); }, {"layer 'L' activations", t.paths[0], "past the end"}));
  EXPECT_TRUE(throws_error([&] { t.source->read(4, 0, out.data()); }, {"past the end"}));
  EXPECT_TRUE(throws_error([&] { t.source->read(0, 4, out.data()); }, {"past the end"}));
  // A count so large that first + count wraps around.
  EXPECT_TRUE(throws_error([&] { t.source->read(1, ~std::uint64_t{0}, out.data()); }, {"past the end"}));
}

TEST(QuantizeReads, NameSaysLabelAndFiles) {
  const Tensor one(one_file(DType::i2, {1}), integer(16, true));
  EXPECT_NE(one.source->name().find("layer 'L' activations"), std::string::npos) << one.source->name();
  EXPECT_NE(one.source->name().find(one.paths[0]), std::string::npos) << one.source->name();
  const Tensor three({FileSpec{DType::i2, {1}, {1}}, FileSpec{DType::i2, {1}, {2}}, FileSpec{DType::i2, {1}, {3}}},
                     integer(16, true));
  EXPECT_NE(three.source->name().find("2 more file"), std::string::npos) << three.source->name();
}

// ---------------------------------------------------------------------------
// The other dtypes: 64-bit integers, bool, float16, big-endian and
// Fortran-order files.

TEST(QuantizeInteger, SixtyFourBitCodesAreCheckedAgainstTheDeclaredWidth) {
  // tensor.long().numpy() gives <i8: small values read at 32 bits as they are.
  const Tensor ok(one_file(DType::i8, {-5, 7, 0, -2147483648.0, 2147483647.0}), integer(32, true));
  EXPECT_EQ(ok.read_all(), (std::vector<std::int64_t>{-5, 7, 0, -2147483648LL, 2147483647LL}));
  // 2^40 does not fit 32 bits: the same error as every other width.
  const Tensor wide({FileSpec{DType::i8, {2, 2}, {1, 2, 3, 1099511627776.0}}}, integer(32, true));
  EXPECT_TRUE(throws_error([&] { wide.read_all(); },
                           {wide.paths[0], "element (1, 1) = 1099511627776 is outside the declared 32-bit signed range"}));
  // u8 above 2^63 - 1 does not even fit a signed 64-bit value.
  const Tensor top(one_file(DType::u8, {3, 9223372036854775808.0}), integer(32, false));
  EXPECT_TRUE(throws_error([&] { top.read_all(); }, {top.paths[0], "element (1,) = 9223372036854775808", "outside"}));
  const Tensor low(one_file(DType::i8, {-9223372036854775808.0}), integer(8, true));
  EXPECT_TRUE(throws_error([&] { low.read_all(); }, {"-9223372036854775808", "-128..127"}));
}

TEST(QuantizeInteger, BoolIsZeroOrOne) {
  const Tensor t(one_file(DType::b1, {1, 0, 1, 1}), integer(1, false));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{1, 0, 1, 1}));
}

TEST(QuantizeFloat16, WidensExactlyBeforeQuantizing) {
  // fixed 4.4 (scale 16): 1.5 -> 24, -0.25 -> -4, 0.0009765625 (2^-10) -> 0.015625 -> 0, 2^-24 -> 0.
  const Tensor f(one_file(DType::f2, {1.5, -0.25, 0.0009765625, 5.9604644775390625e-08}), fixed(4, 4));
  EXPECT_EQ(f.read_all(), (std::vector<std::int64_t>{24, -4, 0, 0}));
  // linear to 8 bits, signed: max|x| = 2 -> 127: 2 -> 127, -1 -> -63.5 -> -64, 0.5 -> 31.75 -> 32.
  const Tensor l(one_file(DType::f2, {2, -1, 0.5}), linear(8));
  EXPECT_EQ(l.read_all(), (std::vector<std::int64_t>{127, -64, 32}));
  const Tensor i(one_file(DType::f2, {2048, -3, 0}), integral(16));
  EXPECT_EQ(i.read_all(), (std::vector<std::int64_t>{2048, -3, 0}));
  const Tensor frac(one_file(DType::f2, {1, 0.5}), integral(16));
  EXPECT_TRUE(throws_error([&] { frac.read_all(); }, {frac.paths[0], "element (1,) = 0.5 is not an integer"}));
  const Tensor inf(one_file(DType::f2, {1, kInf}), fixed(8, 0));
  EXPECT_TRUE(throws_error([&] { inf.read_all(); }, {inf.paths[0], "element (1,) = inf is not a finite number"}));
}

TEST(QuantizeLayouts, BigEndianAndFortranOrderFilesReadInCOrder) {
  const std::string dir = test::test_data_dir() + "/npy/";
  auto read = [](const std::string& path, const Quantization& q) {
    std::vector<NpyArray> files;
    files.push_back(NpyArray::open(path));
    const NpyTensorSource source(std::move(files), q, "t");
    std::vector<std::int64_t> out(source.size());
    source.read(0, out.size(), out.data());
    return out;
  };
  // np.asfortranarray(np.arange(24).reshape(2, 3, 4) - 12): -12 … 11 in C order.
  std::vector<std::int64_t> expected(24);
  for (int i = 0; i < 24; ++i) expected[static_cast<std::size_t>(i)] = i - 12;
  EXPECT_EQ(read(dir + "fortran_i2_3d.npy", integer(16, true)), expected);
  EXPECT_EQ(read(dir + "big_endian_i2.npy", integer(16, true)), (std::vector<std::int64_t>{-32768, -2, 0, 3, 32767}));
  // [[0.5, 1.5], [2.5, 3.5], [4.5, 5.5]] big-endian, Fortran order; fixed 4.1: x · 2.
  EXPECT_EQ(read(dir + "fortran_big_endian_f8.npy", fixed(4, 1)), (std::vector<std::int64_t>{1, 3, 5, 7, 9, 11}));
}

// ---------------------------------------------------------------------------
// Zero points: the value profiled is code − zero point, within the declared
// width of the result.

TEST(QuantizeZeroPoint, PerTensorShiftsEveryCode) {
  // TFLite int8 activations with zero point -128: a real 0 is the code -128.
  const Tensor t(one_file(DType::i1, {-128, -127, 0, 127}), with_zero_points(integer(8, false), {-128}));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{0, 1, 128, 255}));
  // PyTorch quint8 with zero point 128: signed after the shift.
  const Tensor u(one_file(DType::u1, {0, 128, 255}), with_zero_points(integer(8, true), {128}));
  EXPECT_EQ(u.read_all(), (std::vector<std::int64_t>{-128, 0, 127}));
  // Codes stored as integral floats.
  const Tensor f(one_file(DType::f4, {0, 5, 3}), with_zero_points(integral(8, true), {3}));
  EXPECT_EQ(f.read_all(), (std::vector<std::int64_t>{-3, 2, 0}));
}

TEST(QuantizeZeroPoint, TheResultIsCheckedAgainstTheDeclaredWidth) {
  // 127 - (-128) = 255 does not fit 8-bit signed.
  const Tensor t({FileSpec{DType::i1, {2, 2}, {-128, 0, 5, 127}}}, with_zero_points(integer(8, true), {-128}));
  EXPECT_TRUE(throws_error([&] { t.read_all(); },
                           {t.paths[0], "element (0, 1) = 0 less its zero point -128 is 128",
                            "outside the declared 8-bit signed range -128..127"}));
  // A shift past 64 bits is an error, not a wrap.
  const Tensor big(one_file(DType::i8, {-9223372036854775808.0}),
                   with_zero_points(integer(32, true), {std::numeric_limits<std::int64_t>::max()}));
  EXPECT_TRUE(throws_error([&] { big.read_all(); }, {big.paths[0], "overflows 64 bits"}));
}

TEST(QuantizeZeroPoint, PerChannelFollowsTheFirstAxis) {
  // Weights (3, 2, 1, 1), one zero point per output channel: rows less 0, 1, -1.
  const Tensor w({FileSpec{DType::i1, {3, 2, 1, 1}, {5, 6, 5, 6, 5, 6}}},
                 with_zero_points(integer(8, true), {0, 1, -1}));
  EXPECT_EQ(w.read_all(), (std::vector<std::int64_t>{5, 6, 4, 5, 6, 7}));
  EXPECT_EQ(w.read(3, 2), (std::vector<std::int64_t>{5, 6}));  // a read from the middle
  // A tensor the zero points do not divide into equal slices is refused.
  TempDir dir;
  const std::string path = dir.file("w.npy");
  const auto bytes = encode(DType::i1, {1, 2, 3, 4});
  write_npy(path, DType::i1, {4}, bytes.data());
  std::vector<NpyArray> files;
  files.push_back(NpyArray::open(path));
  EXPECT_TRUE(throws_error(
      [&] { NpyTensorSource(std::move(files), with_zero_points(integer(8, true), {0, 1, 2}), "layer 'L' weights"); },
      {"layer 'L' weights", "3 zero points do not divide its 4 values"}));
}

// ---------------------------------------------------------------------------
// dnnsim: a DNNsim precision profile (§7a). Integer traces and float tensors
// whose every value is integral keep their values, with magnitudes up to
// 2^(mag+frac) − 1; other float tensors are fixed point (mag, frac).

TEST(QuantizeDnnsim, RawFloatTensorsAreFixedPoint) {
  // mag 5, frac 8 (13 bits, limit 8191): x · 256, half away from zero, clipped.
  const Tensor t(one_file(DType::f4, {0.5, -0.00390625 * 1.5, 2.0922866, 40.0, -40.0, 0}), dnnsim(5, 8));
  EXPECT_TRUE(t.source->all_integral() == false);
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{
                              128,    // 0.5 · 256
                              -2,     // -1.5 -> -2 (away from zero)
                              536,    // 2.0922866 · 256 = 535.62 -> 536
                              8191,   // 10240 clipped to 2^13 - 1
                              -8191,  // clipped below
                              0}));
}

TEST(QuantizeDnnsim, IntegralFloatTensorsKeepTheirValues) {
  // The same widths: 536 stays 536, not 536 · 256.
  const Tensor t(one_file(DType::f4, {0, 536, -608, 8191, -8191}), dnnsim(5, 8));
  EXPECT_TRUE(t.source->all_integral());
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{0, 536, -608, 8191, -8191}));
  const Tensor over(one_file(DType::f4, {1, 8192}), dnnsim(5, 8));
  EXPECT_TRUE(throws_error([&] { over.read_all(); },
                           {over.paths[0], "element (1,) = 8192", "13-bit magnitude range -8191..8191"}));
}

TEST(QuantizeDnnsim, OneFractionAnywhereMakesTheWholeTensorFixedPoint) {
  // The second file has 0.5: both files are fixed point (x · 4 at frac 2).
  const Tensor t({FileSpec{DType::f4, {2}, {1, 2}}, FileSpec{DType::f8, {2}, {0.5, 3}}}, dnnsim(6, 2));
  EXPECT_FALSE(t.source->all_integral());
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{4, 8, 2, 12}));
}

TEST(QuantizeDnnsim, IntegerTracesAreKeptWithinTheMagnitudeBound) {
  const Tensor t(one_file(DType::i2, {8191, -8191, 0}), dnnsim(1, 12));
  EXPECT_EQ(t.read_all(), (std::vector<std::int64_t>{8191, -8191, 0}));
  const Tensor bad(one_file(DType::i2, {-8192}), dnnsim(1, 12));
  EXPECT_TRUE(throws_error([&] { bad.read_all(); }, {bad.paths[0], "-8192", "13-bit magnitude range"}));
  const Tensor unsigned_bad(one_file(DType::i2, {3, -1}), dnnsim(4, 0, false));
  EXPECT_TRUE(throws_error([&] { unsigned_bad.read_all(); }, {unsigned_bad.paths[0], "element (1,) = -1", "0..15"}));
}

TEST(QuantizeDnnsim, NaNIsAnErrorEvenWhenScanning) {
  const Tensor t(one_file(DType::f4, {1, kNaN}), dnnsim(5, 8));
  EXPECT_TRUE(throws_error([&] { t.source->all_integral(); }, {t.paths[0], "element (1,)", "not a finite number"}));
  EXPECT_TRUE(throws_error([&] { t.read_all(); }, {t.paths[0], "not a finite number"}));
}

TEST(QuantizeIntegral, AdviceFollowsTheFractionError) {
  TempDir dir;
  const std::string path = dir.file("act-conv1-0.npy");
  const auto bytes = encode(DType::f4, {1, 2.25});
  write_npy(path, DType::f4, {2}, bytes.data());
  std::vector<NpyArray> files;
  files.push_back(NpyArray::open(path));
  const NpyTensorSource source(std::move(files), integral(), "layer 'conv1' activations", ": add precision.txt");
  std::vector<std::int64_t> out(2);
  EXPECT_TRUE(throws_error([&] { source.read(0, 2, out.data()); },
                           {path, "element (1,) = 2.25 is not an integer: add precision.txt (layer 'conv1' activations)"}));
}

}  // namespace
}  // namespace laconic
