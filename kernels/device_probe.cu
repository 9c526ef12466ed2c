// Device probe: tells "no driver", "no device", "a device this build cannot
// run on" and real errors apart so that `--engine auto` can fall back to the
// CPU and `--engine cuda` and `laconic info` can say why it cannot run.
// Where no driver is installed cudaGetDeviceCount returns
// cudaErrorInsufficientDriver (35); without a device cudaErrorNoDevice (100).
// Whether the device can run this build's code is the runtime's answer for a
// kernel compiled like the engine's (same target, same architectures): with
// neither machine code for the device's architecture nor PTX it can compile,
// cudaFuncGetAttributes fails (cudaErrorNoKernelImageForDevice), and so would
// the engine's first launch.
#include <cuda_runtime.h>

#include <string>

#include "laconic/device.hpp"

namespace laconic {
namespace {

__global__ void probe_kernel(int* out) {
  if (out != nullptr) *out = 1;
}

}  // namespace

DeviceProbe probe_devices(int device) {
  DeviceProbe probe;
  probe.device = device;
  probe.built_for = LACONIC_CUDA_ARCHITECTURES;
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
  if (device < 0 || device >= count) {
    probe.status = DeviceProbe::Status::error;
    probe.message = "device " + std::to_string(device) + " requested, " + std::to_string(count) + " present";
    return probe;
  }
  cudaDeviceProp prop{};
  const cudaError_t prop_status = cudaGetDeviceProperties(&prop, device);
  cudaGetLastError();
  if (prop_status != cudaSuccess) {
    probe.status = DeviceProbe::Status::error;
    probe.message = std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(prop_status);
    return probe;
  }
  probe.device_name = prop.name;
  probe.compute_capability = prop.major * 10 + prop.minor;
  int current = 0;
  cudaGetDevice(&current);
  cudaError_t image_status = cudaSetDevice(device);
  cudaFuncAttributes attributes{};
  if (image_status == cudaSuccess) image_status = cudaFuncGetAttributes(&attributes, probe_kernel);
  cudaGetLastError();
  cudaSetDevice(current);
  cudaGetLastError();
  if (image_status == cudaErrorNoKernelImageForDevice || image_status == cudaErrorInvalidDeviceFunction ||
      image_status == cudaErrorUnsupportedPtxVersion) {
    probe.status = DeviceProbe::Status::unsupported;
    probe.message = std::string(cudaGetErrorName(image_status)) + ": " + cudaGetErrorString(image_status);
    return probe;
  }
  if (image_status != cudaSuccess) {
    probe.status = DeviceProbe::Status::error;
    probe.message = std::string("cudaFuncGetAttributes: ") + cudaGetErrorName(image_status) + ": " +
                    cudaGetErrorString(image_status);
    return probe;
  }
  probe.status = DeviceProbe::Status::available;
  return probe;
}

}  // namespace laconic
