// Tests for the .npy reader and writer: round trips, files written by real
// NumPy (tests/data/npy, see make_fixtures.py: every numeric dtype, both byte
// orders, C and Fortran order) and every refusal, each of which must name the
// file and say what is wrong. tests/python/test_npy_roundtrip.py checks the
// same reader against NumPy's own values over every dtype × order × .npy/.npz.

#include "laconic/npy.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "laconic/error.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

using test::TempDir;
using test::write_bytes;

const std::string kFixtureDir = test::test_data_dir() + "/npy/";
constexpr DType kAllDTypes[] = {DType::b1, DType::i1, DType::u1, DType::i2, DType::u2, DType::i4,
                                DType::u4, DType::i8, DType::u8, DType::f2, DType::f4, DType::f8};

using test::throws_error;

testing::AssertionResult open_fails(const std::string& path, const std::string& phrase) {
  return throws_error([&] { NpyArray::open(path); }, {path, phrase});
}

// A .npy file's bytes, assembled by hand so that every field can be wrong.
std::string npy_bytes(const std::string& dict, const std::string& data = "", int major = 1, int minor = 0,
                      bool pad = true) {
  const std::size_t length_field = major == 1 ? 2 : 4;
  std::string header = dict;
  if (pad) {
    const std::size_t unpadded = 8 + length_field + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';
  }
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += static_cast<char>(minor);
  for (std::size_t i = 0; i < length_field; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string dict_of(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

NpyHeader parse(const std::string& bytes) { return parse_npy_header(bytes.data(), bytes.size(), "hdr"); }

testing::AssertionResult parse_fails(const std::string& bytes, const std::string& phrase) {
  return throws_error([&] { parse(bytes); }, {"hdr: ", phrase});
}

// Writes `bytes` to a fresh file and expects NpyArray::open to refuse it.
testing::AssertionResult content_fails(const std::string& bytes, const std::string& phrase) {
  TempDir dir;
  const std::string path = dir.file("act-conv1-0.npy");
  write_bytes(path, bytes);
  return open_fails(path, phrase);
}

// Every element, in C order and the host's byte order, through NpyArray::read.
template <typename T>
std::vector<T> values_of(const NpyArray& array) {
  EXPECT_EQ(sizeof(T), item_size(array.dtype()));
  std::vector<T> values(array.size());
  if (!values.empty()) array.read(0, values.size(), values.data());
  return values;
}

// ---------------------------------------------------------------------------
// DType helpers and small functions.

TEST(NpyDType, Traits) {
  const struct {
    DType dtype;
    const char* name;
    std::size_t size;
    bool is_float, is_signed;
  } expected[] = {
      {DType::b1, "b1", 1, false, false}, {DType::i1, "i1", 1, false, true}, {DType::u1, "u1", 1, false, false},
      {DType::i2, "i2", 2, false, true},  {DType::u2, "u2", 2, false, false}, {DType::i4, "i4", 4, false, true},
      {DType::u4, "u4", 4, false, false}, {DType::i8, "i8", 8, false, true},  {DType::u8, "u8", 8, false, false},
      {DType::f2, "f2", 2, true, true},   {DType::f4, "f4", 4, true, true},   {DType::f8, "f8", 8, true, true},
  };
  for (const auto& e : expected) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(to_string(e.dtype), e.name);
    EXPECT_EQ(item_size(e.dtype), e.size);
    EXPECT_EQ(bit_width(e.dtype), static_cast<int>(8 * e.size));
    EXPECT_EQ(is_float(e.dtype), e.is_float);
    EXPECT_EQ(is_signed(e.dtype), e.is_signed);
  }
}

TEST(NpyShape, ToStringLikePython) {
  EXPECT_EQ(shape_to_string({}), "()");
  EXPECT_EQ(shape_to_string({5}), "(5,)");
  EXPECT_EQ(shape_to_string({2, 3}), "(2, 3)");
  EXPECT_EQ(shape_to_string({2, 3, 4}), "(2, 3, 4)");
  EXPECT_EQ(shape_to_string({18446744073709551615ull}), "(18446744073709551615,)");
}

TEST(NpyHeader, ElementsAndBytes) {
  NpyHeader header;
  header.dtype = DType::f8;
  EXPECT_EQ(header.elements(), 1u);  // a scalar
  EXPECT_EQ(header.data_bytes(), 8u);
  header.shape = {2, 3, 4};
  EXPECT_EQ(header.elements(), 24u);
  EXPECT_EQ(header.data_bytes(), 192u);
  header.shape = {3, 0, 7};
  EXPECT_EQ(header.elements(), 0u);
  EXPECT_EQ(header.data_bytes(), 0u);
  header.shape = {std::uint64_t(1) << 62};
  EXPECT_EQ(header.elements(), std::uint64_t(1) << 62);
  EXPECT_TRUE(throws_error([&] { header.data_bytes(); }, {"(4611686018427387904,)", "2^64 bytes"}));
  header.shape = {std::uint64_t(1) << 32, std::uint64_t(1) << 32};
  EXPECT_TRUE(throws_error([&] { header.elements(); }, {"2^64 elements"}));
}

// ---------------------------------------------------------------------------
// Round trips through write_npy and NpyArray::open.

class NpyRoundTrip : public testing::TestWithParam<std::tuple<DType, std::vector<std::uint64_t>>> {};

TEST_P(NpyRoundTrip, BytesShapeAndLayoutSurvive) {
  const auto& [dtype, shape] = GetParam();
  NpyHeader expected;
  expected.dtype = dtype;
  expected.shape = shape;
  std::vector<unsigned char> data(expected.data_bytes());
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 37 + 11);

  TempDir dir;
  const std::string path = dir.file("out.npy");
  write_npy(path, dtype, shape, data.data());

  const NpyArray array = NpyArray::open(path);
  EXPECT_EQ(array.path(), path);
  EXPECT_EQ(array.dtype(), dtype);
  EXPECT_EQ(array.shape(), shape);
  EXPECT_EQ(array.size(), expected.elements());
  EXPECT_EQ(array.header().major_version, 1);
  EXPECT_EQ(array.header().minor_version, 0);
  EXPECT_FALSE(array.header().fortran_order);
  EXPECT_EQ(array.header().data_offset % 64, 0u);
  EXPECT_EQ(std::filesystem::file_size(path), array.header().data_offset + data.size());
  if (!data.empty()) {
    ASSERT_NE(array.data(), nullptr);
    EXPECT_EQ(std::memcmp(array.data(), data.data(), data.size()), 0);
  }
  // Nothing else is left in the directory: the temporary file was renamed.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

INSTANTIATE_TEST_SUITE_P(AllDTypesAndShapes, NpyRoundTrip,
                         testing::Combine(testing::ValuesIn(kAllDTypes),
                                          testing::Values(std::vector<std::uint64_t>{},
                                                          std::vector<std::uint64_t>{0},
                                                          std::vector<std::uint64_t>{1},
                                                          std::vector<std::uint64_t>{7},
                                                          std::vector<std::uint64_t>{2, 3, 4, 5},
                                                          std::vector<std::uint64_t>{4, 0, 3})));

TEST(NpyWrite, HeaderIsWhatNumPyWrites) {
  TempDir dir;
  const std::string path = dir.file("h.npy");
  const std::int16_t values[6] = {1, -2, 3, -4, 5, -6};
  write_npy(path, DType::i2, {2, 3}, values);
  const std::string bytes = test::read_text(path);
  // 10 + 60 + 1 bytes of preamble, dict and newline, padded to 128.
  ASSERT_EQ(bytes.size(), 128u + sizeof values);
  const std::string dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_EQ(bytes.substr(0, 10), std::string("\x93NUMPY\x01\x00\x76\x00", 10));
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes.substr(10 + dict.size(), 128 - 11 - dict.size()), std::string(128 - 11 - dict.size(), ' '));
  EXPECT_EQ(bytes[127], '\n');
  EXPECT_EQ(std::memcmp(bytes.data() + 128, values, sizeof values), 0);

  write_npy(path, DType::u1, {5}, "abcde");
  EXPECT_NE(test::read_text(path).find("{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }"),
            std::string::npos);
}

TEST(NpyWrite, TypedValuesRoundTrip) {
  TempDir dir;
  const std::vector<float> floats = {1.5f, -0.25f, std::numeric_limits<float>::max(),
                                     std::numeric_limits<float>::denorm_min(), -0.0f};
  write_npy(dir.file("f.npy"), DType::f4, {5}, floats.data());
  const std::vector<float> read_floats = values_of<float>(NpyArray::open(dir.file("f.npy")));
  ASSERT_EQ(read_floats.size(), floats.size());
  EXPECT_EQ(std::memcmp(read_floats.data(), floats.data(), floats.size() * sizeof(float)), 0);

  const std::vector<std::int32_t> ints = {std::numeric_limits<std::int32_t>::min(), -1, 0, 1,
                                          std::numeric_limits<std::int32_t>::max(), 42};
  write_npy(dir.file("i.npy"), DType::i4, {3, 2}, ints.data());
  EXPECT_EQ(values_of<std::int32_t>(NpyArray::open(dir.file("i.npy"))), ints);
}

TEST(NpyWrite, HugeHeaderUsesVersion2) {
  // 25000 dimensions of 1 need a header over 65535 bytes.
  const std::vector<std::uint64_t> shape(25000, 1);
  TempDir dir;
  const std::string path = dir.file("wide.npy");
  const double value = 3.25;
  write_npy(path, DType::f8, shape, &value);
  const NpyArray array = NpyArray::open(path);
  EXPECT_EQ(array.header().major_version, 2);
  EXPECT_GT(array.header().data_offset, 65535u);
  EXPECT_EQ(array.header().data_offset % 64, 0u);
  EXPECT_EQ(array.shape(), shape);
  EXPECT_EQ(values_of<double>(array), std::vector<double>{3.25});
}

TEST(NpyWrite, ReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, "old contents that are not a .npy file");
  const std::uint8_t values[3] = {1, 2, 3};
  write_npy(path, DType::u1, {3}, values);
  EXPECT_EQ(values_of<std::uint8_t>(NpyArray::open(path)), (std::vector<std::uint8_t>{1, 2, 3}));
}

