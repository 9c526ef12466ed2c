// One test per problem the fuzzers (tests/fuzz) or their review found, with
// the exact behaviour now expected. The inputs themselves are kept in
// tests/fuzz/regressions/<target>/ and replayed by test_fuzz_replay.cpp.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "laconic/network.hpp"
#include "laconic/npy.hpp"
#include "laconic/quantize.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::throws_error;

void npy(const std::string& path, DType dtype, const std::vector<std::uint64_t>& shape,
         const std::vector<double>& values) {
  const std::vector<unsigned char> bytes = test::encode(dtype, values);
  write_npy(path, dtype, shape, bytes.data());
}

std::vector<std::int64_t> read_linear(const std::string& path, int bits) {
  std::vector<NpyArray> files;
  files.push_back(NpyArray::open(path));
  Quantization q;
  q.mode = QuantizeMode::linear;
  q.precision = Precision{bits, true};
  const NpyTensorSource source(std::move(files), q, "t");
  std::vector<std::int64_t> values(source.size());
  source.read(0, values.size(), values.data());
  return values;
}

// fuzz_npy, fuzz_manifest (regressions/*/linear_f8_denormal_span_nan_cast.*):
// an f8 tensor whose range is a denormal overflowed the linear scale to
// infinity; 0 · inf = NaN was then converted to an integer (undefined; on
// x86 the value -2^63, a magnitude of 64 bits counted as terms).
TEST(FuzzRegression, LinearQuantizationOfADenormalRange) {
  TempDir dir;
  const double tiny = 4.9406564584124654e-324;  // the smallest denormal
  npy(dir.file("u.npy"), DType::f8, {4}, {0.0, tiny, 0.0, tiny});
  EXPECT_EQ(read_linear(dir.file("u.npy"), 8), (std::vector<std::int64_t>{0, 255, 0, 255}));
  npy(dir.file("s.npy"), DType::f8, {4}, {-tiny, tiny, 0.0, -0.0});
  EXPECT_EQ(read_linear(dir.file("s.npy"), 8), (std::vector<std::int64_t>{-127, 127, 0, 0}));
  EXPECT_EQ(read_linear(dir.file("s.npy"), 32), (std::vector<std::int64_t>{-2147483647, 2147483647, 0, 0}));
  // Ranges of 1e-310 (scale 1.5e311: infinite) and 1e-300 (finite) map alike.
  npy(dir.file("d.npy"), DType::f8, {3}, {0.0, 0.5e-310, 1e-310});
  EXPECT_EQ(read_linear(dir.file("d.npy"), 4), (std::vector<std::int64_t>{0, 8, 15}));
  npy(dir.file("n.npy"), DType::f8, {3}, {0.0, 0.5e-300, 1e-300});
  EXPECT_EQ(read_linear(dir.file("n.npy"), 4), (std::vector<std::int64_t>{0, 8, 15}));
}

// fuzz_dnnsim (regressions/dnnsim/padding_overflows_padded_height.csv): a
// padding of 2^62 overflowed H + top + bottom (signed overflow, undefined)
// in the shape check itself.
TEST(FuzzRegression, DnnsimPaddingThatOverflowsIsAnError) {
  TempDir dir;
  fs::create_directories(dir.path() / "models" / "net");
  fs::create_directories(dir.path() / "net_traces" / "net");
  npy(dir.file("net_traces/net/wgt-conv.npy"), DType::f4, {2, 3, 3, 3}, std::vector<double>(54, 1.0));
  npy(dir.file("net_traces/net/act-conv-0.npy"), DType::f4, {1, 3, 5, 5}, std::vector<double>(75, 2.0));
  test::write_bytes(dir.file("models/net/model.csv"), "conv,conv,9223372036854775807,4611686018427387904\n");
  EXPECT_TRUE(throws_error([&] { load_dnnsim(dir.file("models/net")); },
                           {"model.csv:1", "layer 'conv'", "must be at most 2^31 - 1, not 9223372036854775807"}));
  test::write_bytes(dir.file("models/net/model.csv"), "conv,conv,1,4611686018427387904\n");
  EXPECT_TRUE(throws_error([&] { load_dnnsim(dir.file("models/net")); },
                           {"model.csv:1", "layer 'conv'",
                            "the padding must be at most 2^31 - 1, not 4611686018427387904"}));
  test::write_bytes(dir.file("models/net/model.csv"), "conv,conv,9223372036854775807,1\n");
  EXPECT_TRUE(throws_error([&] { load_dnnsim(dir.file("models/net")); },
                           {"model.csv:1", "the stride must be at most 2^31 - 1"}));
  test::write_bytes(dir.file("models/net/model.csv"), "conv,conv,2147483647,1000000\n");
  EXPECT_EQ(load_dnnsim(dir.file("models/net")).layers.at(0).shape.out_height(), 1);  // the largest stride: fine
}

