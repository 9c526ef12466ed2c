// Whether a usable CUDA device is present (no CUDA types here: host code
// builds with the C++ compiler alone).
#pragma once

#include <cstdint>
#include <string>

namespace laconic {

struct DeviceProbe {
  enum class Status {
    not_built,  // this build has no CUDA code
    no_driver,  // no driver, or one older than the runtime (cudaErrorInsufficientDriver)
    no_device,  // a driver but no device (cudaErrorNoDevice, or a count of 0)
    available,  // the probed device answers and can run this build's kernels
    unsupported,  // the probed device answers but this build holds no code it can run
    error,      // anything else the runtime reported
  };
  Status status = Status::not_built;
  int device_count = 0;
  int device = 0;           // the device probed (its index)
  int driver_version = 0;   // as cudaDriverGetVersion reports it, e.g. 13000
  int runtime_version = 0;  // as cudaRuntimeGetVersion reports it
  std::string device_name;  // the probed device's name (available, unsupported)
  int compute_capability = 0;  // e.g. 90 for sm_90
  std::string built_for;    // the architectures this build holds code for, e.g. "80,86,89,90,90-virtual"
  std::string message;      // the runtime's own words for the status

  bool usable() const { return status == Status::available; }
  std::string describe() const;  // one line for humans
};

// Copy and term-counting bandwidths of one device, measured on
// device-resident buffers in one call (laconic_bench's device rows).
struct DeviceBandwidth {
  std::string device;
  double d2d_bytes_per_s = 0;         // cudaMemcpy device to device: bytes read + written per second
  double h2d_pinned_bytes_per_s = 0;  // cudaMemcpy from pinned host memory
  double terms_bytes_per_s = 0;       // the terms kernel: magnitudes read + terms written per second
  double terms_values_per_s = 0;
};

// Measures over `values` values of `magnitude_bytes` bytes each (the best of
// `repeat` runs) on device `device`. Throws laconic::Error without a usable
// device.
DeviceBandwidth measure_device_bandwidth(std::uint64_t values, int magnitude_bytes, int repeat, int device = 0);

// Asks the CUDA runtime about device `device` (its index): whether a driver
// and the device answer, and whether the device can run this build's
// kernels (the runtime's attributes of a kernel built like the engine's:
// a card whose architecture the build holds neither machine code nor PTX
// for is `unsupported`, with the reason in describe()). Safe to call when
// no driver is installed. Leaves no sticky CUDA error behind.
DeviceProbe probe_devices(int device = 0);

}  // namespace laconic