TEST(NpyWrite, MissingDirectoryIsAnError) {
  TempDir dir;
  const std::string path = dir.file("no-such-dir/out.npy");
  const float value = 1.0f;
  EXPECT_TRUE(throws_error([&] { write_npy(path, DType::f4, {}, &value); }, {path, "No such file or directory"}));
}

TEST(NpyWrite, DirectoryInTheWayIsAnErrorAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("taken");
  std::filesystem::create_directory(path);
  const float value = 1.0f;
  EXPECT_TRUE(throws_error([&] { write_npy(path, DType::f4, {}, &value); }, {path, "cannot rename"}));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);  // just "taken"
}

TEST(NpyWrite, UnwritableDirectoryIsAnError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  TempDir dir;
  const std::string sub = dir.file("ro");
  std::filesystem::create_directory(sub);
  ::chmod(sub.c_str(), 0555);
  const std::string path = sub + "/out.npy";
  const float value = 1.0f;
  EXPECT_TRUE(throws_error([&] { write_npy(path, DType::f4, {}, &value); }, {path, "Permission denied"}));
  ::chmod(sub.c_str(), 0755);
}

TEST(NpyWrite, OverflowingShapeIsAnError) {
  TempDir dir;
  const std::string path = dir.file("big.npy");
  const float value = 1.0f;
  EXPECT_TRUE(throws_error([&] { write_npy(path, DType::f4, {std::uint64_t(1) << 63}, &value); },
                           {path, "2^64 bytes"}));
  EXPECT_FALSE(std::filesystem::exists(path));
}

