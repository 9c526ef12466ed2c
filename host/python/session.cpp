#include "session.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "laconic/error.hpp"
#include "laconic/grid.hpp"
#include "laconic/npy.hpp"
#include "laconic/run_config.hpp"

namespace laconic::live {

namespace {

// A value's problem, as the CLI words an option's: the keyword, the value
// where the message does not quote it, and run_config's message.
template <class Apply>
void option(const std::string& prefix, Apply apply) {
  try {
    apply();
  } catch (const Error& e) {
    throw Error(prefix + e.what());
  }
}

}  // namespace

ProfileConfig make_config(const ConfigOptions& o) {
  Preset preset = Preset::dnnsim;
  if (o.preset) option("preset ", [&] { preset = parse_preset_setting(*o.preset); });
  ProfileConfig config = ProfileConfig::preset(preset);
  if (o.config_file && o.config_json) throw Error("config: give a file or a dict, not both");
  if (o.config_file || o.config_json) {
    std::optional<Preset> named;
    // Errors name the file (or "config") and the key, as the CLI's do.
    config = o.config_file ? read_profile_config(*o.config_file, config, &named)
                           : parse_profile_config(*o.config_json, "config", config, &named);
    if (o.preset && named && *named != preset)
      throw Error("preset " + std::string(to_string(preset)) + " and the configuration (\"preset\": \"" +
                  std::string(to_string(*named)) + "\") name different presets; give one of them");
  }
  static const char* const kDimensions[] = {"tiles", "rows", "columns", "lanes"};
  for (std::size_t d = 0; d < 4; ++d) {
    if (!o.dimensions[d]) continue;
    const std::int64_t v = *o.dimensions[d];
    if (v <= 0) throw Error(std::string(kDimensions[d]) + " must be a positive number, not " + std::to_string(v));
    for (Accelerator a : kAccelerators) {
      Geometry& g = config.geometry(a);
      (d == 0 ? g.tiles : d == 1 ? g.rows : d == 2 ? g.columns : g.lanes) = v;
    }
  }
  for (const std::string& entry : o.geometry)
    option("geometry " + entry + ": ", [&] { apply_geometry_setting(config, entry); });
  if (o.shifter_bits) option("shifter_bits: ", [&] { config.shifter_bits = parse_shifter_bits(*o.shifter_bits); });
  for (const std::string& entry : o.column_registers)
    option("column_registers " + entry + ": ", [&] { apply_column_registers_setting(config, entry); });
  if (o.depthwise) option("depthwise ", [&] { config.depthwise = parse_depthwise_setting(*o.depthwise); });
  if (o.fold_first_layer)
    option("fold_first_layer ", [&] { config.fold_first_layer = parse_on_off(*o.fold_first_layer); });
  if (o.encoding) option("encoding ", [&] { config.encoding = parse_encoding_setting(*o.encoding); });
  if (o.baseline_width) {
    const std::int64_t w = *o.baseline_width;
    if (w <= 0) throw Error("baseline_width must be a positive number, not " + std::to_string(w));
    if (w > 32) throw Error("baseline_width must be at most 32 bits, not " + std::to_string(w));
    config.baseline_width = static_cast<int>(w);
  }
  config.validate();
  return config;
}

std::string describe_conversion(const ValueConversion& c) {
  const Precision& p = c.precision;
  const std::string width = std::to_string(p.bits) + "-bit" +
                            (c.mode == QuantizeMode::linear ? "" : p.is_signed ? " signed" : " unsigned");
  switch (c.mode) {
    case QuantizeMode::none:
      return width + " integers" + (c.zero_point != 0 ? " less zero point " + std::to_string(c.zero_point) : "");
    case QuantizeMode::fixed:
      return "fixed point " + std::to_string(c.int_bits) + "." + std::to_string(c.frac_bits) + " (" + width + ")";
    case QuantizeMode::linear: return "linear to " + width;
    case QuantizeMode::integral: return "integral floats, " + width;
    case QuantizeMode::dnnsim: return "a DNNsim precision profile, " + width;  // refused by MemorySource
  }
  return width;
}

namespace {

bool same_shape(const LayerShape& a, const LayerShape& b) {
  return a.type == b.type && a.channels == b.channels && a.height == b.height && a.width == b.width &&
         a.filters == b.filters && a.kernel_height == b.kernel_height && a.kernel_width == b.kernel_width &&
         a.stride_h == b.stride_h && a.stride_w == b.stride_w && a.padding == b.padding && a.groups == b.groups;
}

bool same_conversion(const ValueConversion& a, const ValueConversion& b) {
  const LinearMap& x = a.linear;
  const LinearMap& y = b.linear;
  const bool linear_same = a.mode != QuantizeMode::linear ||
                           (x.is_signed == y.is_signed && x.constant == y.constant && x.offset == y.offset &&
                            x.span == y.span && x.target == y.target && a.saturate == b.saturate);
  return a.mode == b.mode && a.precision == b.precision && a.int_bits == b.int_bits && a.frac_bits == b.frac_bits &&
         a.zero_point == b.zero_point && linear_same;
}

std::string shape_text(const std::vector<std::uint64_t>& shape) { return shape_to_string(shape); }

std::uint64_t product(const std::vector<std::uint64_t>& shape, std::size_t from = 0) {
  std::uint64_t n = 1;
  for (std::size_t i = from; i < shape.size(); ++i) n *= shape[i];
  return n;
}

// The (N, ...) activations of `shape`: their sample count. Throws naming the
// layer when the array does not fit the layer.
std::uint64_t activation_samples(const std::string& name, const LayerShape& shape,
                                 const std::vector<std::uint64_t>& dims) {
  const auto c = static_cast<std::uint64_t>(shape.channels);
  if (shape.type == LayerType::conv) {
    const std::vector<std::uint64_t> want = {c, static_cast<std::uint64_t>(shape.height),
                                             static_cast<std::uint64_t>(shape.width)};
    if (dims.size() != 4 || !std::equal(want.begin(), want.end(), dims.begin() + 1))
      throw Error("layer '" + name + "': activations of shape " + shape_text(dims) + " do not fit the layer, which takes (N, " +
                  std::to_string(c) + ", " + std::to_string(shape.height) + ", " + std::to_string(shape.width) + ")");
  } else if (dims.size() < 2 || product(dims, 1) != c) {
    throw Error("layer '" + name + "': activations of shape " + shape_text(dims) +
                " do not fit the layer, which takes (N, " + std::to_string(c) + ")");
  }
  return dims[0];
}

void check_weight_shape(const std::string& name, const LayerShape& shape, const std::vector<std::uint64_t>& dims) {
  std::vector<std::uint64_t> want = {static_cast<std::uint64_t>(shape.filters),
                                     static_cast<std::uint64_t>(shape.channels_per_group())};
  if (shape.type == LayerType::conv) {
    want.push_back(static_cast<std::uint64_t>(shape.kernel_height));
    want.push_back(static_cast<std::uint64_t>(shape.kernel_width));
  }
  if (dims != want)
    throw Error("layer '" + name + "': weights of shape " + shape_text(dims) + " do not fit the layer, which takes " +
                shape_text(want));
}

// Sets the OpenMP threads of this thread for the engines, and restores them.
class ScopedThreads {
 public:
  explicit ScopedThreads(int threads) : saved_(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ScopedThreads() { omp_set_num_threads(saved_); }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int saved_;
};

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1, omp_get_num_procs());
}

MemorySource source_of(const TensorArgument& t, const std::string& label, bool on_device) {
  return MemorySource(t.data, t.type, product(t.shape), t.conversion, on_device, label, t.shape);
}

}  // namespace

