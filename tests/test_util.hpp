// Helpers shared by the tests: temporary directories and raw file writes.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "laconic/error.hpp"

namespace laconic::test {

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

}  // namespace laconic::test