// ---------------------------------------------------------------------------
// Files written by NumPy itself.

TEST(NpyFixtures, EveryDTypeReadsWithTheRightValues) {
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "i1.npy");
    EXPECT_EQ(a.dtype(), DType::i1);
    EXPECT_EQ(values_of<std::int8_t>(a), (std::vector<std::int8_t>{-128, -1, 0, 1, 127}));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "u1.npy");
    EXPECT_EQ(a.dtype(), DType::u1);
    EXPECT_EQ(values_of<std::uint8_t>(a), (std::vector<std::uint8_t>{0, 1, 128, 255}));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "i2.npy");
    EXPECT_EQ(a.dtype(), DType::i2);
    EXPECT_EQ(values_of<std::int16_t>(a), (std::vector<std::int16_t>{-32768, -2, 0, 3, 32767}));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "u2.npy");
    EXPECT_EQ(a.dtype(), DType::u2);
    EXPECT_EQ(a.shape(), (std::vector<std::uint64_t>{2, 3, 4}));
    const std::vector<std::uint16_t> values = values_of<std::uint16_t>(a);
    ASSERT_EQ(values.size(), 24u);
    for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(values[i], i * 2731) << i;  // C order
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "i4.npy");
    EXPECT_EQ(a.dtype(), DType::i4);
    EXPECT_EQ(a.shape(), (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(values_of<std::int32_t>(a),
              (std::vector<std::int32_t>{std::numeric_limits<std::int32_t>::min(), -1, 0, 1, 123456789,
                                         std::numeric_limits<std::int32_t>::max()}));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "u4.npy");
    EXPECT_EQ(a.dtype(), DType::u4);
    EXPECT_EQ(values_of<std::uint32_t>(a), (std::vector<std::uint32_t>{0, 1, 3000000000u, 4294967295u}));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "f4.npy");
    EXPECT_EQ(a.dtype(), DType::f4);
    EXPECT_EQ(a.shape(), (std::vector<std::uint64_t>{2, 3}));
    const std::vector<float> v = values_of<float>(a);
    ASSERT_EQ(v.size(), 6u);
    EXPECT_EQ(v[0], 1.5f);
    EXPECT_EQ(v[1], -0.25f);
    EXPECT_EQ(v[2], std::numeric_limits<float>::max());
    EXPECT_EQ(v[3], std::numeric_limits<float>::denorm_min());
    EXPECT_EQ(v[4], -std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(v[5]));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "f8.npy");
    EXPECT_EQ(a.dtype(), DType::f8);
    EXPECT_EQ(values_of<double>(a), (std::vector<double>{0.1, -1e300, std::numeric_limits<double>::infinity(),
                                                         std::numeric_limits<double>::denorm_min()}));
  }
}

TEST(NpyFixtures, ScalarAndEmpty) {
  const NpyArray scalar = NpyArray::open(kFixtureDir + "scalar_f8.npy");
  EXPECT_TRUE(scalar.shape().empty());
  EXPECT_EQ(scalar.size(), 1u);
  EXPECT_EQ(values_of<double>(scalar), std::vector<double>{2.5});

  const NpyArray empty = NpyArray::open(kFixtureDir + "empty_f4.npy");
  EXPECT_EQ(empty.shape(), (std::vector<std::uint64_t>{3, 0}));
  EXPECT_EQ(empty.size(), 0u);
}