Session::Session(SessionOptions options, ProfileConfig config)
    : options_(std::move(options)), config_(std::move(config)) {
  config_.validate();
  if (options_.threads < 0) throw Error("threads must be a positive number, not " + std::to_string(options_.threads));
  threads_ = options_.threads > 0 ? options_.threads : default_threads();
  if (options_.engine == "emulated") {
    grid::GridOptions grid_options;
    grid_options.memory_budget = options_.device_memory;
    engine_ = grid::make_emulated_grid_engine(grid_options);
    emulated_ = true;
  } else {
    const auto kind = parse_engine_kind(options_.engine);
    if (!kind) throw Error("engine must be auto, cuda, cpu or reference, not '" + options_.engine + "'");
    EngineOptions engine_options;
    engine_options.device_memory = options_.device_memory;
    engine_ = make_engine(*kind, &note_, engine_options);
  }
}

namespace {

// A layer's converted weights, kept in the narrowest integer type that holds
// them (ResNet-50's 25.6 M weights take 51 MB at 16 bits, not 205 MB).
template <class T>
class StoredWeights final : public TensorSource {
 public:
  StoredWeights(const std::vector<std::int64_t>& values, std::string label)
      : values_(values.begin(), values.end()), label_(std::move(label)) {}
  std::uint64_t size() const override { return values_.size(); }
  void read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const override {
    if (first > values_.size() || count > values_.size() - first) throw Error(label_ + ": read past the end");
    std::copy_n(values_.begin() + static_cast<std::ptrdiff_t>(first), count, out);
  }
  std::string name() const override { return label_; }

