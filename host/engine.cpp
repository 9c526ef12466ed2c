#include "laconic/engine.hpp"

#include "laconic/device.hpp"
#include "laconic/error.hpp"

namespace laconic {

std::uint64_t LayerInput::samples() const {
  const auto per_sample = static_cast<std::uint64_t>(shape.activations_per_sample());
  return per_sample == 0 || activations == nullptr ? 0 : activations->size() / per_sample;
}

void validate_input(const LayerInput& layer, SampleRange range) {
  const std::string& name = layer.name;
  const LayerShape& shape = layer.shape;
  const TensorSource* activations = layer.activations;
  const TensorSource* weights = layer.weights;
  shape.validate(name);
  if (activations == nullptr || weights == nullptr)
    throw Error("layer '" + name + "': activations or weights are missing");
  const auto per_sample = static_cast<std::uint64_t>(shape.activations_per_sample());
  if (activations->size() % per_sample != 0)
    throw Error("layer '" + name + "': " + activations->name() + " holds " +
                std::to_string(activations->size()) + " values, not a whole number of samples of " +
                std::to_string(per_sample));
  if (weights->size() != static_cast<std::uint64_t>(shape.weight_count()))
    throw Error("layer '" + name + "': " + weights->name() + " holds " +
                std::to_string(weights->size()) + " values, the layer needs " +
                std::to_string(shape.weight_count()));
  for (const Precision& p : {layer.activation_precision, layer.weight_precision})
    if (p.bits < 1 || p.bits > 32)
      throw Error("layer '" + name + "': precision of " + std::to_string(p.bits) +
                  " bits is outside 1..32");
  if (range.begin > range.end || range.end > layer.samples())
    throw Error("layer '" + name + "': samples " + std::to_string(range.begin) + ".." +
                std::to_string(range.end) + " requested, the trace has " +
                std::to_string(layer.samples()));
}

std::shared_ptr<const PreparedWeights> Engine::prepare(const LayerInput&, const ProfileConfig&) const {
  return nullptr;
}

LayerResult Engine::profile_prepared(const LayerInput& layer, SampleRange range, const ProfileConfig& config,
                                     const PreparedWeights*) const {
  return profile(layer, range, config);
}

std::string_view to_string(EngineKind kind) {
  switch (kind) {
    case EngineKind::automatic: return "auto";
    case EngineKind::cuda: return "cuda";
    case EngineKind::cpu: return "cpu";
    case EngineKind::reference: return "reference";
  }
  return "?";
}

std::optional<EngineKind> parse_engine_kind(std::string_view name) {
  if (name == "auto") return EngineKind::automatic;
  if (name == "cuda") return EngineKind::cuda;
  if (name == "cpu") return EngineKind::cpu;
  if (name == "reference") return EngineKind::reference;
  return std::nullopt;
}

std::unique_ptr<Engine> make_engine(EngineKind kind, std::string* note, const EngineOptions& options) {
  switch (kind) {
    case EngineKind::reference: return make_reference_engine();
    case EngineKind::cpu: return make_cpu_engine();
    case EngineKind::cuda: {
      const DeviceProbe probe = probe_devices(options.device);
      if (!probe.usable()) throw Error("--engine cuda: no usable CUDA device: " + probe.describe());
      return make_cuda_engine(options);
    }
    case EngineKind::automatic: {
      const DeviceProbe probe = probe_devices(options.device);
      if (probe.usable()) {
        try {
          return make_cuda_engine(options);
        } catch (const Error& e) {
          // A device that answers the probe but cannot host the engine
          // (out of memory, a busy exclusive-mode GPU): say so, use the cpu.
          if (note != nullptr) *note = std::string("the cuda engine could not start (") + e.what() +
                                       "); using the cpu engine";
          return make_cpu_engine();
        }
      }
      if (note != nullptr) *note = "no usable CUDA device (" + probe.describe() + "); using the cpu engine";
      return make_cpu_engine();
    }
  }
  throw Error("unknown engine");
}

}  // namespace laconic