TEST(NpyFixtures, Version2And3) {
  const NpyArray v2 = NpyArray::open(kFixtureDir + "v2_i2.npy");
  EXPECT_EQ(v2.header().major_version, 2);
  EXPECT_EQ(v2.shape(), (std::vector<std::uint64_t>{2, 2}));
  EXPECT_EQ(values_of<std::int16_t>(v2), (std::vector<std::int16_t>{1, -2, 3, -4}));

  const NpyArray v3 = NpyArray::open(kFixtureDir + "v3_u1.npy");
  EXPECT_EQ(v3.header().major_version, 3);
  EXPECT_EQ(v3.header().minor_version, 0);
  EXPECT_EQ(values_of<std::uint8_t>(v3), (std::vector<std::uint8_t>{7, 8, 9}));
}

TEST(NpyFixtures, SixtyFourBitIntegersBoolAndHalf) {
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "i8.npy");
    EXPECT_EQ(a.dtype(), DType::i8);
    EXPECT_EQ(values_of<std::int64_t>(a), (std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), -1, 0,
                                                                      1, std::numeric_limits<std::int64_t>::max()}));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "u8.npy");
    EXPECT_EQ(a.dtype(), DType::u8);
    EXPECT_EQ(values_of<std::uint64_t>(a),
              (std::vector<std::uint64_t>{0, 1, std::uint64_t{1} << 63, std::numeric_limits<std::uint64_t>::max()}));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "b1.npy");
    EXPECT_EQ(a.dtype(), DType::b1);
    EXPECT_EQ(values_of<std::uint8_t>(a), (std::vector<std::uint8_t>{1, 0, 1}));
  }
  {
    const NpyArray a = NpyArray::open(kFixtureDir + "f2.npy");
    EXPECT_EQ(a.dtype(), DType::f2);
    std::vector<float> v;
    for (std::uint16_t bits : values_of<std::uint16_t>(a)) v.push_back(half_to_float(bits));
    ASSERT_EQ(v.size(), 8u);
    EXPECT_EQ(v[0], 1.0f);
    EXPECT_EQ(v[1], -2.5f);
    EXPECT_EQ(v[2], 65504.0f);
    EXPECT_EQ(v[3], std::ldexp(1.0f, -24));  // the smallest subnormal
    EXPECT_EQ(v[4], 0.0f);
    EXPECT_TRUE(std::signbit(v[4]));
    EXPECT_EQ(v[5], std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(v[6]));
    EXPECT_EQ(v[7], 0.333251953125f);  // float16(1/3) = 0x3555
  }
}

