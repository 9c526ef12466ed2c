// The cuda engine: the bodies of laconic/grid.hpp as kernels, a layer's
// samples streamed through pinned staging buffers on one stream per slot, so
// that the host reads and narrows batch b+1 while the device copies and
// computes batch b. Every runtime call and launch is checked.
//
// Per layer: the weights' terms, their histogram, the §4 sums and, for
// cycles, the §8 fold of the weights and Laconic's weight maxima. Per batch,
// on the slot's stream: copy the magnitudes in; terms (one byte per value,
// computed once and reused by every metric); their histogram (CUB); the §4
// work sums; for cycles, the §8 fold of the activations, then Laconic
// (window-set maxima and step costs with R = 0, column costs and the column
// clock with R ≥ 1, or the FC recurrence) and Pragmatic (§9 shifter cycles
// per input position and lane block, then step costs, the column clock or
// the FC recurrence); copy the per-sample sums and the histogram out. The
// column clocks and the FC recurrences run one thread per sample (see
// laconic/grid.hpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/device/device_histogram.cuh>
#include <vector>

#include "cuda_check.hpp"
#include "laconic/device.hpp"
#include "laconic/engine.hpp"
#include "laconic/grid.hpp"

namespace laconic {
namespace grid {
namespace {

constexpr int kThreads = 256;

// Device memory that grows on demand and is kept across layers.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  T* ensure(std::size_t count) {
    if (count > capacity_) {
      if (data_ != nullptr) LACONIC_CUDA_CALL(cudaFree(data_));
      data_ = nullptr;
      capacity_ = 0;
      LACONIC_CUDA_CALL(cudaMalloc(reinterpret_cast<void**>(&data_), std::max<std::size_t>(count, 1) * sizeof(T)));
      capacity_ = count;
    }
    return data_;
  }
  T* get() const { return data_; }

 private:
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// Page-locked host memory, so that copies run asynchronously at full speed.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (data_ != nullptr) cudaFreeHost(data_);
  }
  void* ensure(std::size_t bytes) {
    if (bytes > capacity_) {
      if (data_ != nullptr) LACONIC_CUDA_CALL(cudaFreeHost(data_));
      data_ = nullptr;
      capacity_ = 0;
      LACONIC_CUDA_CALL(cudaMallocHost(&data_, std::max<std::size_t>(bytes, 1)));
      capacity_ = bytes;
    }
    return data_;
  }
  void* get() const { return data_; }

 private:
  void* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// A grid-stride loop over a body's indices.
template <class Op>
__global__ void for_each_kernel(u64 count, Op op) {
  const u64 step = static_cast<u64>(gridDim.x) * blockDim.x;
  for (u64 i = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) op(i);
}

int g_blocks_cap = 0;  // resident blocks of kThreads threads on the device

unsigned blocks_for(u64 count) {
  const u64 wanted = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<u64>(wanted, static_cast<u64>(std::max(g_blocks_cap, 1))));
}

template <class Op>
void launch_each(u64 count, Op op, cudaStream_t stream, const char* what) {
  if (count == 0) return;
  for_each_kernel<<<blocks_for(count), kThreads, 0, stream>>>(count, op);
  cuda_check(cudaGetLastError(), what, __FILE__, __LINE__);
}

template <class Magnitude>
struct TermsOp {
  const Magnitude* magnitudes;
  u64 count;
  Encoding encoding;
  u8* terms;
  __device__ void operator()(u64 i) const { terms4_body(i, magnitudes, count, encoding, terms); }
};

template <class T, class Magnitude>
struct ResidentMagnitudeOp {
  const T* values;
  ValueConversion conversion;
  u64 limit;
  Magnitude* magnitudes;
  u64* first_bad;
  __device__ void operator()(u64 i) const {
    resident_magnitude_body(i, values, conversion, limit, magnitudes, first_bad);
  }
};

struct WeightSumsOp {
  LayerParams p;
  const u8* weight_terms;
  u64* term_sums;
  u64* nonzero_sums;
  __device__ void operator()(u64 i) const { weight_sums_body(i, p, weight_terms, term_sums, nonzero_sums); }
};

struct FoldWeightsOp {
  LayerParams p;
  const u8* weight_terms;
  u8* folded_terms;
  __device__ void operator()(u64 i) const { fold_weights_body(i, p, weight_terms, folded_terms); }
};

