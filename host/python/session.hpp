// Live profiling: a network's layers fed batch by batch from memory (a
// model's own tensors), profiled on an engine as they come, and rendered by
// the same report writers as `laconic profile` (README "Live profiling from
// Python"). The Python module laconic._core (bindings.cpp) is a thin layer
// over this file: it turns NumPy arrays and DLPack tensors into
// MemorySources and keyword options into ConfigOptions.
//
// A layer's first batch fixes its shape, precisions and weights: the weights
// are quantized once, kept as integers, and the engine prepares them once
// (Engine::prepare); later batches bring activations only. Each batch's
// result is merged into the layer's (LayerResult::merge over consecutive
// sample ranges), so a session's result equals that of one `laconic profile`
// run over the concatenated batches.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/engine.hpp"
#include "laconic/memory_source.hpp"
#include "laconic/profile.hpp"

namespace laconic::live {

// The accelerators' settings as keyword options, each a value as the CLI
// takes it (run_config.hpp), applied in the CLI's order of precedence:
// preset, configuration (file or JSON text), tiles/rows/columns/lanes,
// geometry entries, then shifter bits, column registers, depthwise mapping,
// first-layer fold, encoding, baseline width.
struct ConfigOptions {
  std::optional<std::string> preset;
  std::optional<std::string> config_file;  // a JSON configuration file
  std::optional<std::string> config_json;  // or its text (a dict of the same keys)
  std::array<std::optional<std::int64_t>, 4> dimensions;  // tiles, rows, columns, lanes
  std::vector<std::string> geometry;                      // "ACCELERATOR=T,Rt,Ct,L"
  std::optional<std::string> shifter_bits;                // "0".."31" or "inf"
  std::vector<std::string> column_registers;              // "ACCELERATOR=R"
  std::optional<std::string> depthwise;
  std::optional<std::string> fold_first_layer;            // "on" or "off"
  std::optional<std::string> encoding;
  std::optional<std::int64_t> baseline_width;
};

// The validated configuration. Throws laconic::Error naming the keyword and
// the value, with run_config's message (a configuration file's errors name
// the file and the key).
ProfileConfig make_config(const ConfigOptions& options);

// "fixed point 8.8 (16-bit signed)", "linear to 8-bit", "16-bit signed
// integers": the report's words for how a tensor was quantized, as for a
// manifest's tensors.
std::string describe_conversion(const ValueConversion& conversion);

struct SessionOptions {
  std::string network = "model";
  std::string engine = "auto";      // auto, cuda, cpu, reference, or emulated (the cuda engine's logic on the CPU)
  std::uint64_t device_memory = 0;  // cuda: bytes; 0 = the engine's default
  int threads = 0;                  // OpenMP threads of the engines; 0 = OMP_NUM_THREADS or every core
  std::uint64_t sample_limit = 0;   // profile the first N samples of each layer; 0 = all
};

// A tensor handed to Session::add: values where they live, and their
// conversion to §2's integers. The memory must stay valid during the call.
struct TensorArgument {
  const void* data = nullptr;
  ValueType type = ValueType::f32;
  std::vector<std::uint64_t> shape;
  bool on_device = false;
  ValueConversion conversion;
  // linear without a calibrated range: the tensor's own (weights only; a
  // batch of activations is not the whole tensor).
  bool linear_own_range = false;
};

class Session {
 public:
  // Throws laconic::Error when the engine cannot be made (cuda without a
  // device) or `options` are invalid.
  Session(SessionOptions options, ProfileConfig config);
  // The engine choice's remark for the user (auto fell back to cpu), or "".
  const std::string& note() const { return note_; }

  // Profiles one batch of layer `name`: `activations` is (N, C, H, W) for a
  // conv layer, (N, C) or (N, C, H, W) for fc, matching `shape`; `weights`
  // (K, C/g, R, S) or (K, C) is required on the layer's first batch and
  // optional later (then it must equal the first batch's, after conversion).
  // The first batch fixes the layer's shape and both precisions. Inside a
  // pass (begin_pass) the result waits for commit_pass; otherwise it is
  // merged at once. Throws laconic::Error naming the layer for any mismatch
  // or bad value, and leaves the session as it was.
  void add(const std::string& name, const LayerShape& shape, const TensorArgument& activations,
           const TensorArgument* weights);

  // Passes: the batches added between begin_pass and commit_pass count
  // together or not at all (a forward pass that raised half way adds none).
  // begin_pass discards a pass left open.
  void begin_pass();
  void commit_pass();
  void discard_pass();
  bool in_pass() const { return in_pass_; }

  // Layers in the order of their first batch, and how many samples each has
  // (committed ones).
  std::vector<std::string> layer_names() const;
  std::uint64_t samples(const std::string& name) const;
  // The layers added in the open pass.
  std::vector<std::string> pass_layers() const;

  // Every committed layer as a network result; `source` says where the
  // values came from. Throws laconic::Error when no layer has a sample.
  NetworkResult result(const std::string& source) const;

  std::string engine_name() const { return std::string(engine_->name()); }
  const ProfileConfig& config() const { return config_; }
  bool emulated() const { return emulated_; }

 private:
  struct Layer {
    std::string name;
    LayerShape shape;
    ValueConversion activation_conversion;  // every batch's must be the first's
    Precision activation_precision, weight_precision;
    std::string activation_quantization, weight_quantization;
    std::unique_ptr<TensorSource> weight_source;  // converted once, kept narrow
    std::shared_ptr<const PreparedWeights> prepared;
    LayerResult result;                 // committed samples
    std::optional<LayerResult> pending; // the open pass's samples
    std::uint64_t pending_samples = 0;

    void store_weights(const std::vector<std::int64_t>& values, const std::string& label);
    std::vector<std::int64_t> stored_weights() const;
  };

  void discard_locked();

  Layer* find(const std::string& name);
  const Layer* find(const std::string& name) const;

  SessionOptions options_;
  ProfileConfig config_;
  std::unique_ptr<Engine> engine_;
  bool emulated_ = false;
  std::string note_;
  int threads_ = 1;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::map<std::string, std::size_t> index_;
  bool in_pass_ = false;
  std::uint64_t run_macs_ = 0;  // committed, for the 2^54 limit
  std::uint64_t pass_macs_ = 0;
  mutable std::mutex mutex_;
};

}  // namespace laconic::live
