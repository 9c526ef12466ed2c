// The device side of a build without CUDA: the probe says so, and asking for
// the CUDA engine or a device measurement is an error that says so.
#include "laconic/device.hpp"
#include "laconic/engine.hpp"
#include "laconic/error.hpp"

namespace laconic {

DeviceProbe probe_devices(int device) {
  DeviceProbe probe;
  probe.status = DeviceProbe::Status::not_built;
  probe.device = device;
  probe.message = "this build of laconic has no CUDA support (configure with a CUDA compiler)";
  return probe;
}

std::unique_ptr<Engine> make_cuda_engine(const EngineOptions&) {
  throw Error("--engine cuda: " + probe_devices().message);
}

DeviceBandwidth measure_device_bandwidth(std::uint64_t, int, int, int) {
  throw Error("device bandwidth: " + probe_devices().message);
}

}  // namespace laconic
