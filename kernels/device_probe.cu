// Device probe: tells "no driver", "no device" and real errors apart so that
// `--engine auto` can fall back to the CPU and `--engine cuda` can say why it
// cannot run. Where no driver is installed cudaGetDeviceCount returns
// cudaErrorInsufficientDriver (35); without a device cudaErrorNoDevice (100).
#include <cuda_runtime.h>

#include <string>

#include "laconic/device.hpp"

namespace laconic {

DeviceProbe probe_devices() {
  DeviceProbe probe;
  cudaDriverGetVersion(&probe.driver_version);  // 0 where no driver is installed
  cudaRuntimeGetVersion(&probe.runtime_version);
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  cudaGetLastError();  // leave no sticky error for later calls
  probe.message = cudaGetErrorString(status);
  if (status == cudaErrorInsufficientDriver) {
    probe.status = DeviceProbe::Status::no_driver;
    return probe;
  }
  if (status == cudaErrorNoDevice || (status == cudaSuccess && count == 0)) {
    probe.status = DeviceProbe::Status::no_device;
    return probe;
  }
  if (status != cudaSuccess) {
    probe.status = DeviceProbe::Status::error;
    probe.message = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    return probe;
  }
  probe.device_count = count;
  cudaDeviceProp prop{};
  const cudaError_t prop_status = cudaGetDeviceProperties(&prop, 0);
  cudaGetLastError();
  if (prop_status != cudaSuccess) {
    probe.status = DeviceProbe::Status::error;
    probe.message = std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(prop_status);
    return probe;
  }
  probe.status = DeviceProbe::Status::available;
  probe.device_name = prop.name;
  probe.compute_capability = prop.major * 10 + prop.minor;
  return probe;
}

}  // namespace laconic
