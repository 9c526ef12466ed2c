// The cuda engine's host side and its CPU emulation (see laconic/grid.hpp).
#include "laconic/grid.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <type_traits>

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

FastDiv by(i64 v) { return FastDiv(static_cast<u64>(std::max<i64>(v, 1))); }

DimDivisors divisors_of(const LayerDims& d) {
  DimDivisors b;
  b.channels = by(d.channels);
  b.height = by(d.height);
  b.width = by(d.width);
  b.kernel_h = by(d.kernel_h);
  b.kernel_w = by(d.kernel_w);
  b.rs = by(d.rs);
  b.stride_w = by(d.stride_w);
  b.out_h = by(d.out_h);
  b.per_sample = by(d.per_sample);
  return b;
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
  a.by_steps = FastDiv(std::max<u64>(a.steps, 1));
  a.by_blocks = by(a.plan.channel_blocks);
  a.by_filter_sets = by(a.plan.filter_sets);
  a.by_window_sets = by(a.plan.window_sets);
  a.by_groups = by(a.plan.groups);
  a.by_group_lanes = by(a.plan.group_lanes);
  return a;
}

u64 align_up(u64 bytes) { return (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment; }

// Buffers per slot that DeviceLayout aligns (for the plan's bound on padding).
constexpr u64 kSlotBufferCount = 13;

}  // namespace