struct WeightMaxOp {
  LayerParams p;
  const u8* weight_terms;
  u8* weight_max;
  __device__ void operator()(u64 i) const { weight_max_body(i, p, weight_terms, weight_max); }
};

struct ConvWorkOp {
  LayerParams p;
  const u8* terms;
  const u64* term_sums;
  const u64* nonzero_sums;
  u64* acc;
  __device__ void operator()(u64 i) const { conv_work_body(i, p, terms, term_sums, nonzero_sums, acc); }
};

struct FcWorkOp {
  LayerParams p;
  const u8* terms;
  const u64* term_sums;
  const u64* nonzero_sums;
  u64* acc;
  __device__ void operator()(u64 i) const { fc_work_body(i, p, terms, term_sums, nonzero_sums, acc); }
};

template <class Magnitude>
struct FoldActivationsOp {
  LayerParams p;
  const u8* terms;
  const Magnitude* magnitudes;
  u8* folded_terms;
  Magnitude* folded_magnitudes;
  __device__ void operator()(u64 i) const {
    fold_activations_body(i, p, terms, magnitudes, folded_terms, folded_magnitudes);
  }
};

struct WindowMaxOp {
  LayerParams p;
  const u8* terms;
  u8* window_max;
  __device__ void operator()(u64 i) const { window_max_body(i, p, terms, window_max); }
};

struct LaconicStepCostOp {
  LayerParams p;
  const u8* window_max;
  const u8* weight_max;
  __device__ unsigned operator()(u64 i, i64* sample) const {
    return laconic_step_cost(i, p, window_max, weight_max, sample);
  }
};

struct ColumnCostOp {
  LayerParams p;
  const u8* terms;
  const u8* weight_max;
  u16* column_costs;
  __device__ void operator()(u64 i) const { column_cost_body(i, p, terms, weight_max, column_costs); }
};

struct LaconicScanOp {
  LayerParams p;
  const u16* column_costs;
  u64* clock;
  u64* acc;
  __device__ void operator()(u64 i) const { laconic_scan_body(i, p, column_costs, clock, acc); }
};

struct FcLaconicOp {
  LayerParams p;
  const u8* terms;
  const u8* weight_max;
  u64* clock;
  u64* acc;
  __device__ void operator()(u64 i) const { fc_laconic_body(i, p, terms, weight_max, clock, acc); }
};

template <class Magnitude>
struct PositionCostOp {
  LayerParams p;
  const Magnitude* magnitudes;
  u64* scratch;
  u8* position_costs;
  __device__ void operator()(u64 i) const { position_cost_body(i, p, magnitudes, scratch, position_costs); }
};

struct PragmaticStepCostOp {
  LayerParams p;
  const u8* position_costs;
  __device__ unsigned operator()(u64 i, i64* sample) const { return pragmatic_step_cost(i, p, position_costs, sample); }
};

struct PragmaticScanOp {
  LayerParams p;
  const u8* position_costs;
  u64* clock;
  u64* acc;
  __device__ void operator()(u64 i) const { pragmatic_scan_body(i, p, position_costs, clock, acc); }
};

struct FcPragmaticOp {
  LayerParams p;
  const u8* position_costs;
  u64* clock;
  u64* acc;
  __device__ void operator()(u64 i) const { fc_pragmatic_body(i, p, position_costs, clock, acc); }
};

// Lockstep step costs (R = 0), summed per sample into accumulator `slot`,
// each cost `repeat` times (Pragmatic's filter sets repeat its steps).
// Neighbouring steps mostly belong to the same sample: the lanes of a warp
// that add to the same sample sum their costs (at most 32 · 32², no
// overflow) and one of them adds the total, instead of 32 atomics on one
// address. The loop bound is uniform per block, so whole warps iterate.
template <class CostOp>
__global__ void step_sum_kernel(u64 count, CostOp op, u64 repeat, int slot, u64* acc) {
  const u64 step = static_cast<u64>(gridDim.x) * blockDim.x;
  for (u64 base = static_cast<u64>(blockIdx.x) * blockDim.x; base < count; base += step) {
    const u64 i = base + threadIdx.x;
    if (i < count) {
      i64 n = 0;
      const unsigned cost = op(i, &n);
      const unsigned same = __match_any_sync(__activemask(), static_cast<unsigned long long>(n));
      const unsigned total = __reduce_add_sync(same, cost);
      if (static_cast<int>(threadIdx.x % 32) == __ffs(static_cast<int>(same)) - 1)
        atomicAdd(reinterpret_cast<unsigned long long*>(acc + n * kAccumulators + slot),
                  static_cast<unsigned long long>(total) * repeat);
    }
  }
}

