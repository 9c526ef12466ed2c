// The cuda engine's host side and its CPU emulation (see laconic/grid.hpp).
#include "laconic/grid.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include "chunked_read.hpp"
#include "laconic/error.hpp"

namespace laconic {
namespace grid {

namespace {
std::size_t to_size(u64 v) { return static_cast<std::size_t>(v); }

std::string mib(u64 bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

LayerDims dims_of(const LayerShape& shape) {
  LayerDims d;
  d.channels = shape.channels;
  d.height = shape.height;
  d.width = shape.width;
  d.filters = shape.filters;
  d.kernel_h = shape.kernel_height;
  d.kernel_w = shape.kernel_width;
  d.stride_h = shape.stride_h;
  d.stride_w = shape.stride_w;
  d.pad_top = shape.padding.top;
  d.pad_left = shape.padding.left;
  d.groups = shape.groups;
  d.out_h = shape.type == LayerType::fc ? 1 : shape.out_height();
  d.out_w = shape.type == LayerType::fc ? 1 : shape.out_width();
  d.cg = shape.channels_per_group();
  d.kg = shape.filters_per_group();
  d.rs = shape.kernel_height * shape.kernel_width;
  d.per_sample = shape.activations_per_sample();
  d.weights = shape.weight_count();
  return d;
}

// An accelerator's steps on the counted layer `counted` (§8): an FC layer's
// step plan is that of the 1×1 layer, whose steps are the recurrence's
// blocks (model.hpp fc_blocks).
AcceleratorParams accelerator_params(const LayerShape& counted, const ProfileConfig& config, Accelerator accelerator,
                                     bool diagonal) {
  AcceleratorParams a;
  a.plan = step_plan(counted, config.geometry(accelerator), diagonal);
  a.steps = a.plan.steps();
  // R beyond the steps of a sample reads only M(j < 0) = 0, as R = steps does.
  a.registers = std::min<i64>(config.registers(accelerator), static_cast<i64>(a.steps));
  return a;
}

}  // namespace

LayerParams make_params(const LayerShape& shape, const ProfileConfig& config) {
  LayerParams p;
  p.fc = shape.type == LayerType::fc;
  p.shape = shape;
  p.layer = dims_of(shape);
  p.fold = folds_first_layer(shape, config);
  const LayerShape counted = cycles_shape(shape, config);
  p.counted = dims_of(counted);
  const bool diagonal = maps_diagonally(shape, config);
  p.pragmatic = accelerator_params(counted, config, Accelerator::pragmatic, diagonal);
  p.laconic = accelerator_params(counted, config, Accelerator::laconic, diagonal);
  p.shifter_bits = config.shifter_bits;
  p.encoding = config.encoding;
  p.work = config.compute_work;
  p.cycles = config.compute_cycles;
  return p;
}

SampleBytes sample_buffers(const LayerParams& p, int activation_magnitude_bytes) {
  const u64 mb = static_cast<u64>(activation_magnitude_bytes);
  SampleBytes b;
  b.magnitudes = static_cast<u64>(p.layer.per_sample) * mb;
  b.terms = static_cast<u64>(p.layer.per_sample);
  b.accumulators = kAccumulators * sizeof(u64);
  if (!p.cycles) return b;
  if (p.fold) b.folded = static_cast<u64>(p.counted.per_sample) * (1 + mb);
  // Laconic.
  if (!p.fc && p.laconic.registers == 0) b.window_max = window_max_body_count(p, 1);
  if (!p.fc && p.laconic.registers > 0)
    b.column_costs = p.laconic.steps * static_cast<u64>(p.laconic.plan.columns) * sizeof(u16);
  b.laconic_clock = clock_words(p.laconic, p.fc) * sizeof(u64);
  // Pragmatic.
  b.position_costs = position_cost_body_count(p, 1);
  if (p.pragmatic.plan.lanes > kShifterLocalLanes)
    b.shifter_scratch = b.position_costs * static_cast<u64>(p.pragmatic.plan.lanes) * sizeof(u64);
  b.pragmatic_clock = clock_words(p.pragmatic, p.fc) * sizeof(u64);
  return b;
}

WeightBytes weight_buffers(const LayerParams& p, int weight_magnitude_bytes) {
  const u64 weights = static_cast<u64>(p.layer.weights);
  WeightBytes b;
  b.magnitudes = weights * static_cast<u64>(weight_magnitude_bytes);
  b.terms = weights;
  b.sums = weight_sums_body_count(p) * 2 * sizeof(u64);
  b.histogram = kBins * sizeof(u64);
  if (p.cycles) {
    b.folded_terms = fold_weights_body_count(p);
    b.maxima = weight_max_count(p);
  }
  return b;
}

int magnitude_bytes(const Precision& precision) {
  if (precision.bits <= 8) return 1;
  if (precision.bits <= 16) return 2;
  return 4;
}

BatchPlan plan_batches(const std::string& layer_name, const LayerParams& p, const Precision& activation_precision,
                       const Precision& weight_precision, u64 samples, const GridOptions& options) {
  BatchPlan plan;
  plan.samples = samples;
  plan.weights = weight_buffers(p, magnitude_bytes(weight_precision));
  plan.sample = sample_buffers(p, magnitude_bytes(activation_precision));
  plan.weight_bytes = plan.weights.total();
  plan.bytes_per_sample = plan.sample.total();
  plan.staging_bytes_per_sample = plan.sample.magnitudes;
  const u64 per_sample = static_cast<u64>(p.layer.per_sample);
  const u64 slots = static_cast<u64>(std::max(1, options.slots));
  const u64 fixed = plan.weight_bytes + slots * kBins * sizeof(u64) + kScratchAllowance;
  if (samples == 0) {
    plan.device_bytes = fixed;
    return plan;
  }

  u64 per_batch = samples;
  per_batch = std::min(per_batch, std::max<u64>(1, kMaxBatchValues / std::max<u64>(per_sample, 1)));
  per_batch = std::min(per_batch, std::max<u64>(1, options.max_batch_bytes / plan.staging_bytes_per_sample));
  if (per_sample > kMaxBatchValues)
    throw Error("layer '" + layer_name + "': one sample holds " + std::to_string(per_sample) +
                " activations, more than the cuda engine's batch limit of " + std::to_string(kMaxBatchValues));
  if (options.memory_budget != 0) {
    const u64 needed_for_one = fixed + slots * plan.bytes_per_sample;
    if (needed_for_one > options.memory_budget)
      throw Error("layer '" + layer_name + "': the cuda engine needs " + mib(needed_for_one) +
                  " of device memory for its weights and one sample per stream, over the budget of " +
                  mib(options.memory_budget) + " (raise --device-memory, or use --engine cpu)");
    per_batch = std::min(per_batch, (options.memory_budget - fixed) / (slots * plan.bytes_per_sample));
  }
  plan.samples_per_batch = per_batch;
  plan.batches = (samples + per_batch - 1) / per_batch;
  plan.device_bytes = fixed + slots * std::min(per_batch, samples) * plan.bytes_per_sample;
  return plan;
}

namespace {

template <class Magnitude>
void narrow(const std::int64_t* values, u64 count, u64 first, const Precision& precision,
            const TensorSource& source, Magnitude* out) {
  const u64 limit = precision.bits >= 64 ? ~u64{0} : (u64{1} << precision.bits);
  for (u64 i = 0; i < count; ++i) {
    const u64 m = magnitude(values[i]);
    if (m >= limit)
      throw Error(source.name() + ": element " + std::to_string(first + i) + ": value " + std::to_string(values[i]) +
                  " does not fit the declared width of " + std::to_string(precision.bits) + " bits");
    out[i] = static_cast<Magnitude>(m);
  }
}

}  // namespace

void read_magnitudes(const TensorSource& source, u64 first, u64 count, const Precision& precision, void* out,
                     bool parallel) {
  struct NoSums {};
  const int bytes = magnitude_bytes(precision);
  read_in_chunks<NoSums>(
      source, first, count, parallel,
      [&](const std::int64_t* values, u64 n, u64 offset, NoSums&) {
        switch (bytes) {
          case 1: narrow(values, n, first + offset, precision, source, static_cast<std::uint8_t*>(out) + offset); break;
          case 2: narrow(values, n, first + offset, precision, source, static_cast<std::uint16_t*>(out) + offset); break;
          default: narrow(values, n, first + offset, precision, source, static_cast<std::uint32_t*>(out) + offset); break;
        }
      },
      [](const NoSums&) {});
}

void Backend::launch_resident(int, const MemorySource& source, u64, u64) {
  throw Error(source.name() + ": the values are in a CUDA device's memory; the " + name() +
              " backend cannot read them");
}

std::string resident_error(const MemorySource& source, u64 index, const void* raw) {
  std::int64_t v = 0;
  ConvertStatus status = ConvertStatus::out_of_width;
  switch (source.type()) {
    case ValueType::i8: status = convert_value(*static_cast<const std::int8_t*>(raw), source.conversion(), &v); break;
    case ValueType::u8: status = convert_value(*static_cast<const std::uint8_t*>(raw), source.conversion(), &v); break;
    case ValueType::i16: status = convert_value(*static_cast<const std::int16_t*>(raw), source.conversion(), &v); break;
    case ValueType::u16: status = convert_value(*static_cast<const std::uint16_t*>(raw), source.conversion(), &v); break;
    case ValueType::i32: status = convert_value(*static_cast<const std::int32_t*>(raw), source.conversion(), &v); break;
    case ValueType::u32: status = convert_value(*static_cast<const std::uint32_t*>(raw), source.conversion(), &v); break;
    case ValueType::i64: status = convert_value(*static_cast<const std::int64_t*>(raw), source.conversion(), &v); break;
    case ValueType::f32: status = convert_value(*static_cast<const float*>(raw), source.conversion(), &v); break;
    case ValueType::f64: status = convert_value(*static_cast<const double*>(raw), source.conversion(), &v); break;
  }
  // A value that converts always fits its width (convert_value checks it);
  // out_of_width is the message for one that somehow does not.
  return source.conversion_error(index, status == ConvertStatus::ok ? ConvertStatus::out_of_width : status, raw);
}

// ---------------------------------------------------------------------------
// The emulation backend: the bodies in OpenMP loops, buffers in host memory.

namespace {

template <class Body>
void for_each_index(u64 count, Body body) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(count); ++i) body(static_cast<u64>(i));
}

template <class Magnitude>
void terms_of(const void* magnitudes, u64 count, Encoding encoding, u8* terms) {
  const auto* m = static_cast<const Magnitude*>(magnitudes);
  for_each_index(terms4_body_count(count), [&](u64 i) { terms4_body(i, m, count, encoding, terms); });
}

void terms_by_width(int bytes, const void* magnitudes, u64 count, Encoding encoding, u8* terms) {
  switch (bytes) {
    case 1: return terms_of<std::uint8_t>(magnitudes, count, encoding, terms);
    case 2: return terms_of<std::uint16_t>(magnitudes, count, encoding, terms);
    default: return terms_of<std::uint32_t>(magnitudes, count, encoding, terms);
  }
}

void histogram_of(const u8* terms, u64 count, TermStats& stats) {
  for (u64 i = 0; i < count; ++i) ++stats.histogram[terms[i]];
}

// A buffer of `samples` samples of `bytes_per_sample` bytes, as T.
template <class T>
std::vector<T> sample_buffer(u64 samples, u64 bytes_per_sample) {
  return std::vector<T>(to_size(samples * bytes_per_sample / sizeof(T)));
}

// §5, §8, §9: Pragmatic's and Laconic's cycles of a batch, into the
// accumulators, in the order the cuda engine launches them.
template <class Magnitude>
void cycles_of_batch(const LayerParams& p, u64 samples, const SampleBytes& bytes, const u8* terms,
                     const Magnitude* magnitudes, const u8* weight_max, u64* acc) {
  // The counted layer: the fold's copy, or the layer itself.
  auto folded_terms = sample_buffer<u8>(samples, p.fold ? static_cast<u64>(p.counted.per_sample) : 0);
  auto folded_magnitudes = sample_buffer<Magnitude>(samples, p.fold ? static_cast<u64>(p.counted.per_sample) * sizeof(Magnitude) : 0);
  const u8* counted_terms = terms;
  const Magnitude* counted_magnitudes = magnitudes;
  if (p.fold) {
    for_each_index(fold_activations_body_count(p, samples), [&](u64 i) {
      fold_activations_body(i, p, terms, magnitudes, folded_terms.data(), folded_magnitudes.data());
    });
    counted_terms = folded_terms.data();
    counted_magnitudes = folded_magnitudes.data();
  }

  // Laconic.
  auto laconic_clock = sample_buffer<u64>(samples, bytes.laconic_clock);
  if (p.fc) {
    for_each_index(samples, [&](u64 i) { fc_laconic_body(i, p, counted_terms, weight_max, laconic_clock.data(), acc); });
  } else if (p.laconic.registers == 0) {
    auto window_max = sample_buffer<u8>(samples, bytes.window_max);
    for_each_index(window_max_body_count(p, samples),
                   [&](u64 i) { window_max_body(i, p, counted_terms, window_max.data()); });
    for_each_index(laconic_step_body_count(p, samples),
                   [&](u64 i) { laconic_step_body(i, p, window_max.data(), weight_max, acc); });
  } else {
    auto column_costs = sample_buffer<u16>(samples, bytes.column_costs);
    for_each_index(laconic_step_body_count(p, samples),
                   [&](u64 i) { column_cost_body(i, p, counted_terms, weight_max, column_costs.data()); });
    for_each_index(samples, [&](u64 i) { laconic_scan_body(i, p, column_costs.data(), laconic_clock.data(), acc); });
  }

  // Pragmatic.
  auto position_costs = sample_buffer<u8>(samples, bytes.position_costs);
  auto scratch = sample_buffer<u64>(samples, bytes.shifter_scratch);
  for_each_index(position_cost_body_count(p, samples), [&](u64 i) {
    position_cost_body(i, p, counted_magnitudes, scratch.data(), position_costs.data());
  });
  auto pragmatic_clock = sample_buffer<u64>(samples, bytes.pragmatic_clock);
  if (p.fc)
    for_each_index(samples,
                   [&](u64 i) { fc_pragmatic_body(i, p, position_costs.data(), pragmatic_clock.data(), acc); });
  else if (p.pragmatic.registers == 0)
    for_each_index(pragmatic_step_body_count(p, samples),
                   [&](u64 i) { pragmatic_step_body(i, p, position_costs.data(), acc); });
  else
    for_each_index(samples,
                   [&](u64 i) { pragmatic_scan_body(i, p, position_costs.data(), pragmatic_clock.data(), acc); });
}

class EmulatedBackend final : public Backend {
 public:
  explicit EmulatedBackend(int slots) : slots_(static_cast<std::size_t>(std::max(1, slots))) {}
  std::string name() const override { return "emulated"; }
  int slots() const override { return static_cast<int>(slots_.size()); }
  u64 default_budget() const override { return 0; }

