// The engines behind one interface. Every engine computes the same exact
// integers (MODEL.md §6); `reference` is the oracle the others are checked
// against.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "laconic/config.hpp"
#include "laconic/layer.hpp"
#include "laconic/results.hpp"
#include "laconic/tensor.hpp"

namespace laconic {

// One layer as an engine sees it: its shape, the widths its tensors are
// stored in (§2), and its quantized values.
struct LayerInput {
  std::string name;
  LayerShape shape;
  Precision activation_precision;  // p_a
  Precision weight_precision;      // p_w
  const TensorSource* activations = nullptr;  // samples × C·H·W values
  const TensorSource* weights = nullptr;      // K × C/g × R × S values

  std::uint64_t samples() const;
};

// Samples [begin, end) of a layer's activation trace.
struct SampleRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t size() const { return end - begin; }
};

// Throws laconic::Error when the layer's shape is not a layer, its tensors'
// sizes do not fit the shape, a precision is outside 1..32 bits, or `range`
// is not within the layer's samples. Every engine calls it first.
void validate_input(const LayerInput& layer, SampleRange range);

// What an engine derives from a layer's weights, shape, precisions and
// configuration alone, before any sample: the weights' terms and histogram,
// their §4 sums and §5 maxima. Engine::prepare makes it once for a layer whose
// samples come in many ranges (live profiling feeds a layer batch by batch).
class PreparedWeights {
 public:
  virtual ~PreparedWeights() = default;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string_view name() const = 0;
  // Profiles samples `range` of `layer`: MACs, work and cycles per sample,
  // terms statistics of the activations profiled and of all the weights.
  // Results of disjoint ranges merge (LayerResult::merge) into the result of
  // their union.
  virtual LayerResult profile(const LayerInput& layer, SampleRange range,
                              const ProfileConfig& config) const = 0;

  // The layer's sample-independent part, for profile_prepared; `layer`'s
  // activations are not read. nullptr when the engine keeps nothing between
  // calls (the default). Throws laconic::Error as profile() does for a bad
  // layer or configuration.
  virtual std::shared_ptr<const PreparedWeights> prepare(const LayerInput& layer, const ProfileConfig& config) const;
  // profile(), reusing `prepared`: what this engine's prepare() returned for
  // the same weights, shape, precisions and configuration (the caller keeps
  // them the same), or nullptr. The default ignores it and calls profile().
  virtual LayerResult profile_prepared(const LayerInput& layer, SampleRange range, const ProfileConfig& config,
                                       const PreparedWeights* prepared) const;
};

enum class EngineKind : std::uint8_t { automatic, cuda, cpu, reference };

struct EngineOptions {
  // cuda: device memory the engine may use, in bytes; 0 = three quarters of
  // the memory free when the engine starts. A layer whose weights and one
  // sample per stream do not fit is an error that says so.
  std::uint64_t device_memory = 0;
  // cuda: the ordinal of the device to run on; each process may pick its
  // own (under MPI, the rank's node-local rank modulo the node's devices).
  int device = 0;
};

std::string_view to_string(EngineKind kind);
std::optional<EngineKind> parse_engine_kind(std::string_view name);

// The literal engine of MODEL.md §4–§5: loops over every MAC and every lane of
// every step. Slow; the oracle.
std::unique_ptr<Engine> make_reference_engine();
// The fast CPU engine: the factorizations of §4 and §5, OpenMP threads.
std::unique_ptr<Engine> make_cpu_engine();

// The CUDA engine on the first device (kernels/engine_cuda.cu): the
// factorizations of §4 and §5 as kernels, traces streamed through pinned
// buffers in batches. Throws laconic::Error when the build has no CUDA or no
// usable device answers.
std::unique_ptr<Engine> make_cuda_engine(const EngineOptions& options = {});

// The engine a user asked for. `automatic` picks cuda where a usable device
// exists, else cpu; `note` receives a line for the user when the choice is
// worth saying (a fallback). Throws laconic::Error when `cuda` cannot run.
std::unique_ptr<Engine> make_engine(EngineKind kind, std::string* note = nullptr, const EngineOptions& options = {});

}  // namespace laconic