TEST(NpyFixtures, BigEndianFilesAreSwapped) {
  const NpyArray f4 = NpyArray::open(kFixtureDir + "big_endian_f4.npy");
  EXPECT_TRUE(f4.header().big_endian);
  EXPECT_EQ(f4.contiguous_data(), nullptr);  // not usable in place
  EXPECT_NE(f4.data(), nullptr);             // but still mapped
  EXPECT_EQ(values_of<float>(f4), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(values_of<std::int16_t>(NpyArray::open(kFixtureDir + "big_endian_i2.npy")),
            (std::vector<std::int16_t>{-32768, -2, 0, 3, 32767}));
  EXPECT_EQ(values_of<std::uint64_t>(NpyArray::open(kFixtureDir + "big_endian_u8.npy")),
            (std::vector<std::uint64_t>{0, 1, std::uint64_t{1} << 63, std::numeric_limits<std::uint64_t>::max()}));
  EXPECT_EQ(values_of<double>(NpyArray::open(kFixtureDir + "big_endian_f8.npy")),
            (std::vector<double>{0.1, -1e300, std::numeric_limits<double>::infinity(),
                                 std::numeric_limits<double>::denorm_min()}));
}

TEST(NpyFixtures, FortranOrderIsReadThroughStridesInCOrder) {
  // np.asfortranarray(np.arange(6).reshape(2, 3)): the file holds 0 3 1 4 2 5,
  // np.load gives [[0, 1, 2], [3, 4, 5]], and so does the reader.
  const NpyArray f4 = NpyArray::open(kFixtureDir + "fortran_f4.npy");
  EXPECT_TRUE(f4.header().fortran_order);
  EXPECT_EQ(f4.contiguous_data(), nullptr);
  ASSERT_NE(f4.data(), nullptr);  // memory-mapped, not transposed into a copy
  float stored[6];
  std::memcpy(stored, f4.data(), sizeof stored);
  EXPECT_EQ(std::vector<float>(stored, stored + 6), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(values_of<float>(f4), (std::vector<float>{0, 1, 2, 3, 4, 5}));

  const NpyArray i2 = NpyArray::open(kFixtureDir + "fortran_i2_3d.npy");
  EXPECT_EQ(i2.shape(), (std::vector<std::uint64_t>{2, 3, 4}));
  std::vector<std::int16_t> expected(24);
  for (std::size_t i = 0; i < 24; ++i) expected[i] = static_cast<std::int16_t>(static_cast<int>(i) - 12);
  EXPECT_EQ(values_of<std::int16_t>(i2), expected);
  // Every sub-range starts and ends where it should (the odometer's start).
  for (std::uint64_t first = 0; first < 24; ++first)
    for (std::uint64_t count = 0; first + count <= 24; ++count) {
      std::vector<std::int16_t> part(count);
      i2.read(first, count, part.data());
      EXPECT_EQ(part, std::vector<std::int16_t>(expected.begin() + static_cast<std::ptrdiff_t>(first),
                                                expected.begin() + static_cast<std::ptrdiff_t>(first + count)))
          << first << "+" << count;
    }

  const NpyArray f8 = NpyArray::open(kFixtureDir + "fortran_big_endian_f8.npy");
  EXPECT_TRUE(f8.header().fortran_order);
  EXPECT_TRUE(f8.header().big_endian);
  EXPECT_EQ(values_of<double>(f8), (std::vector<double>{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}));
}

TEST(NpyFixtures, RefusedNumPyFiles) {
  EXPECT_TRUE(open_fails(kFixtureDir + "U3.npy", "unsupported dtype '<U3'"));
  EXPECT_TRUE(open_fails(kFixtureDir + "c8.npy", "unsupported dtype '<c8'"));
  EXPECT_TRUE(open_fails(kFixtureDir + "structured.npy", "structured dtypes are not supported"));
  EXPECT_TRUE(open_fails(kFixtureDir + "c8.npy", "supported: b1, i1, u1, i2, u2, i4, u4, i8, u8, f2, f4, f8"));
}

TEST(NpyRead, PastTheEndIsAnErrorNamingTheFile) {
  const NpyArray a = NpyArray::open(kFixtureDir + "i1.npy");
  std::int8_t out[8];
  EXPECT_TRUE(throws_error([&] { a.read(3, 3, out); }, {kFixtureDir + "i1.npy", "past the end (5 elements)"}));
  EXPECT_TRUE(throws_error([&] { a.read(6, 0, out); }, {"past the end"}));
  a.read(5, 0, out);  // an empty read at the end is fine
}

TEST(NpyRead, FortranOrderWithOneLongAxisIsCOrder) {
  // (1, 5) and (5, 1) hold the same bytes in either order: read in place.
  TempDir dir;
  const std::string path = dir.file("row.npy");
  const std::int16_t values[5] = {1, -2, 3, -4, 5};
  write_bytes(path, npy_bytes(dict_of("<i2", "(1, 5)", "True"), std::string(reinterpret_cast<const char*>(values), 10)));
  const NpyArray a = NpyArray::open(path);
  EXPECT_TRUE(a.header().fortran_order);
  EXPECT_NE(a.contiguous_data(), nullptr);
  EXPECT_EQ(values_of<std::int16_t>(a), (std::vector<std::int16_t>{1, -2, 3, -4, 5}));
}

TEST(NpyHalf, EveryBitPatternWidensExactly) {
  // binary16: sign, 5 exponent bits (bias 15), 10 mantissa bits.
  for (std::uint32_t bits = 0; bits < 65536; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float f = half_to_float(h);
    const int exponent = (h >> 10) & 0x1f;
    const int mantissa = h & 0x3ff;
    const double sign = (h & 0x8000) != 0 ? -1.0 : 1.0;
    if (exponent == 31) {
      if (mantissa == 0) EXPECT_EQ(f, sign * std::numeric_limits<float>::infinity()) << bits;
      else EXPECT_TRUE(std::isnan(f)) << bits;
      continue;
    }
    const double expected = exponent == 0 ? sign * std::ldexp(mantissa, -24)
                                          : sign * std::ldexp(1024 + mantissa, exponent - 25);
    EXPECT_EQ(static_cast<double>(f), expected) << bits;
    EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << bits;
  }
}

// ---------------------------------------------------------------------------
// NpyArray: file-level errors and object behaviour.

TEST(NpyOpen, MissingFile) {
  TempDir dir;
  EXPECT_TRUE(open_fails(dir.file("traces/act-conv1-0.npy"), "cannot open: No such file or directory"));
}

TEST(NpyOpen, Directory) {
  TempDir dir;
  EXPECT_TRUE(open_fails(dir.path().string(), "is a directory"));
}

TEST(NpyOpen, Fifo) {
  TempDir dir;
  const std::string path = dir.file("pipe.npy");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_TRUE(open_fails(path, "not a regular file"));  // and does not hang waiting for a writer
}

TEST(NpyOpen, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can read anything";
  TempDir dir;
  const std::string path = dir.file("secret.npy");
  write_bytes(path, npy_bytes(dict_of("<f4", "()"), std::string(4, '\0')));
  ::chmod(path.c_str(), 0);
  EXPECT_TRUE(open_fails(path, "Permission denied"));
}

TEST(NpyOpen, EmptyAndTooShortFiles) {
  EXPECT_TRUE(content_fails("", "empty file"));
  EXPECT_TRUE(content_fails("\x93NU", "too short to be a .npy file (3 bytes)"));
  EXPECT_TRUE(content_fails("\x93NUMPY", "ends inside the version"));
  EXPECT_TRUE(content_fails(std::string("\x93NUMPY\x01\x00\x10", 9), "ends inside the header length"));
  EXPECT_TRUE(content_fails(std::string("\x93NUMPY\x02\x00\x10\x00\x00", 11), "ends inside the header length"));
}

TEST(NpyOpen, BadMagic) {
  EXPECT_TRUE(content_fails("PK\x03\x04 this is a zip file, not a .npy one",
                            "not a .npy file but a zip archive (an .npz, as np.savez writes)"));
  EXPECT_TRUE(content_fails("PK\x03\x04 this is a zip file, not a .npy one", "\"file.npz:name\""));
  EXPECT_TRUE(content_fails("\x93NUMPZ\x01\x00", "bad magic"));
  EXPECT_TRUE(content_fails("ab", "not a .npy file (bad magic)"));
}

TEST(NpyOpen, UnsupportedVersion) {
  const std::string dict = dict_of("<f4", "()");
  EXPECT_TRUE(content_fails(npy_bytes(dict, std::string(4, '\0'), 4, 0), "unsupported .npy format version 4.0"));
  EXPECT_TRUE(content_fails(npy_bytes(dict, std::string(4, '\0'), 1, 1), "unsupported .npy format version 1.1"));
  EXPECT_TRUE(content_fails(npy_bytes(dict, std::string(4, '\0'), 0, 0), "version 0.0 (supported: 1.0, 2.0, 3.0)"));
}

TEST(NpyOpen, HeaderLengthBeyondTheFile) {
  std::string bytes = npy_bytes(dict_of("<f4", "()"));
  bytes[8] = '\xff';  // claims a 0x??ff-byte header
  EXPECT_TRUE(content_fails(bytes, "header length field says"));
  std::string v2 = npy_bytes(dict_of("<f4", "()"), "", 2);
  v2[11] = '\x7f';
  EXPECT_TRUE(content_fails(v2, "truncated .npy file"));
}

TEST(NpyOpen, TruncatedData) {
  EXPECT_TRUE(content_fails(npy_bytes(dict_of("<f4", "(2, 3)"), std::string(23, '\0')),
                            "truncated: header promises 24 bytes of data (shape (2, 3), dtype f4), file has 23"));
  EXPECT_TRUE(content_fails(npy_bytes(dict_of("<f8", "()")), "header promises 8 bytes of data"));
}

TEST(NpyOpen, TrailingBytes) {
  EXPECT_TRUE(content_fails(npy_bytes(dict_of("<i2", "(3,)"), std::string(7, '\0')),
                            "has 1 bytes after the 6 bytes of data the header describes"));
  EXPECT_TRUE(content_fails(npy_bytes(dict_of("<i2", "(0,)"), "x"), "has 1 bytes after the 0 bytes"));
}

TEST(NpyOpen, HeaderErrorsNameTheFile) {
  EXPECT_TRUE(content_fails(npy_bytes(dict_of("<c8", "(1,)"), std::string(8, '\0')), "unsupported dtype '<c8'"));
  EXPECT_TRUE(content_fails(npy_bytes("{'descr': '<f4'}"), "missing key"));
}

TEST(NpyOpen, ZeroElementArray) {
  TempDir dir;
  const std::string path = dir.file("empty.npy");
  write_bytes(path, npy_bytes(dict_of("<f4", "(0, 5)")));
  const NpyArray array = NpyArray::open(path);
  EXPECT_EQ(array.size(), 0u);
  EXPECT_EQ(array.shape(), (std::vector<std::uint64_t>{0, 5}));
}

TEST(NpyOpen, UnalignedDataOffsetIsAccepted) {
  TempDir dir;
  const std::string path = dir.file("odd.npy");
  const std::string dict = dict_of("<i4", "(2,)") + "\n";  // no padding: data at offset 72+1
  const std::int32_t values[2] = {-7, 9};
  write_bytes(path, npy_bytes(dict, std::string(reinterpret_cast<const char*>(values), sizeof values), 1, 0, false));
  const NpyArray array = NpyArray::open(path);
  EXPECT_EQ(array.header().data_offset, 10 + dict.size());
  EXPECT_EQ(values_of<std::int32_t>(array), (std::vector<std::int32_t>{-7, 9}));
}

TEST(NpyOpen, MoveKeepsTheMappingAlive) {
  TempDir dir;
  const std::string path = dir.file("m.npy");
  const std::uint16_t values[4] = {10, 20, 30, 40};
  write_npy(path, DType::u2, {4}, values);

  NpyArray moved;
  {
    NpyArray original = NpyArray::open(path);
    moved = std::move(original);
    EXPECT_EQ(original.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is specified here
  }  // the moved-from destructor must not unmap
  NpyArray constructed(std::move(moved));
  EXPECT_EQ(constructed.path(), path);
  EXPECT_EQ(values_of<std::uint16_t>(constructed), (std::vector<std::uint16_t>{10, 20, 30, 40}));

  // Assigning over a live array releases its mapping and takes the new one.
  write_npy(dir.file("n.npy"), DType::u2, {1}, values);
  constructed = NpyArray::open(dir.file("n.npy"));
  EXPECT_EQ(values_of<std::uint16_t>(constructed), std::vector<std::uint16_t>{10});
}

// ---------------------------------------------------------------------------
// parse_npy_header: accepted spellings.

TEST(NpyParse, NumPyStyleHeader) {
  const NpyHeader h = parse(npy_bytes(dict_of("<f4", "(2, 3)")));
  EXPECT_EQ(h.major_version, 1);
  EXPECT_EQ(h.minor_version, 0);
  EXPECT_EQ(h.dtype, DType::f4);
  EXPECT_FALSE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(h.data_offset, 128u);
  EXPECT_EQ(h.elements(), 6u);
  EXPECT_EQ(h.data_bytes(), 24u);
}

TEST(NpyParse, FlexibleSpelling) {
  // Key order, double quotes, whitespace everywhere, no trailing comma.
  NpyHeader h = parse(npy_bytes("{\"shape\":(4,5),\"fortran_order\":False,\"descr\":\"<u2\"}"));
  EXPECT_EQ(h.dtype, DType::u2);
  EXPECT_EQ(h.shape, (std::vector<std::uint64_t>{4, 5}));
  h = parse(npy_bytes(" \t{ 'descr' : '|u1' ,\n 'fortran_order' :False , 'shape' : ( 7 , ) , } \r\n"));
  EXPECT_EQ(h.dtype, DType::u1);
  EXPECT_EQ(h.shape, std::vector<std::uint64_t>{7});
  h = parse(npy_bytes(dict_of("<i1", "(2, 3,)")));  // trailing comma inside the shape
  EXPECT_EQ(h.dtype, DType::i1);
  EXPECT_EQ(h.shape, (std::vector<std::uint64_t>{2, 3}));
  h = parse(npy_bytes(dict_of("=f8", "( )")));
  EXPECT_EQ(h.dtype, DType::f8);
  EXPECT_TRUE(h.shape.empty());
  h = parse(npy_bytes(dict_of("|u1", "(18446744073709551615,)")));
  EXPECT_EQ(h.dtype, DType::u1);
  EXPECT_EQ(h.shape, std::vector<std::uint64_t>{18446744073709551615ull} /* only the header is checked */);
  EXPECT_EQ(parse(npy_bytes(dict_of("f4", "()"))).dtype, DType::f4);  // no order character: native
  // A header without the final newline, as NumPy also accepts.
  h = parse(npy_bytes(dict_of("<i2", "(1,)"), "", 1, 0, false));
  EXPECT_EQ(h.data_offset, 10 + dict_of("<i2", "(1,)").size());
  // Python 2's long suffix, which NumPy still reads in version 1.0 files.
  EXPECT_EQ(parse(npy_bytes(dict_of("<i2", "(3L, 4L)"))).shape, (std::vector<std::uint64_t>{3, 4}));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<i2", "(3L, 4L)"), "", 2), "malformed number"));
  // Versions 2.0 and 3.0 use a 4-byte header length.
  h = parse(npy_bytes(dict_of("<u4", "(9,)"), "", 3));
  EXPECT_EQ(h.major_version, 3);
  EXPECT_EQ(h.data_offset % 64, 0u);
  EXPECT_EQ(h.dtype, DType::u4);
}

// ---------------------------------------------------------------------------
// parse_npy_header: refusals.

TEST(NpyParse, MalformedDicts) {
  const std::string good = dict_of("<f4", "(2,)");
  EXPECT_TRUE(parse_fails(npy_bytes(""), "expected '{'"));
  EXPECT_TRUE(parse_fails(npy_bytes("garbage"), "malformed header: expected '{'"));
  EXPECT_TRUE(parse_fails(npy_bytes("['descr', '<f4']"), "expected '{'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)"), "end of the header"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}"), "expected ':'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}"), "expected ',' or '}'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}"), "malformed header"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4\n', 'fortran_order': False, 'shape': (2,)}"),
                          "unterminated string"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}"),
                          "unexpected character ','"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}"),
                          "unexpected name 'false'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{,}"), "malformed header"));
  EXPECT_TRUE(parse_fails(npy_bytes(good + "}"), "unexpected text after the closing '}'"));
  EXPECT_TRUE(parse_fails(npy_bytes(good + " {}"), "unexpected text after"));
  EXPECT_TRUE(parse_fails(npy_bytes(good + std::string(1, '\0')), "unexpected text after"));
  EXPECT_TRUE(parse_fails(npy_bytes(std::string(1000, '(') + std::string(1000, ')')), "expected '{'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'a': " + std::string(1000, '[') + std::string(1000, ']') + "}"),
                          "nested too deeply"));
  EXPECT_TRUE(parse_fails(npy_bytes("{('descr',): '<f4', 'fortran_order': False, 'shape': (2,)}"),
                          "key ('descr',) is not a string"));
}

