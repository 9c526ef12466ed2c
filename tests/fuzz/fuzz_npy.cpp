// libFuzzer target for the .npy reader: parse_npy_header on the bytes,
// NpyArray::open on them as a file, and every quantization of the values.
// The checks are in harness.hpp; build with -DLACONIC_FUZZ=ON (scripts/fuzz.sh).
#include <omp.h>

#include <cstddef>
#include <cstdint>

#include "harness.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  omp_set_num_threads(1);  // one input at a time; the replay test runs the threaded paths
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  laconic::fuzz::check_npy(data, size);
  return 0;
}