template <class CostOp>
void launch_step_sums(u64 count, CostOp op, u64 repeat, int slot, u64* acc, cudaStream_t stream, const char* what) {
  if (count == 0) return;
  step_sum_kernel<<<blocks_for(count), kThreads, 0, stream>>>(count, op, repeat, slot, acc);
  cuda_check(cudaGetLastError(), what, __FILE__, __LINE__);
}

void launch_terms(int bytes, const void* magnitudes, u64 count, Encoding encoding, u8* terms, cudaStream_t stream) {
  const u64 indices = terms4_body_count(count);
  switch (bytes) {
    case 1:
      return launch_each(indices, TermsOp<std::uint8_t>{static_cast<const std::uint8_t*>(magnitudes), count, encoding, terms},
                         stream, "terms kernel");
    case 2:
      return launch_each(indices, TermsOp<std::uint16_t>{static_cast<const std::uint16_t*>(magnitudes), count, encoding, terms},
                         stream, "terms kernel");
    default:
      return launch_each(indices, TermsOp<std::uint32_t>{static_cast<const std::uint32_t*>(magnitudes), count, encoding, terms},
                         stream, "terms kernel");
  }
}

// Histogram of term counts 0..kMaxTerms over `count` (< 2^31) bytes, into
// int counters: CUB's even-width histogram with one bin per count.
class TermHistogram {
 public:
  std::size_t temp_bytes(u64 count) {
    std::size_t bytes = 0;
    LACONIC_CUDA_CALL(cub::DeviceHistogram::HistogramEven(nullptr, bytes, static_cast<const u8*>(nullptr),
                                                          static_cast<int*>(nullptr), kBins + 1, 0, kBins,
                                                          static_cast<int>(std::max<u64>(count, 1))));
    return bytes;
  }
  void run(const u8* terms, u64 count, int* bins, cudaStream_t stream) {
    LACONIC_CUDA_CALL(cudaMemsetAsync(bins, 0, kBins * sizeof(int), stream));
    if (count == 0) return;
    std::size_t bytes = temp_bytes(count);
    void* temp = temp_.ensure(bytes);
    LACONIC_CUDA_CALL(cub::DeviceHistogram::HistogramEven(temp, bytes, terms, bins, kBins + 1, 0, kBins,
                                                          static_cast<int>(count), stream));
  }