LayerParams make_params(const LayerShape& shape, const ProfileConfig& config) {
  LayerParams p;
  p.fc = shape.type == LayerType::fc;
  p.shape = shape;
  p.layer = dims_of(shape);
  p.fold = folds_first_layer(shape, config);
  const LayerShape counted = cycles_shape(shape, config);
  p.counted = dims_of(counted);
  p.by_layer = divisors_of(p.layer);
  p.by_counted = divisors_of(p.counted);
  p.by_fc_chunks = by((p.layer.channels + kFcChunk - 1) / kFcChunk);
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
  if (p.fold) {
    b.folded_terms = static_cast<u64>(p.counted.per_sample);
    b.folded_magnitudes = static_cast<u64>(p.counted.per_sample) * mb;
  }
  // Laconic.
  if (p.fc)
    b.fc_block_costs = p.laconic.steps * sizeof(u16);
  else if (p.laconic.registers == 0)
    b.window_max = window_max_body_count(p, 1);
  else
    b.laconic_columns = p.laconic.steps * static_cast<u64>(p.laconic.plan.columns) * sizeof(u16);
  b.laconic_clock = clock_buffer_words(p.laconic, p.fc) * sizeof(u64);
  // Pragmatic.
  b.position_costs = position_cost_body_count(p, 1);
  if (p.pragmatic.plan.lanes > kShifterLocalLanes)
    b.shifter_scratch = b.position_costs * static_cast<u64>(p.pragmatic.plan.lanes) * sizeof(u64);
  if (!p.fc && p.pragmatic.registers > 0)
    b.pragmatic_columns = pragmatic_step_body_count(p, 1) * static_cast<u64>(p.pragmatic.plan.columns);
  b.pragmatic_clock = clock_buffer_words(p.pragmatic, p.fc) * sizeof(u64);
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

DeviceLayout device_layout(const BatchPlan& plan, void* base) {
  const auto origin = reinterpret_cast<std::uintptr_t>(base);
  u64 used = 0;
  auto take = [&](u64 bytes, auto* type) {
    using T = std::remove_pointer_t<decltype(type)>;
    T* at = reinterpret_cast<T*>(origin + used);
    used += align_up(bytes);
    return at;
  };
  DeviceLayout layout;
  const WeightBytes& w = plan.weights;
  WeightBuffers& wb = layout.weights;
  wb.magnitudes = take(w.magnitudes, static_cast<u8*>(nullptr));
  wb.terms = take(w.terms, static_cast<u8*>(nullptr));
  wb.term_sums = take(w.sums / 2, static_cast<u64*>(nullptr));
  wb.nonzero_sums = take(w.sums / 2, static_cast<u64*>(nullptr));
  wb.folded_terms = take(w.folded_terms, static_cast<u8*>(nullptr));
  wb.maxima = take(w.maxima, static_cast<u8*>(nullptr));
  wb.histogram = take(w.histogram, static_cast<u64*>(nullptr));
  const u64 n = plan.samples_per_batch;
  const SampleBytes& b = plan.sample;
  layout.slots.resize(to_size(static_cast<u64>(std::max(1, plan.slots))));
  for (SlotBuffers& s : layout.slots) {
    s.magnitudes = take(n * b.magnitudes, static_cast<u8*>(nullptr));
    s.terms = take(n * b.terms, static_cast<u8*>(nullptr));
    s.folded_terms = take(n * b.folded_terms, static_cast<u8*>(nullptr));
    s.folded_magnitudes = take(n * b.folded_magnitudes, static_cast<u8*>(nullptr));
    s.window_max = take(n * b.window_max, static_cast<u8*>(nullptr));
    s.laconic_columns = take(n * b.laconic_columns, static_cast<u16*>(nullptr));
    s.fc_block_costs = take(n * b.fc_block_costs, static_cast<u16*>(nullptr));
    s.position_costs = take(n * b.position_costs, static_cast<u8*>(nullptr));
    s.shifter_scratch = take(n * b.shifter_scratch, static_cast<u64*>(nullptr));
    s.pragmatic_columns = take(n * b.pragmatic_columns, static_cast<u8*>(nullptr));
    s.pragmatic_clock = take(n * b.pragmatic_clock, static_cast<u64*>(nullptr));
    s.laconic_clock = take(n * b.laconic_clock, static_cast<u64*>(nullptr));
    s.results = take(kResultHeader * sizeof(u64) + n * b.accumulators, static_cast<u64*>(nullptr));
  }
  layout.bytes = used;
  return layout;
}

BatchPlan plan_batches(const std::string& layer_name, const LayerParams& p, const Precision& activation_precision,
                       const Precision& weight_precision, u64 samples, const GridOptions& options) {
  BatchPlan plan;
  plan.samples = samples;
  plan.slots = std::max(1, options.slots);
  plan.weights = weight_buffers(p, magnitude_bytes(weight_precision));
  plan.sample = sample_buffers(p, magnitude_bytes(activation_precision));
  plan.weight_bytes = plan.weights.total();
  plan.bytes_per_sample = plan.sample.total();
  plan.staging_bytes_per_sample = plan.sample.magnitudes;
  const u64 per_sample = static_cast<u64>(p.layer.per_sample);
  const u64 slots = static_cast<u64>(plan.slots);
  // The arena with `n` samples per batch.
  auto arena = [&](u64 n) {
    BatchPlan sized = plan;
    sized.samples_per_batch = n;
    return device_layout(sized, nullptr).bytes;
  };
  const u64 budget = options.memory_budget;
  if (samples == 0) {
    if (budget != 0 && arena(0) > budget)
      throw Error("layer '" + layer_name + "': the cuda engine needs " + mib(arena(0)) +
                  " of device memory for its weights, over the budget of " + mib(budget) +
                  " (raise --device-memory, or use --engine cpu)");
    plan.device_bytes = arena(0);
    return plan;
  }

  u64 per_batch = samples;
  per_batch = std::min(per_batch, std::max<u64>(1, kMaxBatchValues / std::max<u64>(per_sample, 1)));
  per_batch = std::min(per_batch, std::max<u64>(1, options.max_batch_bytes / std::max<u64>(plan.staging_bytes_per_sample, 1)));
  if (budget != 0) {
    const u64 needed_for_one = arena(1);
    if (needed_for_one > budget)
      throw Error("layer '" + layer_name + "': the cuda engine needs " + mib(needed_for_one) +
                  " of device memory for its weights and one sample per stream, over the budget of " + mib(budget) +
                  " (raise --device-memory, or use --engine cpu)");
    // arena(n) ≤ arena(0) + slots·(n·bytes_per_sample + alignment padding of each buffer).
    const u64 fixed = arena(0) + slots * kSlotBufferCount * kBufferAlignment;
    const u64 fits = budget > fixed ? (budget - fixed) / (slots * plan.bytes_per_sample) : 0;
    per_batch = std::min(per_batch, std::max<u64>(1, fits));
  }
  plan.samples_per_batch = per_batch;
  plan.batches = (samples + per_batch - 1) / per_batch;
  plan.device_bytes = arena(per_batch);
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
// The emulation backend: the bodies in OpenMP loops, the warp sums through
// EmulatedWarp, the buffers in one host arena laid out by device_layout as
// the cuda engine lays out device memory.

namespace {

template <class Body>
void for_each_index(u64 count, Body body) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(count); ++i) body(static_cast<u64>(i));
}

// A keyed-sum kernel: body(i, values) returns index i's key; each group of
// 32 consecutive indices is one warp, its lanes past `count` inactive, as on
// the device (kernels/engine_cuda.cu, keyed_sum_kernel).
template <int N, int Parts, class Body>
void for_each_keyed(u64 count, Body body, int first_slot, u64* acc, u64 scale = 1) {
  const auto warps = static_cast<std::int64_t>((count + kWarpLanes - 1) / kWarpLanes);
#pragma omp parallel for schedule(static)
  for (std::int64_t w = 0; w < warps; ++w) {
    EmulatedWarp<N> warp;
    for (int l = 0; l < kWarpLanes; ++l) {
      const u64 i = static_cast<u64>(w) * kWarpLanes + static_cast<u64>(l);
      if (i >= count) break;
      warp.active |= 1u << l;
      warp.keys[l] = body(i, warp.values[l]);
    }
    warp.template add_all<Parts>(first_slot, acc, scale);
  }
}

// The terms kernel with its fused histogram: terms of `count` magnitudes into
// `terms`, their counts added to histogram[0 … kBins).
template <class Magnitude>
void terms_of(const void* magnitudes, u64 count, Encoding encoding, u8* terms, u64* histogram) {
  const auto* m = static_cast<const Magnitude*>(magnitudes);
  const auto indices = static_cast<std::int64_t>(terms4_body_count(count));
#pragma omp parallel
  {
    u64 local[kBins] = {};
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < indices; ++i) {
      const Terms4 t = terms4_body(static_cast<u64>(i), m, count, encoding, terms);
      for (int k = 0; k < t.count; ++k) ++local[(t.packed >> (8 * k)) & 0xFF];
    }
    for (int b = 0; b < kBins; ++b)
      if (local[b] != 0) add_to(histogram + b, local[b]);
  }
}