  TermStats begin_layer(const LayerParams& p, const BatchPlan& plan, int activation_magnitude_bytes,
                        int weight_magnitude_bytes, const void* weight_magnitudes, u64 count) override {
    p_ = p;
    activation_bytes_ = activation_magnitude_bytes;
    bytes_ = plan.sample;
    const u64 per_batch = std::max<u64>(plan.samples_per_batch, 1);
    for (Slot& slot : slots_) {
      slot.staging.assign(to_size(per_batch * bytes_.magnitudes), 0);
      slot.busy = false;
    }
    weight_terms_.assign(to_size(count), 0);
    terms_by_width(weight_magnitude_bytes, weight_magnitudes, count, p.encoding, weight_terms_.data());
    TermStats stats;
    histogram_of(weight_terms_.data(), count, stats);
    term_sums_.assign(to_size(weight_sums_body_count(p)), 0);
    nonzero_sums_.assign(term_sums_.size(), 0);
    for_each_index(weight_sums_body_count(p), [&](u64 i) {
      weight_sums_body(i, p_, weight_terms_.data(), term_sums_.data(), nonzero_sums_.data());
    });
    weight_max_.assign(to_size(plan.weights.maxima), 0);
    if (p.cycles) {
      std::vector<u8> folded(to_size(plan.weights.folded_terms));
      const u8* counted = weight_terms_.data();
      if (p.fold) {
        for_each_index(fold_weights_body_count(p),
                       [&](u64 i) { fold_weights_body(i, p_, weight_terms_.data(), folded.data()); });
        counted = folded.data();
      }
      for_each_index(weight_max_body_count(p), [&](u64 i) { weight_max_body(i, p_, counted, weight_max_.data()); });
    }
    return stats;
  }