 private:
  DeviceBuffer<unsigned char> temp_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int slots) : slots_(static_cast<std::size_t>(std::max(1, slots))) {
    LACONIC_CUDA_CALL(cudaSetDevice(0));
    cudaDeviceProp prop{};
    LACONIC_CUDA_CALL(cudaGetDeviceProperties(&prop, 0));
    device_name_ = prop.name;
    g_blocks_cap = prop.multiProcessorCount * (prop.maxThreadsPerMultiProcessor / kThreads);
    std::size_t free_bytes = 0, total_bytes = 0;
    LACONIC_CUDA_CALL(cudaMemGetInfo(&free_bytes, &total_bytes));
    default_budget_ = static_cast<u64>(free_bytes) / 4 * 3;
    for (Slot& slot : slots_) {
      LACONIC_CUDA_CALL(cudaStreamCreateWithFlags(&slot.stream, cudaStreamNonBlocking));
      LACONIC_CUDA_CALL(cudaEventCreateWithFlags(&slot.ready, cudaEventDisableTiming));
      slot.first_bad.ensure(1);
      slot.first_bad_host.ensure(sizeof(u64));
    }
  }
  ~CudaBackend() override {
    for (Slot& slot : slots_) {
      if (slot.stream != nullptr) {
        cudaStreamSynchronize(slot.stream);
        cudaStreamDestroy(slot.stream);
      }
      if (slot.ready != nullptr) cudaEventDestroy(slot.ready);
    }
  }

  std::string name() const override { return "cuda (" + device_name_ + ")"; }
  int slots() const override { return static_cast<int>(slots_.size()); }
  u64 default_budget() const override { return default_budget_; }

  TermStats begin_layer(const LayerParams& p, const BatchPlan& plan, int activation_magnitude_bytes,
                        int weight_magnitude_bytes, const void* weight_magnitudes, u64 count) override {
    p_ = p;
    activation_bytes_ = activation_magnitude_bytes;
    cudaStream_t stream = slots_.front().stream;
    u8* magnitudes = weight_magnitudes_.ensure(count * static_cast<u64>(weight_magnitude_bytes));
    u8* terms = weight_terms_.ensure(count);
    LACONIC_CUDA_CALL(cudaMemcpyAsync(magnitudes, weight_magnitudes, count * static_cast<u64>(weight_magnitude_bytes),
                                      cudaMemcpyHostToDevice, stream));
    launch_terms(weight_magnitude_bytes, magnitudes, count, p.encoding, terms, stream);
    int* bins = weight_bins_.ensure(kBins);
    // Weight tensors larger than one histogram call allows are counted in parts.
    TermStats stats;
    std::vector<int> host_bins(kBins);
    for (u64 first = 0; first < count; first += kMaxBatchValues) {
      histogram_.run(terms + first, std::min(kMaxBatchValues, count - first), bins, stream);
      LACONIC_CUDA_CALL(cudaMemcpyAsync(host_bins.data(), bins, kBins * sizeof(int), cudaMemcpyDeviceToHost, stream));
      LACONIC_CUDA_CALL(cudaStreamSynchronize(stream));
      for (std::size_t t = 0; t < kBins; ++t) stats.histogram[t] += static_cast<u64>(host_bins[t]);
    }
    const u64 sums = weight_sums_body_count(p);
    u64* term_sums = term_sums_.ensure(sums);
    u64* nonzero_sums = nonzero_sums_.ensure(sums);
    launch_each(sums, WeightSumsOp{p, terms, term_sums, nonzero_sums}, stream, "weight sums kernel");
    if (p.cycles) {
      const u8* counted = terms;
      if (p.fold) {
        u8* folded = folded_weight_terms_.ensure(plan.weights.folded_terms);
        launch_each(fold_weights_body_count(p), FoldWeightsOp{p, terms, folded}, stream, "weight fold kernel");
        counted = folded;
      }
      u8* weight_max = weight_max_.ensure(plan.weights.maxima);
      launch_each(weight_max_body_count(p), WeightMaxOp{p, counted, weight_max}, stream, "weight maxima kernel");
    }

    // Every buffer of SampleBytes, for a full batch.
    const SampleBytes& b = plan.sample;
    const u64 per_batch = std::max<u64>(plan.samples_per_batch, 1);
    for (Slot& slot : slots_) {
      slot.staging.ensure(per_batch * b.magnitudes);
      slot.magnitudes.ensure(per_batch * b.magnitudes);
      slot.terms.ensure(per_batch * b.terms);
      const u64 folded_values = p.fold && p.cycles ? per_batch * static_cast<u64>(p.counted.per_sample) : 0;
      slot.folded_terms.ensure(folded_values);
      slot.folded_magnitudes.ensure(per_batch * b.folded - folded_values);
      slot.window_max.ensure(per_batch * b.window_max);
      slot.column_costs.ensure(per_batch * b.column_costs / sizeof(u16));
      slot.position_costs.ensure(per_batch * b.position_costs);
      slot.shifter_scratch.ensure(per_batch * b.shifter_scratch / sizeof(u64));
      slot.pragmatic_clock.ensure(per_batch * b.pragmatic_clock / sizeof(u64));
      slot.laconic_clock.ensure(per_batch * b.laconic_clock / sizeof(u64));
      slot.acc.ensure(per_batch * b.accumulators / sizeof(u64));
      slot.bins.ensure(kBins);
      slot.acc_host.ensure(per_batch * b.accumulators);
      slot.bins_host.ensure(kBins * sizeof(int));
      slot.in_flight = false;
    }
    LACONIC_CUDA_CALL(cudaStreamSynchronize(stream));
    return stats;
  }

  void* staging(int slot) override { return slots_[static_cast<std::size_t>(slot)].staging.get(); }

  void launch(int slot_index, u64 samples) override {
    Slot& slot = slots_[static_cast<std::size_t>(slot_index)];
    const u64 values = samples * static_cast<u64>(p_.layer.per_sample);
    LACONIC_CUDA_CALL(cudaMemcpyAsync(slot.magnitudes.get(), slot.staging.get(),
                                      values * static_cast<u64>(activation_bytes_), cudaMemcpyHostToDevice,
                                      slot.stream));
    slot.resident = nullptr;
    run(slot, samples);
  }

  // The values are on the device: after the work their producer queued on
  // the legacy default stream, they become the slot's magnitudes there.
  void launch_resident(int slot_index, const MemorySource& source, u64 first, u64 samples) override {
    Slot& slot = slots_[static_cast<std::size_t>(slot_index)];
    const u64 values = samples * static_cast<u64>(p_.layer.per_sample);
    if (first > source.size() || values > source.size() - first)
      throw Error(source.name() + ": batch past the end of the values");
    cudaStream_t stream = slot.stream;
    LACONIC_CUDA_CALL(cudaEventRecord(slot.ready, cudaStreamLegacy));
    LACONIC_CUDA_CALL(cudaStreamWaitEvent(stream, slot.ready, 0));
    u64* first_bad = slot.first_bad.get();
    LACONIC_CUDA_CALL(cudaMemsetAsync(first_bad, 0xff, sizeof(u64), stream));
    const u64 limit = u64{1} << source.conversion().precision.bits;
    auto convert = [&](auto value_tag, auto magnitude_tag) {
      using T = decltype(value_tag);
      using Magnitude = decltype(magnitude_tag);
      const T* in = static_cast<const T*>(source.data()) + first;
      auto* out = reinterpret_cast<Magnitude*>(slot.magnitudes.get());
      launch_each(values, ResidentMagnitudeOp<T, Magnitude>{in, source.conversion(), limit, out, first_bad}, stream,
                  "resident magnitudes kernel");
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
    LACONIC_CUDA_CALL(cudaMemcpyAsync(slot.first_bad_host.get(), first_bad, sizeof(u64), cudaMemcpyDeviceToHost,
                                      stream));
    slot.resident = &source;
    slot.resident_first = first;
    run(slot, samples);
  }

  void finish(int slot_index, std::vector<u64>& accumulators, TermStats& histogram) override {
    Slot& slot = slots_[static_cast<std::size_t>(slot_index)];
    if (!slot.in_flight) throw Error("cuda engine: finish without launch");
    slot.in_flight = false;
    LACONIC_CUDA_CALL(cudaStreamSynchronize(slot.stream));
    const MemorySource* resident = slot.resident;
    slot.resident = nullptr;
    if (resident != nullptr) {
      const u64 bad = *static_cast<const u64*>(slot.first_bad_host.get());
      if (bad != ~u64{0}) {
        const u64 index = slot.resident_first + bad;
        std::vector<unsigned char> raw(value_size(resident->type()));
        LACONIC_CUDA_CALL(cudaMemcpy(raw.data(),
                                     static_cast<const unsigned char*>(resident->data()) + index * raw.size(),
                                     raw.size(), cudaMemcpyDeviceToHost));
        throw Error(resident_error(*resident, index, raw.data()));
      }
    }
    const auto* acc = static_cast<const u64*>(slot.acc_host.get());
    accumulators.assign(acc, acc + slot.samples * kAccumulators);
    const auto* bins = static_cast<const int*>(slot.bins_host.get());
    for (int t = 0; t < kBins; ++t) histogram.histogram[static_cast<std::size_t>(t)] += static_cast<u64>(bins[t]);
  }

 private:
  struct Slot {
    cudaStream_t stream = nullptr;
    PinnedBuffer staging, acc_host, bins_host;
    DeviceBuffer<u8> magnitudes, terms, folded_terms, folded_magnitudes, window_max, position_costs;
    DeviceBuffer<u16> column_costs;
    DeviceBuffer<u64> shifter_scratch, pragmatic_clock, laconic_clock, acc;
    DeviceBuffer<int> bins;
    TermHistogram histogram;
    u64 samples = 0;
    bool in_flight = false;
    // Resident batches: the producer's stream is waited for through `ready`;
    // the batch's lowest unconvertible value lands in first_bad(_host).
    cudaEvent_t ready = nullptr;
    DeviceBuffer<u64> first_bad;
    PinnedBuffer first_bad_host;
    const MemorySource* resident = nullptr;
    u64 resident_first = 0;
  };

  // The batch whose magnitudes are in the slot's device buffer.
  void run(Slot& slot, u64 samples) {
    const LayerParams& p = p_;
    cudaStream_t stream = slot.stream;
    const u64 values = samples * static_cast<u64>(p.layer.per_sample);
    u8* terms = slot.terms.get();
    u64* acc = slot.acc.get();
    launch_terms(activation_bytes_, slot.magnitudes.get(), values, p.encoding, terms, stream);
    slot.histogram.run(terms, values, slot.bins.get(), stream);
    LACONIC_CUDA_CALL(cudaMemsetAsync(acc, 0, samples * kAccumulators * sizeof(u64), stream));
    if (p.work) {
      if (p.fc)
        launch_each(fc_work_body_count(p, samples),
                    FcWorkOp{p, terms, term_sums_.get(), nonzero_sums_.get(), acc}, stream, "fc work kernel");
      else
        launch_each(conv_work_body_count(p, samples),
                    ConvWorkOp{p, terms, term_sums_.get(), nonzero_sums_.get(), acc}, stream, "conv work kernel");
    }
    if (p.cycles) {
      switch (activation_bytes_) {
        case 1: launch_cycles<std::uint8_t>(slot, samples); break;
        case 2: launch_cycles<std::uint16_t>(slot, samples); break;
        default: launch_cycles<std::uint32_t>(slot, samples); break;
      }
    }
    LACONIC_CUDA_CALL(cudaMemcpyAsync(slot.acc_host.get(), acc, samples * kAccumulators * sizeof(u64),
                                      cudaMemcpyDeviceToHost, stream));
    LACONIC_CUDA_CALL(cudaMemcpyAsync(slot.bins_host.get(), slot.bins.get(), kBins * sizeof(int),
                                      cudaMemcpyDeviceToHost, stream));
    slot.samples = samples;
    slot.in_flight = true;
  }

  // §5, §8, §9: Pragmatic's and Laconic's cycles of the batch in `slot`, on
  // the counted layer (the fold's copy, or the layer itself).
  template <class Magnitude>
  void launch_cycles(Slot& slot, u64 samples) {
    const LayerParams& p = p_;
    cudaStream_t stream = slot.stream;
    u64* acc = slot.acc.get();
    const u8* counted_terms = slot.terms.get();
    const auto* counted_magnitudes = reinterpret_cast<const Magnitude*>(slot.magnitudes.get());
    if (p.fold) {
      auto* folded_magnitudes = reinterpret_cast<Magnitude*>(slot.folded_magnitudes.get());
      launch_each(fold_activations_body_count(p, samples),
                  FoldActivationsOp<Magnitude>{p, slot.terms.get(), counted_magnitudes, slot.folded_terms.get(),
                                               folded_magnitudes},
                  stream, "activation fold kernel");
      counted_terms = slot.folded_terms.get();
      counted_magnitudes = folded_magnitudes;
    }

    // Laconic.
    const u8* weight_max = weight_max_.get();
    if (p.fc) {
      launch_each(samples, FcLaconicOp{p, counted_terms, weight_max, slot.laconic_clock.get(), acc}, stream,
                  "fc laconic kernel");
    } else if (p.laconic.registers == 0) {
      launch_each(window_max_body_count(p, samples), WindowMaxOp{p, counted_terms, slot.window_max.get()}, stream,
                  "window maxima kernel");
      launch_step_sums(laconic_step_body_count(p, samples), LaconicStepCostOp{p, slot.window_max.get(), weight_max}, 1,
                       kLaconicCycles, acc, stream, "laconic step kernel");
    } else {
      launch_each(laconic_step_body_count(p, samples),
                  ColumnCostOp{p, counted_terms, weight_max, slot.column_costs.get()}, stream, "column cost kernel");
      launch_each(samples, LaconicScanOp{p, slot.column_costs.get(), slot.laconic_clock.get(), acc}, stream,
                  "laconic column clock kernel");
    }

    // Pragmatic.
    u8* position_costs = slot.position_costs.get();
    launch_each(position_cost_body_count(p, samples),
                PositionCostOp<Magnitude>{p, counted_magnitudes, slot.shifter_scratch.get(), position_costs}, stream,
                "position cost kernel");
    if (p.fc)
      launch_each(samples, FcPragmaticOp{p, position_costs, slot.pragmatic_clock.get(), acc}, stream,
                  "fc pragmatic kernel");
    else if (p.pragmatic.registers == 0)
      launch_step_sums(pragmatic_step_body_count(p, samples), PragmaticStepCostOp{p, position_costs},
                       static_cast<u64>(p.pragmatic.plan.filter_sets), kPragmaticCycles, acc, stream,
                       "pragmatic step kernel");
    else
      launch_each(samples, PragmaticScanOp{p, position_costs, slot.pragmatic_clock.get(), acc}, stream,
                  "pragmatic column clock kernel");
  }

  std::vector<Slot> slots_;
  std::string device_name_;
  u64 default_budget_ = 0;
  LayerParams p_;
  int activation_bytes_ = 1;
  DeviceBuffer<u8> weight_magnitudes_, weight_terms_, folded_weight_terms_, weight_max_;
  DeviceBuffer<u64> term_sums_, nonzero_sums_;
  DeviceBuffer<int> weight_bins_;
  TermHistogram histogram_;
};

}  // namespace
}  // namespace grid

