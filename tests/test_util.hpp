// Helpers shared by the tests: temporary directories and raw file writes.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "laconic/error.hpp"
#include "laconic/npy.hpp"

namespace laconic::test {

// Where the tests find the source tree and the built CLI: the paths this
// build was configured with, unless LACONIC_SOURCE_DIR or LACONIC_BINARY say
// otherwise (a build carried to another machine, scripts/gpu_check.sh).
inline std::string source_dir() {
  const char* env = std::getenv("LACONIC_SOURCE_DIR");
  return env != nullptr && *env != '\0' ? env : LACONIC_SOURCE_DIR;
}
inline std::string test_data_dir() {
  const char* env = std::getenv("LACONIC_SOURCE_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) + "/tests/data" : LACONIC_TEST_DATA_DIR;
}
inline std::string binary_path() {
  const char* env = std::getenv("LACONIC_BINARY");
  return env != nullptr && *env != '\0' ? env : LACONIC_BINARY;
}

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto candidate = base / ("laconic-test-" + std::to_string(rd()) + std::to_string(rd()));
      if (std::filesystem::create_directory(candidate)) {
        path_ = candidate;
        return;
      }
    }
    throw std::runtime_error("cannot create a temporary directory");
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}


// Passes when `action` throws laconic::Error whose message contains every one
// of `phrases` (the file path is normally one of them); the message is printed
// either way.
inline testing::AssertionResult throws_error(const std::function<void()>& action,
                                             const std::vector<std::string>& phrases) {
  try {
    action();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& phrase : phrases)
      if (message.find(phrase) == std::string::npos)
        return testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << phrase << "\"";
    return testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw a non-laconic exception: " << e.what();
  }
  return testing::AssertionFailure() << "did not throw";
}


// `values` converted to `dtype`, as the little-endian bytes of a .npy file.
template <typename T>
std::vector<unsigned char> encode_as(const std::vector<double>& values) {
  std::vector<unsigned char> bytes(values.size() * sizeof(T));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const T v = static_cast<T>(values[i]);
    std::memcpy(bytes.data() + i * sizeof(T), &v, sizeof(T));
  }
  return bytes;
}

// The binary16 bits of `v`, which must be exact in float16 (tests write
// values such as 1.5, -0.25 or 2^-24).
inline std::uint16_t half_bits(double v) {
  const std::uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  const double a = std::fabs(v);
  if (std::isnan(v)) return 0x7e00;
  if (std::isinf(a)) return static_cast<std::uint16_t>(sign | 0x7c00);
  if (a < std::ldexp(1.0, -14))  // zero or subnormal: a = m · 2^−24
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::ldexp(a, 24)));
  int e = 0;
  const double m = std::frexp(a, &e);  // a = m · 2^e, m in [0.5, 1)
  const auto mantissa = static_cast<std::uint16_t>(std::ldexp(m, 11) - 1024);
  return static_cast<std::uint16_t>(sign | ((e + 14) << 10) | mantissa);
}

inline std::vector<unsigned char> encode(DType dtype, const std::vector<double>& values) {
  switch (dtype) {
    case DType::b1: {
      std::vector<unsigned char> bytes;
      for (double v : values) bytes.push_back(v != 0 ? 1 : 0);
      return bytes;
    }
    case DType::f2: {
      std::vector<double> bits;
      for (double v : values) bits.push_back(half_bits(v));
      return encode_as<std::uint16_t>(bits);
    }
    case DType::i8: return encode_as<std::int64_t>(values);
    case DType::u8: return encode_as<std::uint64_t>(values);
    case DType::i1: return encode_as<std::int8_t>(values);
    case DType::u1: return encode_as<std::uint8_t>(values);
    case DType::i2: return encode_as<std::int16_t>(values);
    case DType::u2: return encode_as<std::uint16_t>(values);
    case DType::i4: return encode_as<std::int32_t>(values);
    case DType::u4: return encode_as<std::uint32_t>(values);
    case DType::f4: return encode_as<float>(values);
    case DType::f8: return encode_as<double>(values);
  }
  return {};
}

}  // namespace laconic::test