void terms_by_width(int bytes, const void* magnitudes, u64 count, Encoding encoding, u8* terms, u64* histogram) {
  switch (bytes) {
    case 1: return terms_of<std::uint8_t>(magnitudes, count, encoding, terms, histogram);
    case 2: return terms_of<std::uint16_t>(magnitudes, count, encoding, terms, histogram);
    default: return terms_of<std::uint32_t>(magnitudes, count, encoding, terms, histogram);
  }
}

TermStats stats_of(const u64* histogram) {
  TermStats stats;
  for (int t = 0; t < kBins; ++t) stats.histogram[static_cast<std::size_t>(t)] = histogram[t];
  return stats;
}

// §5, §8, §9: Pragmatic's and Laconic's cycles of a batch in slot buffers
// `b`, into its accumulators, in the order the cuda engine launches them.
template <class Magnitude>
void cycles_of_batch(const LayerParams& p, u64 samples, const SlotBuffers& b, const u8* weight_max) {
  u64* acc = b.results + kResultHeader;
  // The counted layer: the fold's copy, or the layer itself.
  const u8* counted_terms = b.terms;
  const auto* counted_magnitudes = reinterpret_cast<const Magnitude*>(b.magnitudes);
  if (p.fold) {
    auto* folded_magnitudes = reinterpret_cast<Magnitude*>(b.folded_magnitudes);
    for_each_index(fold_activations_body_count(p, samples), [&](u64 i) {
      fold_activations_body(i, p, b.terms, counted_magnitudes, b.folded_terms, folded_magnitudes);
    });
    counted_terms = b.folded_terms;
    counted_magnitudes = folded_magnitudes;
  }

  // Laconic.
  const u64 laconic_steps = laconic_step_body_count(p, samples);
  if (p.fc) {
    for_each_index(laconic_steps,
                   [&](u64 i) { fc_block_cost_body(i, p, counted_terms, weight_max, b.fc_block_costs); });
    for_each_index(samples, [&](u64 i) { fc_laconic_body(i, p, b.fc_block_costs, b.laconic_clock, acc); });
  } else if (p.laconic.registers == 0) {
    for_each_index(window_max_body_count(p, samples),
                   [&](u64 i) { window_max_body(i, p, counted_terms, b.window_max); });
    for_each_keyed<1, 1>(
        laconic_steps, [&](u64 i, u64(&cost)[1]) { return laconic_step_cost(i, p, b.window_max, weight_max, cost); },
        kLaconicCycles, acc);
  } else {
    for_each_index(laconic_steps,
                   [&](u64 i) { column_cost_body(i, p, counted_terms, weight_max, b.laconic_columns); });
    for_each_index(samples, [&](u64 i) { laconic_scan_body(i, p, b.laconic_columns, b.laconic_clock, acc); });
  }

  // Pragmatic.
  for_each_index(position_cost_body_count(p, samples), [&](u64 i) {
    position_cost_body(i, p, counted_magnitudes, b.shifter_scratch, b.position_costs);
  });
  if (p.fc) {
    for_each_index(samples, [&](u64 i) { fc_pragmatic_body(i, p, b.position_costs, b.pragmatic_clock, acc); });
  } else if (p.pragmatic.registers == 0) {
    for_each_keyed<1, 1>(
        pragmatic_step_body_count(p, samples),
        [&](u64 i, u64(&cost)[1]) { return pragmatic_step_cost(i, p, b.position_costs, cost); }, kPragmaticCycles,
        acc, static_cast<u64>(p.pragmatic.plan.filter_sets));
  } else {
    for_each_index(pragmatic_step_body_count(p, samples),
                   [&](u64 i) { pragmatic_column_body(i, p, b.position_costs, b.pragmatic_columns); });
    for_each_index(samples,
                   [&](u64 i) { pragmatic_scan_body(i, p, b.pragmatic_columns, b.pragmatic_clock, acc); });
  }
}