  void* staging(int slot) override { return slots_[to_size(static_cast<u64>(slot))].staging.data(); }

  // The resident values (in host memory here) become the slot's magnitudes
  // through the cuda backend's body; then the batch runs as any other.
  void launch_resident(int slot_index, const MemorySource& source, u64 first, u64 samples) override {
    Slot& slot = slots_[to_size(static_cast<u64>(slot_index))];
    const u64 values = samples * static_cast<u64>(p_.layer.per_sample);
    if (first > source.size() || values > source.size() - first)
      throw Error(source.name() + ": batch past the end of the values");
    const u64 limit = u64{1} << source.conversion().precision.bits;
    slot.first_bad = ~u64{0};
    auto convert = [&](auto value_tag, auto magnitude_tag) {
      using T = decltype(value_tag);
      using Magnitude = decltype(magnitude_tag);
      const T* in = static_cast<const T*>(source.data()) + first;
      auto* out = reinterpret_cast<Magnitude*>(slot.staging.data());
      for_each_index(values, [&](u64 i) {
        resident_magnitude_body(i, in, source.conversion(), limit, out, &slot.first_bad);
      });
    };
    auto by_magnitude = [&](auto value_tag) {
      switch (activation_bytes_) {
        case 1: return convert(value_tag, std::uint8_t{});
        case 2: return convert(value_tag, std::uint16_t{});
        default: return convert(value_tag, std::uint32_t{});
      }
    };
    switch (source.type()) {
      case ValueType::i8: by_magnitude(std::int8_t{}); break;
      case ValueType::u8: by_magnitude(std::uint8_t{}); break;
      case ValueType::i16: by_magnitude(std::int16_t{}); break;
      case ValueType::u16: by_magnitude(std::uint16_t{}); break;
      case ValueType::i32: by_magnitude(std::int32_t{}); break;
      case ValueType::u32: by_magnitude(std::uint32_t{}); break;
      case ValueType::i64: by_magnitude(std::int64_t{}); break;
      case ValueType::f32: by_magnitude(float{}); break;
      case ValueType::f64: by_magnitude(double{}); break;
    }
    slot.resident = &source;
    slot.resident_first = first;
    launch(slot_index, samples);
  }