// Review of the same code: "groups" times the weights' channels overflowed
// before the shape check; int_bits of 2^32 + 4 was narrowed to 4.
TEST(FuzzRegression, ManifestGroupsAndWidthsThatOverflow) {
  TempDir dir;
  npy(dir.file("a.npy"), DType::i2, {1, 4, 5, 5}, std::vector<double>(100, 1.0));
  npy(dir.file("w.npy"), DType::i2, {4, 4, 3, 3}, std::vector<double>(144, 1.0));
  npy(dir.file("f.npy"), DType::f4, {1, 4, 5, 5}, std::vector<double>(100, 0.5));
  test::write_bytes(dir.file("m.json"), R"({"network": "n", "layers": [{"name": "c", "type": "conv",
      "groups": 4611686018427387904, "activations": {"file": "a.npy"}, "weights": {"file": "w.npy"}}]})");
  EXPECT_TRUE(throws_error([&] { load_manifest(dir.file("m.json")); },
                           {"layer 'c'", "groups 4611686018427387904 does not divide the 4 input channels"}));
  test::write_bytes(dir.file("m.json"), R"({"network": "n", "layers": [{"name": "c", "type": "conv",
      "activations": {"file": "f.npy", "quantize": "fixed", "int_bits": 4294967300, "frac_bits": 8},
      "weights": {"file": "w.npy"}}]})");
  EXPECT_TRUE(throws_error([&] { load_manifest(dir.file("m.json")); },
                           {"layer 'c'", "int_bits must be between 0 and 32, not 4294967300"}));
}

// fuzz_manifest (regressions/manifest/number_out_of_range_internal_error.json):
// a number too large for a double ("padding": 11e308) made the JSON parser
// throw out_of_range, which only parse errors were caught for: "laconic:
// internal error" instead of a message naming the manifest.
TEST(FuzzRegression, ManifestNumberTooLargeForJson) {
  TempDir dir;
  test::write_bytes(dir.file("m.json"), R"({"network": "n", "layers": [{"name": "c", "padding": 11e308}]})");
  EXPECT_TRUE(throws_error([&] { load_manifest(dir.file("m.json")); },
                           {dir.file("m.json"), "not valid JSON", "number overflow", "11e308"}));
  // Integers above 2^63 - 1 are said to be too large, not wrapped to negative.
  npy(dir.file("a.npy"), DType::i2, {1, 4, 5, 5}, std::vector<double>(100, 1.0));
  npy(dir.file("w.npy"), DType::i2, {4, 4, 3, 3}, std::vector<double>(144, 1.0));
  test::write_bytes(dir.file("m.json"), R"({"network": "n", "layers": [{"name": "c", "type": "conv",
      "stride": 18446744073709551615, "activations": {"file": "a.npy"}, "weights": {"file": "w.npy"}}]})");
  EXPECT_TRUE(throws_error([&] { load_manifest(dir.file("m.json")); },
                           {"layer 'c'", "stride is too large: 18446744073709551615"}));
}

}  // namespace
}  // namespace laconic