std::unique_ptr<Engine> make_cuda_engine(const EngineOptions& options) {
  grid::GridOptions grid_options;
  grid_options.memory_budget = options.device_memory;
  auto backend = std::make_unique<grid::CudaBackend>(grid_options.slots);
  return std::make_unique<grid::GridEngine>(std::move(backend), grid_options, "cuda");
}

DeviceBandwidth measure_device_bandwidth(std::uint64_t values, int magnitude_bytes, int repeat) {
  using grid::u8;
  LACONIC_CUDA_CALL(cudaSetDevice(0));
  cudaDeviceProp prop{};
  LACONIC_CUDA_CALL(cudaGetDeviceProperties(&prop, 0));
  grid::g_blocks_cap = prop.multiProcessorCount * (prop.maxThreadsPerMultiProcessor / grid::kThreads);
  DeviceBandwidth out;
  out.device = prop.name;
  const std::size_t bytes = values * static_cast<std::size_t>(magnitude_bytes);
  grid::DeviceBuffer<u8> source, target, terms;
  grid::PinnedBuffer host;
  u8* src = source.ensure(bytes);
  u8* dst = target.ensure(bytes);
  u8* t = terms.ensure(values);
  void* pinned = host.ensure(bytes);
  // Magnitudes with every term count a 16-bit trace has, so the kernel does real work.
  std::vector<u8> pattern(bytes);
  for (std::size_t i = 0; i < bytes; ++i) pattern[i] = static_cast<u8>((i * 2654435761u) >> 13);
  std::copy(pattern.begin(), pattern.end(), static_cast<u8*>(pinned));
  LACONIC_CUDA_CALL(cudaMemcpy(src, pinned, bytes, cudaMemcpyHostToDevice));
  cudaEvent_t start = nullptr, stop = nullptr;
  LACONIC_CUDA_CALL(cudaEventCreate(&start));
  LACONIC_CUDA_CALL(cudaEventCreate(&stop));
  auto time = [&](auto&& body) {
    float best = 1e30f;
    for (int i = 0; i < std::max(1, repeat) + 1; ++i) {  // the first run warms up
      LACONIC_CUDA_CALL(cudaEventRecord(start));
      body();
      LACONIC_CUDA_CALL(cudaEventRecord(stop));
      LACONIC_CUDA_CALL(cudaEventSynchronize(stop));
      float ms = 0;
      LACONIC_CUDA_CALL(cudaEventElapsedTime(&ms, start, stop));
      if (i > 0) best = std::min(best, ms);
    }
    return static_cast<double>(best) / 1e3;
  };
  const double d2d = time([&] { LACONIC_CUDA_CALL(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice)); });
  const double h2d = time([&] { LACONIC_CUDA_CALL(cudaMemcpyAsync(dst, pinned, bytes, cudaMemcpyHostToDevice)); });
  const double kernel = time([&] { grid::launch_terms(magnitude_bytes, src, values, Encoding::booth, t, nullptr); });
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  out.d2d_bytes_per_s = 2.0 * static_cast<double>(bytes) / d2d;
  out.h2d_pinned_bytes_per_s = static_cast<double>(bytes) / h2d;
  out.terms_bytes_per_s = static_cast<double>(bytes + values) / kernel;
  out.terms_values_per_s = static_cast<double>(values) / kernel;
  return out;
}

}  // namespace laconic