  // Runs the batch at once; finish() hands over its results.
  void launch(int slot_index, u64 samples) override {
    Slot& slot = slots_[to_size(static_cast<u64>(slot_index))];
    if (slot.busy) throw Error("emulated backend: slot launched twice without finish");
    const LayerParams& p = p_;
    const u64 values = samples * static_cast<u64>(p.layer.per_sample);
    std::vector<u8> terms(to_size(values));
    terms_by_width(activation_bytes_, slot.staging.data(), values, p.encoding, terms.data());
    slot.histogram = TermStats{};
    histogram_of(terms.data(), values, slot.histogram);
    slot.accumulators.assign(to_size(samples * kAccumulators), 0);
    u64* acc = slot.accumulators.data();
    if (p.work) {
      if (p.fc)
        for_each_index(fc_work_body_count(p, samples), [&](u64 i) {
          fc_work_body(i, p, terms.data(), term_sums_.data(), nonzero_sums_.data(), acc);
        });
      else
        for_each_index(conv_work_body_count(p, samples), [&](u64 i) {
          conv_work_body(i, p, terms.data(), term_sums_.data(), nonzero_sums_.data(), acc);
        });
    }
    if (p.cycles) {
      const void* magnitudes = slot.staging.data();
      switch (activation_bytes_) {
        case 1:
          cycles_of_batch(p, samples, bytes_, terms.data(), static_cast<const std::uint8_t*>(magnitudes),
                          weight_max_.data(), acc);
          break;
        case 2:
          cycles_of_batch(p, samples, bytes_, terms.data(), static_cast<const std::uint16_t*>(magnitudes),
                          weight_max_.data(), acc);
          break;
        default:
          cycles_of_batch(p, samples, bytes_, terms.data(), static_cast<const std::uint32_t*>(magnitudes),
                          weight_max_.data(), acc);
          break;
      }
    }
    slot.busy = true;
  }

