// One macro for functions shared by host and device code, so the arithmetic
// that every engine must agree on is written once (see terms.hpp).
#pragma once

#if defined(__CUDACC__)
#define LACONIC_HOST_DEVICE __host__ __device__
#else
#define LACONIC_HOST_DEVICE
#endif
