#include "laconic/device.hpp"

namespace laconic {

std::string DeviceProbe::describe() const {
  auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); };
  switch (status) {
    case Status::not_built: return "CUDA: not built (" + message + ")";
    case Status::no_driver:
      return "CUDA: no usable driver (runtime " + version(runtime_version) + ", driver " +
             (driver_version == 0 ? std::string("not installed") : version(driver_version)) + ": " +
             message + ")";
    case Status::no_device: return "CUDA: no device (" + message + ")";
    case Status::available:
      return "CUDA: " + std::to_string(device_count) + " device(s), device " + std::to_string(device) + " " +
             device_name + " (sm_" + std::to_string(compute_capability) + "), driver " + version(driver_version) +
             ", runtime " + version(runtime_version) + ", kernels for " + built_for;
    case Status::unsupported:
      return "CUDA: " + std::to_string(device_count) + " device(s), device " + std::to_string(device) + " " +
             device_name + " (sm_" + std::to_string(compute_capability) +
             ") cannot run this build's kernels: the build holds code for " + built_for + " (" + message +
             "); rebuild with -DCMAKE_CUDA_ARCHITECTURES=" + std::to_string(compute_capability);
    case Status::error: return "CUDA: error while probing (" + message + ")";
  }
  return "CUDA: unknown";
}

}  // namespace laconic