TEST(NpyParse, MalformedValues) {
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "[2, 3]")), "'shape' must be a tuple"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(5)")),
                          "'shape' must be a tuple of integers like (2, 3), not (5)"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "5")), "'shape' must be a tuple"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(2, '3')")), "not an integer"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(True,)")), "not an integer"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(2.0,)")), "malformed number"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(0x10,)")), "malformed number"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(1_0,)")), "malformed number"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(07,)")), "leading zero"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(2,)", "'False'")), "'fortran_order' must be True or False"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(2,)", "0")), "'fortran_order' must be True or False"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': 4, 'fortran_order': False, 'shape': (2,)}"),
                          "'descr' must be a dtype string"));
}

TEST(NpyParse, MissingUnknownAndDuplicateKeys) {
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4', 'fortran_order': False}"), "missing key 'shape'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4', 'shape': (2,)}"), "missing key 'fortran_order'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'fortran_order': False, 'shape': (2,)}"), "missing key 'descr'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{}"), "missing key"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'order': 'C'}"),
                          "unknown key 'order'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (3,)}"),
                          "duplicate key 'shape'"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'Shape': (2,)}"),
                          "unknown key 'Shape'"));
}

TEST(NpyParse, ByteOrders) {
  for (const auto& [descr, dtype, big] :
       {std::tuple{">f4", DType::f4, true}, std::tuple{"<f4", DType::f4, false}, std::tuple{"=i8", DType::i8, false},
        std::tuple{">u8", DType::u8, true}, std::tuple{">f2", DType::f2, true}, std::tuple{"|b1", DType::b1, false},
        // One-byte items have no byte order: '>' changes nothing.
        std::tuple{">u1", DType::u1, false}, std::tuple{"<i1", DType::i1, false}}) {
    SCOPED_TRACE(descr);
    const NpyHeader h = parse(npy_bytes(dict_of(descr, "(2,)")));
    EXPECT_EQ(h.dtype, dtype);
    EXPECT_EQ(h.big_endian, big);
  }
  // An unsupported big-endian type is reported as unsupported.
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of(">c16", "(2,)")), "unsupported dtype '>c16'"));
}

