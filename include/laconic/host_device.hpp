// One macro for functions shared by host and device code, so the arithmetic
// that every engine must agree on is written once (see terms.hpp).
#pragma once

#if defined(__CUDACC__)
#define LACONIC_HOST_DEVICE __host__ __device__
// Before a host-and-device function template that calls what it is given (a
// cost function, a warp): its instantiations take the execution space of
// their arguments, so nvcc does not check host lambdas (implicitly constexpr
// host functions, warnings #20013-D and #20015-D) or host-only members
// against its device side. g++ never sees the pragma.
#define LACONIC_HOST_DEVICE_TEMPLATE _Pragma("nv_exec_check_disable")
#else
#define LACONIC_HOST_DEVICE
#define LACONIC_HOST_DEVICE_TEMPLATE
#endif
