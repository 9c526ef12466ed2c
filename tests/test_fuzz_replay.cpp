// Replays every fuzz seed (tests/fuzz/corpus/<target>/) and every input a
// fuzzer found a problem with (tests/fuzz/regressions/<target>/) through the
// fuzz targets' own checks (tests/fuzz/harness.hpp). In the sanitized build
// (scripts/sanitize.sh) ASan and UBSan watch these runs too, so a finding
// fixed once stays fixed without running the fuzzer.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/harness.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = fs::path(test::source_dir()) / "tests" / "fuzz";

std::vector<fs::path> inputs_of(const std::string& target, const std::string& kind) {
  std::vector<fs::path> files;
  const fs::path dir = kFuzzDir / kind / target;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename().string().front() != '.') files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void replay(const std::string& target, const std::function<void(const std::uint8_t*, std::size_t)>& check) {
  const auto seeds = inputs_of(target, "corpus");
  EXPECT_GE(seeds.size(), 5u) << "the seed corpus of " << target << " is (nearly) empty";
  auto inputs = seeds;
  const auto regressions = inputs_of(target, "regressions");
  inputs.insert(inputs.end(), regressions.begin(), regressions.end());
  for (const fs::path& path : inputs) {
    const std::string bytes = bytes_of(path);
    try {
      check(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << path.string() << ": " << e.what();
    }
  }
}

TEST(FuzzReplay, Npy) { replay("npy", fuzz::check_npy); }
TEST(FuzzReplay, Npz) { replay("npz", fuzz::check_npz); }
TEST(FuzzReplay, Manifest) { replay("manifest", fuzz::check_manifest); }
TEST(FuzzReplay, Dnnsim) { replay("dnnsim", fuzz::check_dnnsim); }

}  // namespace
}  // namespace laconic
