// The device probe of a build without CUDA: it says so, and nothing else.
#include "laconic/device.hpp"

namespace laconic {

DeviceProbe probe_devices() {
  DeviceProbe probe;
  probe.status = DeviceProbe::Status::not_built;
  probe.message = "this build of laconic has no CUDA support (configure with a CUDA compiler)";
  return probe;
}

}  // namespace laconic
