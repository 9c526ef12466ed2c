// One error check for every CUDA runtime call and kernel launch: a failure
// becomes a laconic::Error naming the call, the runtime's words and the place.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "laconic/error.hpp"

namespace laconic {

inline void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so that later calls do not report it again
  throw Error(std::string("CUDA error ") + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ") in " +
              call + " at " + file + ":" + std::to_string(line));
}

}  // namespace laconic

// Wraps a runtime call: LACONIC_CUDA_CALL(cudaMalloc(&p, n));
#define LACONIC_CUDA_CALL(call) ::laconic::cuda_check((call), #call, __FILE__, __LINE__)
// After a launch: reports a bad configuration at once (asynchronous faults
// surface at the next synchronizing call, which is checked too).
#define LACONIC_CUDA_LAUNCHED(kernel) ::laconic::cuda_check(cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)