TEST(NpyParse, UnsupportedDTypes) {
  for (const char* descr : {"<c8", "<c16", "<f16", "<U3", "|S3", "|O", "|V8", "<M8[ns]", "<m8[s]", "float32",
                            "<f", "", "<", "<f4 ", "<F4", "<i16", "|b2"}) {
    SCOPED_TRACE(descr);
    EXPECT_TRUE(parse_fails(npy_bytes(dict_of(descr, "(2,)")),
                            "unsupported dtype '" + std::string(descr) +
                                "' (supported: b1, i1, u1, i2, u2, i4, u4, i8, u8, f2, f4, f8"));
  }
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': [('a', '<f4'), ('b', '<i2')], 'fortran_order': False, 'shape': (2,)}"),
                          "unsupported dtype [('a', '<f4'), ('b', '<i2')]: structured dtypes are not supported"));
  EXPECT_TRUE(parse_fails(npy_bytes("{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (2,)}"),
                          "subarray dtypes are not supported"));
}

TEST(NpyParse, FortranOrder) {
  EXPECT_TRUE(parse(npy_bytes(dict_of("<f4", "(2, 3)", "True"))).fortran_order);
  EXPECT_FALSE(parse(npy_bytes(dict_of("<f4", "(2, 3)", "False"))).fortran_order);
}