 private:
  std::vector<T> values_;
  std::string label_;
};

}  // namespace

void Session::Layer::store_weights(const std::vector<std::int64_t>& values, const std::string& label) {
  std::int64_t lowest = 0, highest = 0;
  for (const std::int64_t v : values) {
    lowest = std::min(lowest, v);
    highest = std::max(highest, v);
  }
  if (lowest >= INT8_MIN && highest <= INT8_MAX) weight_source = std::make_unique<StoredWeights<std::int8_t>>(values, label);
  else if (lowest >= INT16_MIN && highest <= INT16_MAX) weight_source = std::make_unique<StoredWeights<std::int16_t>>(values, label);
  else if (lowest >= INT32_MIN && highest <= INT32_MAX) weight_source = std::make_unique<StoredWeights<std::int32_t>>(values, label);
  else weight_source = std::make_unique<StoredWeights<std::int64_t>>(values, label);
}

std::vector<std::int64_t> Session::Layer::stored_weights() const {
  std::vector<std::int64_t> values(weight_source->size());
  weight_source->read(0, values.size(), values.data());
  return values;
}

Session::Layer* Session::find(const std::string& name) {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : layers_[it->second].get();
}

const Session::Layer* Session::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : layers_[it->second].get();
}

void Session::add(const std::string& name, const LayerShape& shape, const TensorArgument& activations,
                  const TensorArgument* weights) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (name.empty()) throw Error("a layer needs a name");
  shape.validate(name);
  Layer* layer = find(name);
  const bool first = layer == nullptr;
  const std::uint64_t samples = activation_samples(name, shape, activations.shape);

  // A layer's first batch fixes what the later ones must bring.
  std::unique_ptr<Layer> fresh;
  if (first) {
    if (weights == nullptr) throw Error("layer '" + name + "': the first batch of a layer needs its weights");
    fresh = std::make_unique<Layer>();
    layer = fresh.get();
    layer->name = name;
    layer->shape = shape;
  } else if (!same_shape(layer->shape, shape)) {
    throw Error("layer '" + name + "' is " + shape.describe() + " in this batch but was " + layer->shape.describe() +
                " before; a layer keeps one shape");
  }
  if (activations.linear_own_range)
    throw Error("layer '" + name +
                "': linear quantization of activations needs their range over the whole stream, which a batch does "
                "not know; calibrate the range first (laconic.torch.calibrate) or give it");

  // Weights: converted once, on the first batch; later ones are compared.
  std::vector<std::int64_t> weight_values;
  ValueConversion weight_conversion;
  if (weights != nullptr) {
    check_weight_shape(name, shape, weights->shape);
    if (weights->on_device) throw Error("layer '" + name + "': weights must be in host memory");
    weight_conversion = weights->conversion;
    const std::string label = "layer '" + name + "' weights";
    if (weights->linear_own_range) {
      const ValueRange r = value_range(weights->data, weights->type, product(weights->shape), label, weights->shape);
      weight_conversion.linear = linear_map(r.min, r.max, weight_conversion.precision.bits);
      weight_conversion.saturate = false;
    }
    TensorArgument converted = *weights;
    converted.conversion = weight_conversion;
    const MemorySource source = source_of(converted, label, false);
    weight_values.resize(source.size());
    source.read(0, source.size(), weight_values.data());
    if (!first && weight_values != layer->stored_weights())
      throw Error("layer '" + name + "': the weights differ from those of the layer's first batch");
  }
  const ValueConversion& act = activations.conversion;
  if (!first && !same_conversion(act, layer->activation_conversion))
    throw Error("layer '" + name + "': activations are " + describe_conversion(act) + " in this batch but were " +
                layer->activation_quantization + " before");
  if (first) {
    layer->activation_conversion = act;
    layer->activation_precision = act.precision;
    layer->weight_precision = weight_conversion.precision;
    layer->activation_quantization = describe_conversion(act);
    layer->weight_quantization = describe_conversion(weight_conversion);
    layer->store_weights(weight_values, "layer '" + name + "' weights");
  }

  // The samples this batch adds: all of them, or up to the sample limit.
  const std::uint64_t before = layer->result.samples() + layer->pending_samples;
  std::uint64_t take = samples;
  if (options_.sample_limit != 0) take = before >= options_.sample_limit ? 0 : std::min(take, options_.sample_limit - before);
  std::uint64_t macs = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(shape.macs_per_sample()), take, &macs) ||
      run_macs_ + pass_macs_ + macs >= (std::uint64_t{1} << 54))
    throw Error("network '" + options_.network + "': the run reaches 2^54 MACs (at layer '" + name +
                "'); its counts would not fit in 64 bits");

  const bool on_device = activations.on_device;
  const MemorySource activation_source = source_of(activations, "layer '" + name + "' activations", on_device);
  LayerInput input;
  input.name = name;
  input.shape = shape;
  input.activation_precision = layer->activation_precision;
  input.weight_precision = layer->weight_precision;
  input.activations = &activation_source;
  input.weights = layer->weight_source.get();

  ScopedThreads threads(threads_);
  std::shared_ptr<const PreparedWeights> prepared = layer->prepared;
  if (first) prepared = engine_->prepare(input, config_);
  LayerResult result;
  if (take > 0) {
    result = engine_->profile_prepared(input, SampleRange{0, take}, config_, prepared.get());
    for (SampleResult& s : result.per_sample) s.sample += before;
  }

  // Nothing has changed so far; now the batch counts.
  if (first) {
    layer->prepared = std::move(prepared);
    index_[name] = layers_.size();
    layers_.push_back(std::move(fresh));
  }
  if (take == 0) return;
  LayerResult& target = in_pass_ ? (layer->pending ? *layer->pending : layer->pending.emplace()) : layer->result;
  if (target.name.empty()) {
    target = std::move(result);
  } else {
    target.merge(result);
  }
  if (in_pass_) {
    layer->pending_samples += take;
    pass_macs_ += macs;
  } else {
    run_macs_ += macs;
  }
}