// Host memory at kBufferAlignment, standing in for the device's arena.
struct FreeArena {
  void operator()(void* p) const { std::free(p); }
};

class EmulatedBackend final : public Backend {
 public:
  explicit EmulatedBackend(int slots) : slots_(static_cast<std::size_t>(std::max(1, slots))) {}
  std::string name() const override { return "emulated"; }
  int slots() const override { return static_cast<int>(slots_.size()); }
  u64 default_budget() const override { return 0; }
  u64 bytes_held() const override { return capacity_; }
  u64 peak_bytes_held() const override { return peak_; }

  TermStats begin_layer(const LayerParams& p, const BatchPlan& plan, int activation_magnitude_bytes,
                        int weight_magnitude_bytes, const void* weight_magnitudes, u64 count) override {
    for (Slot& slot : slots_)
      if (slot.busy) throw Error("emulated backend: a layer begins while a batch is in flight");
    p_ = p;
    activation_bytes_ = activation_magnitude_bytes;
    // The arena: the previous layer's when large enough, else freed first.
    if (plan.device_bytes > capacity_) {
      arena_.reset();
      capacity_ = 0;
      void* memory = std::aligned_alloc(kBufferAlignment, std::max(plan.device_bytes, kBufferAlignment));
      if (memory == nullptr) throw Error("emulated backend: cannot allocate " + mib(plan.device_bytes));
      arena_.reset(memory);
      capacity_ = plan.device_bytes;
      peak_ = std::max(peak_, capacity_);
    }
    // What a kernel reads before writing shows up as a wrong count.
    std::memset(arena_.get(), 0xA5, to_size(plan.device_bytes));
    layout_ = device_layout(plan, arena_.get());
    const u64 per_batch = plan.samples_per_batch;
    for (Slot& slot : slots_) {
      slot.staging.assign(to_size(per_batch * plan.sample.magnitudes), 0);
      slot.results.clear();
    }

    // The weights: copied in, terms and their histogram, §4 sums, the fold
    // and Laconic's maxima.
    const WeightBuffers& w = layout_.weights;
    std::memcpy(w.magnitudes, weight_magnitudes, to_size(plan.weights.magnitudes));
    std::fill(w.histogram, w.histogram + kBins, u64{0});
    terms_by_width(weight_magnitude_bytes, w.magnitudes, count, p.encoding, w.terms, w.histogram);
    for_each_index(weight_sums_body_count(p),
                   [&](u64 i) { weight_sums_body(i, p_, w.terms, w.term_sums, w.nonzero_sums); });
    if (p.cycles) {
      const u8* counted = w.terms;
      if (p.fold) {
        for_each_index(fold_weights_body_count(p), [&](u64 i) { fold_weights_body(i, p_, w.terms, w.folded_terms); });
        counted = w.folded_terms;
      }
      for_each_index(weight_max_body_count(p), [&](u64 i) { weight_max_body(i, p_, counted, w.maxima); });
    }
    return stats_of(w.histogram);
  }