TEST(NpyParse, NegativeAndOverflowingShapes) {
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(2, -1)")), "shape (2, -1) has a negative dimension"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(- 3,)")), "negative dimension"));
  EXPECT_EQ(parse(npy_bytes(dict_of("<f4", "(-0, +2)"))).shape, (std::vector<std::uint64_t>{0, 2}));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(99999999999999999999,)")), "does not fit in 64 bits"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(18446744073709551616,)")), "does not fit in 64 bits"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<f4", "(4611686018427387904,)")), "is more than 2^64 bytes"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<u1", "(4294967296, 4294967296)")), "more than 2^64 bytes"));
  EXPECT_TRUE(parse_fails(npy_bytes(dict_of("<u1", "(0, 4294967296, 4294967296)")), "more than 2^64 bytes"));
}

// parse_npy_header may only look at `size` bytes: every prefix of a valid
// header is refused (vector storage is exact, so ASan catches an over-read).
TEST(NpyParse, EveryTruncationIsAnError) {
  for (int major : {1, 2, 3}) {
    const std::string full = npy_bytes(dict_of("<f4", "(2, 3)"), "", major);
    for (std::size_t size = 0; size < full.size(); ++size) {
      const std::vector<char> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
      EXPECT_THROW(parse_npy_header(prefix.data(), size, "cut"), Error) << major << " " << size;
    }
  }
}

// Random byte mutations of a valid header, half of them with the length field
// rewritten to cover the mutated dict: each either parses or throws
// laconic::Error; anything else (a crash, another exception) fails.
TEST(NpyParse, MutatedHeadersNeverCrash) {
  const std::string seed_dict = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }";
  static const char kAlphabet[] = "{}()[],:'\" -+0123456789LTrueFalsNoi<>|=fu\n\\\x93\x00\xff";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);
  std::mt19937 rng(12345);
  int parsed = 0, refused = 0;
  for (int round = 0; round < 20000; ++round) {
    const bool rewrap = round % 2 == 0;
    std::string bytes = rewrap ? seed_dict : npy_bytes(seed_dict);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const std::size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0: bytes[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: bytes.erase(at, 1); break;
        default: bytes.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    if (rewrap) bytes = npy_bytes(bytes, "", 1 + round % 3, 0, round % 4 == 0);
    const std::vector<char> exact(bytes.begin(), bytes.end());
    try {
      parse_npy_header(exact.data(), exact.size(), "fuzz");
      ++parsed;
    } catch (const Error& e) {
      ASSERT_EQ(std::string(e.what()).rfind("fuzz: ", 0), 0u) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_EQ(parsed + refused, 20000);
}

}  // namespace
}  // namespace laconic