void Session::begin_pass() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (in_pass_) discard_locked();
  in_pass_ = true;
}

void Session::commit_pass() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& layer : layers_) {
    if (!layer->pending) continue;
    if (layer->result.name.empty()) layer->result = std::move(*layer->pending);
    else layer->result.merge(*layer->pending);
    layer->pending.reset();
    layer->pending_samples = 0;
  }
  run_macs_ += pass_macs_;
  pass_macs_ = 0;
  in_pass_ = false;
}

void Session::discard_pass() {
  std::lock_guard<std::mutex> lock(mutex_);
  discard_locked();
}

void Session::discard_locked() {
  for (auto& layer : layers_) {
    layer->pending.reset();
    layer->pending_samples = 0;
  }
  // A layer first seen in the discarded pass is forgotten with it.
  std::vector<std::unique_ptr<Layer>> kept;
  index_.clear();
  for (auto& layer : layers_)
    if (layer->result.samples() > 0) {
      index_[layer->name] = kept.size();
      kept.push_back(std::move(layer));
    }
  layers_ = std::move(kept);
  pass_macs_ = 0;
  in_pass_ = false;
}

std::vector<std::string> Session::layer_names() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  for (const auto& layer : layers_) names.push_back(layer->name);
  return names;
}

std::uint64_t Session::samples(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Layer* layer = find(name);
  if (layer == nullptr) throw Error("no layer '" + name + "' in the session");
  return layer->result.samples();
}

std::vector<std::string> Session::pass_layers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  for (const auto& layer : layers_)
    if (layer->pending) names.push_back(layer->name);
  return names;
}

NetworkResult Session::result(const std::string& source) const {
  std::lock_guard<std::mutex> lock(mutex_);
  NetworkResult out;
  out.network = options_.network;
  out.source = source;
  out.engine = std::string(engine_->name());
  out.config = config_;
  out.sample_limit = options_.sample_limit;
  for (const auto& layer : layers_) {
    if (layer->result.samples() == 0) continue;
    ProfiledLayer p;
    p.result = layer->result;
    p.shape = layer->shape;
    p.activation_precision = layer->activation_precision;
    p.weight_precision = layer->weight_precision;
    p.activation_quantization = layer->activation_quantization;
    p.weight_quantization = layer->weight_quantization;
    out.layers.push_back(std::move(p));
  }
  if (out.layers.empty()) throw Error("network '" + options_.network + "': no layer has a profiled sample yet");
  return out;
}

}  // namespace laconic::live