  void* staging(int slot) override { return slots_[to_size(static_cast<u64>(slot))].staging.data(); }

  // The batch staged in the slot, run at once; finish() hands over its results.
  void launch(int slot_index, u64 samples) override {
    Slot& slot = slots_[to_size(static_cast<u64>(slot_index))];
    if (slot.busy) throw Error("emulated backend: slot launched twice without finish");
    const SlotBuffers& b = layout_.slots[to_size(static_cast<u64>(slot_index))];
    const u64 values = samples * static_cast<u64>(p_.layer.per_sample);
    std::memcpy(b.magnitudes, slot.staging.data(), to_size(values * static_cast<u64>(activation_bytes_)));
    std::fill(b.results, b.results + kResultHeader + samples * kAccumulators, u64{0});
    run(slot, b, samples);
    slot.resident = nullptr;
  }

  // The resident values (in host memory here) become the slot's magnitudes
  // through the cuda backend's body, the lowest bad index going to the
  // results header; then the batch runs as a staged one.
  void launch_resident(int slot_index, const MemorySource& source, u64 first, u64 samples) override {
    Slot& slot = slots_[to_size(static_cast<u64>(slot_index))];
    if (slot.busy) throw Error("emulated backend: slot launched twice without finish");
    const u64 values = samples * static_cast<u64>(p_.layer.per_sample);
    if (first > source.size() || values > source.size() - first)
      throw Error(source.name() + ": batch past the end of the values");
    const SlotBuffers& b = layout_.slots[to_size(static_cast<u64>(slot_index))];
    std::fill(b.results, b.results + kResultHeader + samples * kAccumulators, u64{0});
    u64* first_bad = b.results + kFirstBadWord;
    *first_bad = ~u64{0};
    const u64 limit = u64{1} << source.conversion().precision.bits;
    with_resident_types(source.type(), activation_bytes_, [&](auto value_tag, auto magnitude_tag) {
      using T = decltype(value_tag);
      using Magnitude = decltype(magnitude_tag);
      const T* in = static_cast<const T*>(source.data()) + first;
      auto* out = reinterpret_cast<Magnitude*>(b.magnitudes);
      for_each_index(values,
                     [&](u64 i) { resident_magnitude_body(i, in, source.conversion(), limit, out, first_bad); });
    });
    run(slot, b, samples);
    slot.resident = &source;
    slot.resident_first = first;
  }

  void finish(int slot_index, std::vector<u64>& accumulators, TermStats& histogram) override {
    Slot& slot = slots_[to_size(static_cast<u64>(slot_index))];
    if (!slot.busy) throw Error("emulated backend: finish without launch");
    slot.busy = false;
    const MemorySource* resident = slot.resident;
    slot.resident = nullptr;
    if (resident != nullptr && slot.results[kFirstBadWord] != ~u64{0}) {
      const u64 index = slot.resident_first + slot.results[kFirstBadWord];
      const auto* raw = static_cast<const unsigned char*>(resident->data()) + index * value_size(resident->type());
      throw Error(resident_error(*resident, index, raw));
    }
    accumulators.assign(slot.results.begin() + kResultHeader, slot.results.end());
    histogram += stats_of(slot.results.data());
  }

 private:
  struct Slot {
    std::vector<u8> staging;
    std::vector<u64> results;
    bool busy = false;
    const MemorySource* resident = nullptr;  // a resident batch's source, for its error
    u64 resident_first = 0;
  };

  // The batch whose magnitudes are in `b`, its results zeroed (but for a
  // resident batch's first-bad word), run at once; its results are then
  // copied to the slot, as the device copies them to the host.
  void run(Slot& slot, const SlotBuffers& b, u64 samples) {
    const LayerParams& p = p_;
    const u64 values = samples * static_cast<u64>(p.layer.per_sample);
    terms_by_width(activation_bytes_, b.magnitudes, values, p.encoding, b.terms, b.results);
    u64* acc = b.results + kResultHeader;
    const WeightBuffers& w = layout_.weights;
    if (p.work) {
      if (p.fc)
        for_each_keyed<3, 3>(
            fc_work_body_count(p, samples),
            [&](u64 i, u64(&sums)[3]) { return fc_work_sums(i, p, b.terms, w.term_sums, w.nonzero_sums, sums); },
            kLaconicWork, acc);
      else
        for_each_keyed<3, 3>(
            conv_work_body_count(p, samples),
            [&](u64 i, u64(&sums)[3]) { return conv_work_sums(i, p, b.terms, w.term_sums, w.nonzero_sums, sums); },
            kLaconicWork, acc);
    }
    if (p.cycles) {
      switch (activation_bytes_) {
        case 1: cycles_of_batch<std::uint8_t>(p, samples, b, w.maxima); break;
        case 2: cycles_of_batch<std::uint16_t>(p, samples, b, w.maxima); break;
        default: cycles_of_batch<std::uint32_t>(p, samples, b, w.maxima); break;
      }
    }
    // The copy back to the host.
    slot.results.assign(b.results, b.results + kResultHeader + samples * kAccumulators);
    slot.busy = true;
  }

