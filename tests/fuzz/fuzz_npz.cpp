// libFuzzer target for the .npz reader: the zip central directory, each
// member opened (CRC-32, sizes, inflate with access points) and read as a
// .npy array, and every quantization of its values.
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
  laconic::fuzz::check_npz(data, size);
  return 0;
}
