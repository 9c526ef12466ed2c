// Prints arrays as laconic's reader sees them, for tests/python/test_npy_roundtrip.py:
//
//   laconic_read_array ADDRESS...
//
// ADDRESS is what a manifest names: file.npy, file.npz (one array) or
// file.npz:name. For each, a line "# ADDRESS DTYPE DIM..." and then one line
// per element in C order (NpyArray::read): integers in decimal, bool as 0 or
// 1, floats as C's %a of the value widened to double (exact; float16 through
// half_to_float). An error prints "error: MESSAGE" and exits 1.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "laconic/npz.hpp"

namespace {

template <typename T>
T item(const std::vector<unsigned char>& bytes, std::size_t i) {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

void print(const laconic::NpyArray& a, const std::string& address) {
  std::printf("# %s %s", address.c_str(), std::string(laconic::to_string(a.dtype())).c_str());
  for (std::uint64_t d : a.shape()) std::printf(" %" PRIu64, d);
  std::printf("\n");
  std::vector<unsigned char> bytes(static_cast<std::size_t>(a.header().data_bytes()));
  if (!bytes.empty()) a.read(0, a.size(), bytes.data());
  for (std::size_t i = 0; i < a.size(); ++i) {
    switch (a.dtype()) {
      case laconic::DType::b1: std::printf("%d\n", bytes[i] != 0 ? 1 : 0); break;
      case laconic::DType::i1: std::printf("%d\n", item<std::int8_t>(bytes, i)); break;
      case laconic::DType::u1: std::printf("%u\n", item<std::uint8_t>(bytes, i)); break;
      case laconic::DType::i2: std::printf("%d\n", item<std::int16_t>(bytes, i)); break;
      case laconic::DType::u2: std::printf("%u\n", item<std::uint16_t>(bytes, i)); break;
      case laconic::DType::i4: std::printf("%" PRId32 "\n", item<std::int32_t>(bytes, i)); break;
      case laconic::DType::u4: std::printf("%" PRIu32 "\n", item<std::uint32_t>(bytes, i)); break;
      case laconic::DType::i8: std::printf("%" PRId64 "\n", item<std::int64_t>(bytes, i)); break;
      case laconic::DType::u8: std::printf("%" PRIu64 "\n", item<std::uint64_t>(bytes, i)); break;
      case laconic::DType::f2:
        std::printf("%a\n", static_cast<double>(laconic::half_to_float(item<std::uint16_t>(bytes, i))));
        break;
      case laconic::DType::f4: std::printf("%a\n", static_cast<double>(item<float>(bytes, i))); break;
      case laconic::DType::f8: std::printf("%a\n", item<double>(bytes, i)); break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    for (int i = 1; i < argc; ++i) print(laconic::open_array(argv[i]), argv[i]);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::printf("error: %s\n", e.what());
    return 1;
  }
  return 0;
}