  std::vector<Slot> slots_;
  std::unique_ptr<void, FreeArena> arena_;
  u64 capacity_ = 0, peak_ = 0;
  DeviceLayout layout_;
  LayerParams p_;
  int activation_bytes_ = 1;
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

std::vector<KernelWork> kernel_work(const LayerParams& p, int activation_magnitude_bytes) {
  const u64 mb = static_cast<u64>(activation_magnitude_bytes);
  const u64 values = static_cast<u64>(p.layer.per_sample);
  std::vector<KernelWork> out;
  auto add = [&](const char* kernel, u64 indices, u64 read, u64 written, u64 operations, bool sequential = false) {
    out.push_back(KernelWork{kernel, indices, read, written, operations, sequential});
  };
  add("copy in (host to device)", 0, values * mb, values * mb, 0);
  add("terms + histogram", terms4_body_count(values), values * mb, values, values);
  const LayerDims& d = p.layer;
  if (p.work) {
    if (p.fc) {
      const u64 indices = fc_work_body_count(p, 1);
      add("fc work", indices, values, 0, values);
    } else {
      const u64 indices = conv_work_body_count(p, 1);
      const u64 columns = static_cast<u64>((d.kernel_w + d.stride_w - 1) / d.stride_w);
      add("conv work", indices, values, 0, indices * (static_cast<u64>(d.out_h) + columns));
    }
  }
  if (p.cycles) {
    const LayerDims& c = p.counted;
    const u64 counted = static_cast<u64>(c.per_sample);
    const u64 counted_read = p.fold ? counted : values;
    if (p.fold) add("first-layer fold", counted, values * (1 + mb), counted * (1 + mb), counted);
    // Laconic.
    const AcceleratorParams& l = p.laconic;
    const u64 lanes = static_cast<u64>(l.plan.lanes), columns = static_cast<u64>(l.plan.columns);
    if (p.fc) {
      add("laconic fc block costs", l.steps, values, l.steps * sizeof(u16), l.steps * lanes);
      add("laconic fc recurrence", 1, l.steps * sizeof(u16), sizeof(u64), l.steps, true);
    } else if (l.registers == 0) {
      const u64 window_max = window_max_body_count(p, 1);
      add("laconic window maxima", window_max, counted_read, window_max, window_max * columns);
      add("laconic steps", l.steps, window_max, 0, l.steps * lanes);
    } else {
      add("laconic column costs", l.steps, counted_read, l.steps * columns * sizeof(u16),
          l.steps * columns * lanes);
      add("laconic column clock", 1, l.steps * columns * sizeof(u16), sizeof(u64), l.steps * columns, true);
    }
    // Pragmatic.
    const AcceleratorParams& g = p.pragmatic;
    const u64 positions = position_cost_body_count(p, 1);
    const u64 g_columns = static_cast<u64>(g.plan.columns);
    add("pragmatic position costs", positions, (p.fold ? counted : values) * mb, positions,
        positions * static_cast<u64>(g.plan.lanes));
    if (p.fc) {
      add("pragmatic fc recurrence", 1, positions, sizeof(u64), g.steps, true);
    } else {
      const u64 steps = pragmatic_step_body_count(p, 1);
      if (g.registers == 0) {
        add("pragmatic steps", steps, positions, 0, steps * g_columns);
      } else {
        add("pragmatic column costs", steps, positions, steps * g_columns, steps * g_columns);
        add("pragmatic column clock", 1, steps * g_columns, sizeof(u64), g.steps * g_columns, true);
      }
    }
  }
  add("results (device to host)", 0, kAccumulators * sizeof(u64), kAccumulators * sizeof(u64), 0);
  return out;
}

}  // namespace grid
}  // namespace laconic
