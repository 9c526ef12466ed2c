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
}  // namespace

LayerParams make_params(const LayerShape& shape, const ProfileConfig& config) {
  LayerParams p;
  p.fc = shape.type == LayerType::fc ? 1 : 0;
  p.channels = shape.channels;
  p.height = shape.height;
  p.width = shape.width;
  p.filters = shape.filters;
  p.kernel_h = shape.kernel_height;
  p.kernel_w = shape.kernel_width;
  p.stride_h = shape.stride_h;
  p.stride_w = shape.stride_w;
  p.pad_top = shape.padding.top;
  p.pad_left = shape.padding.left;
  p.groups = shape.groups;
  p.out_h = shape.type == LayerType::fc ? 1 : shape.out_height();
  p.out_w = shape.type == LayerType::fc ? 1 : shape.out_width();
  p.cg = shape.channels_per_group();
  p.kg = shape.filters_per_group();
  p.rs = shape.kernel_height * shape.kernel_width;
  p.set_size = config.geometry(Accelerator::laconic).filters_in_flight();
  p.columns = config.geometry(Accelerator::laconic).columns;
  p.lanes = config.geometry(Accelerator::laconic).lanes;
  const StepPlan counts = step_plan(shape, config.geometry(Accelerator::laconic), false);
  p.filter_sets = counts.filter_sets;
  p.window_sets = counts.window_sets;
  p.channel_blocks = counts.channel_blocks;
  p.per_sample = shape.activations_per_sample();
  p.encoding = config.encoding;
  p.work = config.compute_work;
  p.cycles = config.compute_cycles;
  return p;
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
  const u64 weights = static_cast<u64>(p.filters * p.cg * p.rs);
  const u64 sums = static_cast<u64>(p.groups * p.cg * p.rs);
  const u64 maxima = static_cast<u64>(p.groups * p.filter_sets * p.rs * p.cg);
  // Magnitudes and terms of the weights, §4 sums (two u64 each), §5 maxima,
  // the weights' histogram.
  plan.weight_bytes = weights * static_cast<u64>(magnitude_bytes(weight_precision) + 1) + sums * 2 * sizeof(u64) +
                      maxima + kBins * sizeof(u64);
  const u64 per_sample = static_cast<u64>(p.per_sample);
  plan.staging_bytes_per_sample = per_sample * static_cast<u64>(magnitude_bytes(activation_precision));
  plan.bytes_per_sample = plan.staging_bytes_per_sample + per_sample /* terms */ + act_max_bytes_per_sample(p) +
                          busy_bytes_per_sample(p) + kAccumulators * sizeof(u64);
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
    const u64 per_batch = std::max<u64>(plan.samples_per_batch, 1);
    for (Slot& slot : slots_) {
      slot.staging.assign(to_size(per_batch * static_cast<u64>(p.per_sample) * static_cast<u64>(activation_bytes_)), 0);
      slot.busy = false;
    }
    weight_terms_.assign(to_size(count), 0);
    terms_by_width(weight_magnitude_bytes, weight_magnitudes, count, p.encoding, weight_terms_.data());
    TermStats stats;
    histogram_of(weight_terms_.data(), count, stats);
    term_sums_.assign(to_size(weight_body_count(p)), 0);
    nonzero_sums_.assign(term_sums_.size(), 0);
    weight_max_.assign(to_size(static_cast<u64>(p.groups * p.filter_sets * p.rs * p.cg)), 0);
    for_each_index(weight_body_count(p), [&](u64 i) {
      weight_body(i, p_, weight_terms_.data(), term_sums_.data(), nonzero_sums_.data(), weight_max_.data());
    });
    return stats;
  }

  void* staging(int slot) override { return slots_[to_size(static_cast<u64>(slot))].staging.data(); }

  // Runs the batch at once; finish() hands over its results.
  void launch(int slot_index, u64 samples) override {
    Slot& slot = slots_[to_size(static_cast<u64>(slot_index))];
    if (slot.busy) throw Error("emulated backend: slot launched twice without finish");
    const u64 values = samples * static_cast<u64>(p_.per_sample);
    std::vector<u8> terms(to_size(values));
    terms_by_width(activation_bytes_, slot.staging.data(), values, p_.encoding, terms.data());
    slot.histogram = TermStats{};
    histogram_of(terms.data(), values, slot.histogram);
    slot.accumulators.assign(to_size(samples * kAccumulators), 0);
    u64* acc = slot.accumulators.data();
    const LayerParams& p = p_;
    if (p.fc) {
      if (p.work)
        for_each_index(fc_work_body_count(p, samples), [&](u64 i) {
          fc_work_body(i, p, terms.data(), term_sums_.data(), nonzero_sums_.data(), acc);
        });
      if (p.cycles) {
        std::vector<u64> busy(to_size(samples * static_cast<u64>(p.columns)));
        for_each_index(samples,
                       [&](u64 i) { fc_cycles_body(i, p, terms.data(), weight_max_.data(), busy.data(), acc); });
      }
    } else {
      if (p.work)
        for_each_index(conv_work_body_count(p, samples), [&](u64 i) {
          conv_work_body(i, p, terms.data(), term_sums_.data(), nonzero_sums_.data(), acc);
        });
      if (p.cycles) {
        std::vector<u8> act_max(to_size(samples * act_max_bytes_per_sample(p)));
        for_each_index(act_max_body_count(p, samples),
                       [&](u64 i) { act_max_body(i, p, terms.data(), act_max.data()); });
        for_each_index(conv_step_body_count(p, samples),
                       [&](u64 i) { conv_step_body(i, p, act_max.data(), weight_max_.data(), acc); });
      }
    }
    slot.busy = true;
  }

  void finish(int slot_index, std::vector<u64>& accumulators, TermStats& histogram) override {
    Slot& slot = slots_[to_size(static_cast<u64>(slot_index))];
    if (!slot.busy) throw Error("emulated backend: finish without launch");
    accumulators = slot.accumulators;
    histogram += slot.histogram;
    slot.busy = false;
  }

 private:
  struct Slot {
    std::vector<u8> staging;
    std::vector<u64> accumulators;
    TermStats histogram;
    bool busy = false;
  };
  std::vector<Slot> slots_;
  LayerParams p_;
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

LayerResult GridEngine::profile(const LayerInput& input, SampleRange range, const ProfileConfig& config) const {
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

  // Weights: magnitudes on the host, everything else on the backend.
  const u64 weight_count = input.weights->size();
  const int weight_bytes = magnitude_bytes(input.weight_precision);
  std::vector<u8> weight_magnitudes(to_size(weight_count * static_cast<u64>(weight_bytes)));
  read_magnitudes(*input.weights, 0, weight_count, input.weight_precision, weight_magnitudes.data(), true);
  const int activation_bytes = magnitude_bytes(input.activation_precision);
  result.weight_terms =
      backend_->begin_layer(p, plan, activation_bytes, weight_bytes, weight_magnitudes.data(), weight_count);

  // Cycles of the accelerators whose cost does not depend on the data (§5).
  const Cycles fixed_cycles = data_independent_cycles(shape, config, input.activation_precision.bits);

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
      read_magnitudes(*input.activations, first * static_cast<u64>(p.per_sample), count * static_cast<u64>(p.per_sample),
                      input.activation_precision, backend_->staging(slot), true);
      backend_->launch(slot, count);
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