  void finish(int slot_index, std::vector<u64>& accumulators, TermStats& histogram) override {
    Slot& slot = slots_[to_size(static_cast<u64>(slot_index))];
    if (!slot.busy) throw Error("emulated backend: finish without launch");
    slot.busy = false;
    const MemorySource* resident = slot.resident;
    slot.resident = nullptr;
    if (resident != nullptr && slot.first_bad != ~u64{0}) {
      const u64 index = slot.resident_first + slot.first_bad;
      const auto* raw = static_cast<const unsigned char*>(resident->data()) + index * value_size(resident->type());
      throw Error(resident_error(*resident, index, raw));
    }
    accumulators = slot.accumulators;
    histogram += slot.histogram;
  }

 private:
  struct Slot {
    std::vector<u8> staging;
    std::vector<u64> accumulators;
    TermStats histogram;
    bool busy = false;
    const MemorySource* resident = nullptr;  // a resident batch's source, for its error
    u64 resident_first = 0;
    u64 first_bad = ~u64{0};  // the batch's lowest unconvertible value
  };
  std::vector<Slot> slots_;
  LayerParams p_;
  SampleBytes bytes_;
  int activation_bytes_ = 1;
  std::vector<u8> weight_terms_, weight_max_;
  std::vector<u64> term_sums_, nonzero_sums_;
};

}  // namespace

std::unique_ptr<Backend> make_emulated_backend(int slots) { return std::make_unique<EmulatedBackend>(slots); }

// ---------------------------------------------------------------------------
// The driver.

GridEngine::GridEngine(std::unique_ptr<Backend> backend, GridOptions options, std::string name)
    : backend_(std::move(backend)), options_(options), name_(std::move(name)) {
  options_.slots = backend_->slots();
}

namespace {

// The weights' magnitudes, read and narrowed on the host once per layer.
struct GridPrepared final : PreparedWeights {
  std::vector<u8> weight_magnitudes;
};

std::vector<u8> weight_magnitudes_of(const LayerInput& input) {
  const u64 count = input.weights->size();
  std::vector<u8> magnitudes(to_size(count * static_cast<u64>(magnitude_bytes(input.weight_precision))));
  read_magnitudes(*input.weights, 0, count, input.weight_precision, magnitudes.data(), true);
  return magnitudes;
}

}  // namespace

std::shared_ptr<const PreparedWeights> GridEngine::prepare(const LayerInput& input, const ProfileConfig& config) const {
  validate_input(input, SampleRange{0, 0});
  config.validate();
  auto prepared = std::make_shared<GridPrepared>();
  prepared->weight_magnitudes = weight_magnitudes_of(input);
  return prepared;
}

LayerResult GridEngine::profile(const LayerInput& input, SampleRange range, const ProfileConfig& config) const {
  return profile_prepared(input, range, config, nullptr);
}

LayerResult GridEngine::profile_prepared(const LayerInput& input, SampleRange range, const ProfileConfig& config,
                                         const PreparedWeights* prepared) const {
  validate_input(input, range);
  config.validate();
  const LayerShape& shape = input.shape;
  const LayerParams p = make_params(shape, config);
  GridOptions options = options_;
  if (options.memory_budget == 0) options.memory_budget = backend_->default_budget();
  const BatchPlan plan =
      plan_batches(input.name, p, input.activation_precision, input.weight_precision, range.size(), options);

  LayerResult result;
  result.name = input.name;
  result.type = shape.type;
  result.per_sample.resize(to_size(range.size()));

  // Weights: magnitudes on the host (read once when prepared), everything
  // else on the backend.
  const u64 weight_count = input.weights->size();
  const int weight_bytes = magnitude_bytes(input.weight_precision);
  const auto* given = dynamic_cast<const GridPrepared*>(prepared);
  std::vector<u8> own;
  if (given == nullptr) own = weight_magnitudes_of(input);
  const std::vector<u8>& weight_magnitudes = given != nullptr ? given->weight_magnitudes : own;
  const int activation_bytes = magnitude_bytes(input.activation_precision);
  result.weight_terms =
      backend_->begin_layer(p, plan, activation_bytes, weight_bytes, weight_magnitudes.data(), weight_count);

  // Cycles of the accelerators whose cost does not depend on the data (§5,
  // §8); the backend counts Pragmatic's and Laconic's.
  const Cycles fixed_cycles = data_independent_cycles(shape, config, input.activation_precision.bits);

  // Activations already on the device are converted there (§2).
  const auto* resident = dynamic_cast<const MemorySource*>(input.activations);
  if (resident != nullptr && !resident->on_device()) resident = nullptr;
  if (resident != nullptr && !(resident->conversion().precision == input.activation_precision))
    throw Error("layer '" + input.name + "': " + resident->name() + " declares another precision than the layer");

  // Batches: fill slot b % slots while the others run; collect in order.
  const int slots = backend_->slots();
  struct InFlight {
    u64 first = 0, count = 0;
    int slot = 0;
  };
  std::deque<InFlight> in_flight;
  std::vector<u64> accumulators;
  TermStats activation_terms;
  auto collect = [&]() {
    const InFlight batch = in_flight.front();
    in_flight.pop_front();
    backend_->finish(batch.slot, accumulators, activation_terms);
    for (u64 i = 0; i < batch.count; ++i) {
      const u64* acc = &accumulators[to_size(i * kAccumulators)];
      SampleResult& sample = result.per_sample[to_size(batch.first - range.begin + i)];
      sample.sample = batch.first + i;
      sample.macs = static_cast<u64>(shape.macs_per_sample());
      if (config.compute_work)
        sample.work = work_from_sums(shape, input.activation_precision.bits, config.baseline_width,
                                     WorkSums{acc[kLaconicWork], acc[kNonzeroPairs], acc[kActivationTerms]});
      if (config.compute_cycles) {
        sample.cycles = fixed_cycles;
        sample.cycles.pragmatic = acc[kPragmaticCycles];
        sample.cycles.laconic = acc[kLaconicCycles];
      }
    }
  };
  try {
    for (u64 b = 0; b < plan.batches; ++b) {
      const int slot = static_cast<int>(b % static_cast<u64>(slots));
      if (in_flight.size() == static_cast<std::size_t>(slots)) collect();
      const u64 first = range.begin + b * plan.samples_per_batch;
      const u64 count = std::min(plan.samples_per_batch, range.end - first);
      if (resident != nullptr) {
        backend_->launch_resident(slot, *resident, first * static_cast<u64>(p.layer.per_sample), count);
      } else {
        read_magnitudes(*input.activations, first * static_cast<u64>(p.layer.per_sample),
                        count * static_cast<u64>(p.layer.per_sample), input.activation_precision,
                        backend_->staging(slot), true);
        backend_->launch(slot, count);
      }
      in_flight.push_back({first, count, slot});
    }
    while (!in_flight.empty()) collect();
  } catch (...) {
    // Leave the backend idle for the next layer: wait for what was started.
    std::vector<u64> discard;
    TermStats ignored;
    for (const InFlight& batch : in_flight) {
      try {
        backend_->finish(batch.slot, discard, ignored);
      } catch (...) {
      }
    }
    throw;
  }
  result.activation_terms = activation_terms;
  return result;
}

std::unique_ptr<Engine> make_emulated_grid_engine(const GridOptions& options) {
  return std::make_unique<GridEngine>(make_emulated_backend(options.slots), options, "emulated");
}

}  // namespace grid
}  // namespace laconic
