// The cuda engine: the bodies of laconic/grid.hpp as kernels, a layer's
// samples streamed through pinned staging buffers on one stream per slot, so
// that the host reads and narrows batch b+1 while the device copies and
// computes batch b. Every runtime call and launch is checked; with
// LACONIC_CUDA_SYNC=1 in the environment every launch is also waited for, so
// that an asynchronous fault names its kernel.
//
// Per layer, in one device allocation (the layer's arena, laid out by
// grid::device_layout and kept for the next layer when large enough): the
// weights' terms and their histogram, the §4 sums and, for cycles, the §8
// fold of the weights and Laconic's weight maxima. Per batch, on the slot's
// stream: copy the magnitudes in; terms (one byte per value, computed once
// and reused by every metric) counted into the batch's histogram in the same
// kernel; the §4 work sums; for cycles, the §8 fold of the activations, then
// Laconic (window-set maxima and step costs with R = 0, column costs and the
// column clock with R ≥ 1, or FC block costs and the recurrence) and
// Pragmatic (§9 shifter cycles per input position and lane block, then step
// costs, column costs and the column clock, or the FC recurrence); copy the
// batch's results (histogram and per-sample sums) out in one copy. The
// column clocks and the FC recurrences run one thread per sample (see
// laconic/grid.hpp); per-sample sums are added once per warp and sample.
//
// A resident batch (activations already in device memory, a MemorySource
// from live profiling) skips the staging copy: its stream waits for the work
// queued on the legacy default stream, where the values' producer made them
// ready, converts them into the slot's magnitudes on the device (§2,
// resident_magnitude_body) with its lowest bad index in the results header,
// and then runs the same kernels as a staged batch.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda_check.hpp"
#include "laconic/device.hpp"
#include "laconic/engine.hpp"
#include "laconic/grid.hpp"

namespace laconic {
namespace grid {
namespace {

constexpr int kThreads = 256;

// One device allocation that grows on demand; growing frees the old one
// first, so that what is held never exceeds the largest request.
class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena() {
    if (data_ != nullptr) cudaFree(data_);
  }
  void* ensure(u64 bytes) {
    if (bytes > capacity_) {
      if (data_ != nullptr) LACONIC_CUDA_CALL(cudaFree(data_));
      data_ = nullptr;
      capacity_ = 0;
      LACONIC_CUDA_CALL(cudaMalloc(&data_, std::max<u64>(bytes, kBufferAlignment)));
      capacity_ = bytes;
      peak_ = std::max(peak_, capacity_);
    }
    return data_;
  }
  u64 capacity() const { return capacity_; }
  u64 peak() const { return peak_; }

 private:
  void* data_ = nullptr;
  u64 capacity_ = 0, peak_ = 0;
};

// Page-locked host memory, so that copies run asynchronously at full speed.
// Host memory is not part of the device budget; it grows on demand.
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

// ---------------------------------------------------------------------------
// Kernels.

// A grid-stride loop over a body's indices.
template <class Op>
__global__ void for_each_kernel(u64 count, Op op) {
  const u64 step = static_cast<u64>(gridDim.x) * blockDim.x;
  for (u64 i = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) op(i);
}

// The device's lane collectives for grid::add_by_key.
struct DeviceWarp {
  u32 active;
  __device__ u32 match(u64 key) const { return __match_any_sync(active, static_cast<unsigned long long>(key)); }
  __device__ u32 sum(u32 lanes, int, int, u32 own) const { return __reduce_add_sync(lanes, own); }
  __device__ int lane() const { return static_cast<int>(threadIdx.x % kWarpLanes); }
};

// Per-sample sums: op(i, values) returns index i's sample and its N values
// for accumulators first_slot …; the lanes of a warp that share a sample add
// once (grid::add_by_key). The loop bound is uniform per block, so whole
// warps iterate and the ballot sees every lane.
template <int N, int Parts, class Op>
__global__ void keyed_sum_kernel(u64 count, Op op, int first_slot, u64* acc, u64 scale) {
  const u64 step = static_cast<u64>(gridDim.x) * blockDim.x;
  for (u64 base = static_cast<u64>(blockIdx.x) * blockDim.x; base < count; base += step) {
    const u64 i = base + threadIdx.x;
    const u32 active = __ballot_sync(0xFFFFFFFFu, i < count);
    if (i < count) {
      u64 values[N];
      const u64 key = op(i, values);
      add_by_key<N, Parts>(DeviceWarp{active}, key, values, first_slot, acc, scale);
    }
  }
}

// §3 terms of `count` magnitudes, four per thread and step, counted into
// histogram[0 … kBins) on the way: per block, zeros (most values of a
// post-ReLU trace) in a register per thread summed per warp, the other
// counts in 33 shared-memory bins; then one global atomic per non-empty bin.
// A block counts fewer than 2^32 values (the launch gives it at most 2^30).
template <class Magnitude>
__global__ void terms_kernel(const Magnitude* magnitudes, u64 count, Encoding encoding, u8* terms, u64* histogram) {
  __shared__ u32 bins[kBins];
  for (int t = static_cast<int>(threadIdx.x); t < kBins; t += static_cast<int>(blockDim.x)) bins[t] = 0;
  __syncthreads();
  u32 zeros = 0;
  const u64 indices = terms4_body_count(count);
  const u64 step = static_cast<u64>(gridDim.x) * blockDim.x;
  for (u64 i = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x; i < indices; i += step) {
    const Terms4 t = terms4_body(i, magnitudes, count, encoding, terms);
    for (int k = 0; k < t.count; ++k) {
      const u32 v = (t.packed >> (8 * k)) & 0xFFu;
      if (v == 0)
        ++zeros;
      else
        atomicAdd(&bins[v], 1u);
    }
  }
  zeros = __reduce_add_sync(0xFFFFFFFFu, zeros);
  if (threadIdx.x % kWarpLanes == 0 && zeros != 0) atomicAdd(&bins[0], zeros);
  __syncthreads();
  for (int t = static_cast<int>(threadIdx.x); t < kBins; t += static_cast<int>(blockDim.x))
    if (bins[t] != 0) atomicAdd(reinterpret_cast<unsigned long long*>(histogram + t), static_cast<unsigned long long>(bins[t]));
}

// ---------------------------------------------------------------------------
// The bodies as function objects.

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
  __device__ u64 operator()(u64 i, u64 (&sums)[3]) const {
    return conv_work_sums(i, p, terms, term_sums, nonzero_sums, sums);
  }
};

struct FcWorkOp {
  LayerParams p;
  const u8* terms;
  const u64* term_sums;
  const u64* nonzero_sums;
  __device__ u64 operator()(u64 i, u64 (&sums)[3]) const {
    return fc_work_sums(i, p, terms, term_sums, nonzero_sums, sums);
  }
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
  __device__ u64 operator()(u64 i, u64 (&cost)[1]) const { return laconic_step_cost(i, p, window_max, weight_max, cost); }
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

struct FcBlockCostOp {
  LayerParams p;
  const u8* terms;
  const u8* weight_max;
  u16* block_costs;
  __device__ void operator()(u64 i) const { fc_block_cost_body(i, p, terms, weight_max, block_costs); }
};

struct FcLaconicOp {
  LayerParams p;
  const u16* block_costs;
  u64* clock;
  u64* acc;
  __device__ void operator()(u64 i) const { fc_laconic_body(i, p, block_costs, clock, acc); }
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
  __device__ u64 operator()(u64 i, u64 (&cost)[1]) const { return pragmatic_step_cost(i, p, position_costs, cost); }
};

struct PragmaticColumnOp {
  LayerParams p;
  const u8* position_costs;
  u8* column_costs;
  __device__ void operator()(u64 i) const { pragmatic_column_body(i, p, position_costs, column_costs); }
};

struct PragmaticScanOp {
  LayerParams p;
  const u8* column_costs;
  u64* clock;
  u64* acc;
  __device__ void operator()(u64 i) const { pragmatic_scan_body(i, p, column_costs, clock, acc); }
};

struct FcPragmaticOp {
  LayerParams p;
  const u8* position_costs;
  u64* clock;
  u64* acc;
  __device__ void operator()(u64 i) const { fc_pragmatic_body(i, p, position_costs, clock, acc); }
};

// ---------------------------------------------------------------------------
// Launching on one device.

bool sync_after_each_launch() {
  const char* value = std::getenv("LACONIC_CUDA_SYNC");
  return value != nullptr && std::string(value) == "1";
}

// The device's launch settings: how many blocks fill it, and whether every
// launch is waited for (LACONIC_CUDA_SYNC=1).
class Launcher {
 public:
  Launcher() = default;
  explicit Launcher(int device) : sync_(sync_after_each_launch()) {
    cudaDeviceProp prop{};
    LACONIC_CUDA_CALL(cudaGetDeviceProperties(&prop, device));
    blocks_cap_ = std::max(1, prop.multiProcessorCount * (prop.maxThreadsPerMultiProcessor / kThreads));
  }
  bool sync() const { return sync_; }

  template <class Op>
  void each(u64 count, Op op, cudaStream_t stream, const char* kernel) const {
    if (count == 0) return;
    for_each_kernel<<<blocks(count), kThreads, 0, stream>>>(count, op);
    launched(stream, kernel);
  }
  // Per-sample sums of N values in Parts parts (grid::add_by_key), times `scale`.
  template <int N, int Parts, class Op>
  void keyed(u64 count, Op op, int first_slot, u64* acc, cudaStream_t stream, const char* kernel, u64 scale = 1) const {
    if (count == 0) return;
    keyed_sum_kernel<N, Parts><<<blocks(count), kThreads, 0, stream>>>(count, op, first_slot, acc, scale);
    launched(stream, kernel);
  }
  // Terms of `count` magnitudes of `bytes` bytes each, counted into `histogram`.
  void terms(int bytes, const void* magnitudes, u64 count, Encoding encoding, u8* terms, u64* histogram,
             cudaStream_t stream) const {
    if (count == 0) return;
    // At most 2^30 values per block, for the blocks' 32-bit counters.
    const u64 blocks_needed = std::max<u64>(blocks(terms4_body_count(count)), (count >> 30) + 1);
    const auto grid = static_cast<unsigned>(std::min<u64>(blocks_needed, 0x7FFFFFFFu));
    switch (bytes) {
      case 1:
        terms_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const std::uint8_t*>(magnitudes), count, encoding,
                                                    terms, histogram);
        break;
      case 2:
        terms_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const std::uint16_t*>(magnitudes), count, encoding,
                                                    terms, histogram);
        break;
      default:
        terms_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const std::uint32_t*>(magnitudes), count, encoding,
                                                    terms, histogram);
        break;
    }
    launched(stream, "terms kernel");
  }

 private:
  unsigned blocks(u64 count) const {
    const u64 wanted = (count + kThreads - 1) / kThreads;
    return static_cast<unsigned>(std::min<u64>(wanted, static_cast<u64>(blocks_cap_)));
  }
  void launched(cudaStream_t stream, const char* kernel) const {
    cuda_check(cudaGetLastError(), (std::string("launch of the ") + kernel).c_str(), __FILE__, __LINE__);
    if (sync_)
      cuda_check(cudaStreamSynchronize(stream), (std::string("the ") + kernel + " (LACONIC_CUDA_SYNC=1)").c_str(),
                 __FILE__, __LINE__);
  }

  int blocks_cap_ = 1;  // resident blocks of kThreads threads on the device
  bool sync_ = false;
};

// Whether `device` can run this build's kernels: the runtime's answer for
// one of them (no image for the device's architecture is an error here, not
// at the first launch).
void check_kernel_image(int device) {
  cudaFuncAttributes attributes{};
  const cudaError_t status = cudaFuncGetAttributes(&attributes, terms_kernel<std::uint8_t>);
  if (status == cudaSuccess) return;
  cudaGetLastError();
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, device);
  throw Error("cuda engine: device " + std::to_string(device) + " (" + prop.name + ", sm_" +
              std::to_string(prop.major * 10 + prop.minor) + ") cannot run this build's kernels (built for " +
              LACONIC_CUDA_ARCHITECTURES + "): " + cudaGetErrorString(status));
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, int slots) : device_(device), slots_(static_cast<std::size_t>(std::max(1, slots))) {
    LACONIC_CUDA_CALL(cudaSetDevice(device));
    cudaDeviceProp prop{};
    LACONIC_CUDA_CALL(cudaGetDeviceProperties(&prop, device));
    device_name_ = prop.name;
    check_kernel_image(device);
    launcher_ = Launcher(device);
    std::size_t free_bytes = 0, total_bytes = 0;
    LACONIC_CUDA_CALL(cudaMemGetInfo(&free_bytes, &total_bytes));
    default_budget_ = static_cast<u64>(free_bytes) / 4 * 3;
    for (Slot& slot : slots_) {
      LACONIC_CUDA_CALL(cudaStreamCreateWithFlags(&slot.stream, cudaStreamNonBlocking));
      LACONIC_CUDA_CALL(cudaEventCreateWithFlags(&slot.ready, cudaEventDisableTiming));
    }
  }
  ~CudaBackend() override {
    cudaSetDevice(device_);
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
  u64 bytes_held() const override { return arena_.capacity(); }
  u64 peak_bytes_held() const override { return arena_.peak(); }

  TermStats begin_layer(const LayerParams& p, const BatchPlan& plan, int activation_magnitude_bytes,
                        int weight_magnitude_bytes, const void* weight_magnitudes, u64 count) override {
    LACONIC_CUDA_CALL(cudaSetDevice(device_));
    for (Slot& slot : slots_)
      if (slot.in_flight) throw Error("cuda engine: a layer begins while a batch is in flight");
    p_ = p;
    activation_bytes_ = activation_magnitude_bytes;
    layout_ = device_layout(plan, arena_.ensure(plan.device_bytes));
    const u64 per_batch = plan.samples_per_batch;
    for (Slot& slot : slots_) {
      slot.staging.ensure(per_batch * plan.sample.magnitudes);
      slot.results_host.ensure((kResultHeader + per_batch * kAccumulators) * sizeof(u64));
    }

    // The weights: copied in, terms and their histogram, §4 sums, the fold
    // and Laconic's maxima, all on the first slot's stream, waited for
    // before any batch starts.
    cudaStream_t stream = slots_.front().stream;
    const WeightBuffers& w = layout_.weights;
    LACONIC_CUDA_CALL(cudaMemcpyAsync(w.magnitudes, weight_magnitudes, plan.weights.magnitudes, cudaMemcpyHostToDevice,
                                      stream));
    LACONIC_CUDA_CALL(cudaMemsetAsync(w.histogram, 0, kBins * sizeof(u64), stream));
    launcher_.terms(weight_magnitude_bytes, w.magnitudes, count, p.encoding, w.terms, w.histogram, stream);
    launcher_.each(weight_sums_body_count(p), WeightSumsOp{p, w.terms, w.term_sums, w.nonzero_sums}, stream,
                   "weight sums kernel");
    if (p.cycles) {
      const u8* counted = w.terms;
      if (p.fold) {
        launcher_.each(fold_weights_body_count(p), FoldWeightsOp{p, w.terms, w.folded_terms}, stream,
                       "weight fold kernel");
        counted = w.folded_terms;
      }
      launcher_.each(weight_max_body_count(p), WeightMaxOp{p, counted, w.maxima}, stream, "weight maxima kernel");
    }
    std::vector<u64> bins(kBins);
    LACONIC_CUDA_CALL(cudaMemcpyAsync(bins.data(), w.histogram, kBins * sizeof(u64), cudaMemcpyDeviceToHost, stream));
    LACONIC_CUDA_CALL(cudaStreamSynchronize(stream));
    TermStats stats;
    for (int t = 0; t < kBins; ++t) stats.histogram[static_cast<std::size_t>(t)] = bins[static_cast<std::size_t>(t)];
    return stats;
  }

  void* staging(int slot) override { return slots_[static_cast<std::size_t>(slot)].staging.get(); }

  void launch(int slot_index, u64 samples) override {
    Slot& slot = slots_[static_cast<std::size_t>(slot_index)];
    start(slot, samples, [&] { enqueue(slot, layout_.slots[static_cast<std::size_t>(slot_index)], samples); });
    slot.resident = nullptr;
  }

  // The values are on the device: after the work their producer queued on
  // the legacy default stream, they become the slot's magnitudes there.
  void launch_resident(int slot_index, const MemorySource& source, u64 first, u64 samples) override {
    Slot& slot = slots_[static_cast<std::size_t>(slot_index)];
    const u64 values = samples * static_cast<u64>(p_.layer.per_sample);
    if (first > source.size() || values > source.size() - first)
      throw Error(source.name() + ": batch past the end of the values");
    start(slot, samples, [&] {
      enqueue_resident(slot, layout_.slots[static_cast<std::size_t>(slot_index)], source, first, samples);
    });
    slot.resident = &source;
    slot.resident_first = first;
  }

  void finish(int slot_index, std::vector<u64>& accumulators, TermStats& histogram) override {
    Slot& slot = slots_[static_cast<std::size_t>(slot_index)];
    if (!slot.in_flight) throw Error("cuda engine: finish without launch");
    slot.in_flight = false;
    const MemorySource* resident = slot.resident;
    slot.resident = nullptr;
    LACONIC_CUDA_CALL(cudaSetDevice(device_));
    cuda_check(cudaStreamSynchronize(slot.stream),
               launcher_.sync() ? "the copies of a batch"
                                : "a batch's kernels or copies (set LACONIC_CUDA_SYNC=1 to name the kernel)",
               __FILE__, __LINE__);
    const auto* results = static_cast<const u64*>(slot.results_host.get());
    if (resident != nullptr && results[kFirstBadWord] != ~u64{0}) {
      const u64 index = slot.resident_first + results[kFirstBadWord];
      std::vector<unsigned char> raw(value_size(resident->type()));
      LACONIC_CUDA_CALL(cudaMemcpy(raw.data(), static_cast<const unsigned char*>(resident->data()) + index * raw.size(),
                                   raw.size(), cudaMemcpyDeviceToHost));
      throw Error(resident_error(*resident, index, raw.data()));
    }
    accumulators.assign(results + kResultHeader, results + kResultHeader + slot.samples * kAccumulators);
    for (int t = 0; t < kBins; ++t) histogram.histogram[static_cast<std::size_t>(t)] += results[t];
  }

 private:
  struct Slot {
    cudaStream_t stream = nullptr;
    PinnedBuffer staging, results_host;
    u64 samples = 0;
    bool in_flight = false;
    // Resident batches: the producer's stream is waited for through `ready`;
    // `resident` names the batch's values when its first-bad word is set.
    cudaEvent_t ready = nullptr;
    const MemorySource* resident = nullptr;
    u64 resident_first = 0;
  };

  // Queues a batch on the slot's stream through `enqueue` and marks the slot
  // in flight. When queueing throws, part of the batch may be queued: waits
  // until the stream no longer reads the staging buffer or writes the slot's
  // buffers, and leaves the slot free.
  template <class Enqueue>
  void start(Slot& slot, u64 samples, Enqueue enqueue) {
    if (slot.in_flight) throw Error("cuda engine: slot launched twice without finish");
    try {
      LACONIC_CUDA_CALL(cudaSetDevice(device_));
      enqueue();
    } catch (...) {
      cudaStreamSynchronize(slot.stream);
      cudaGetLastError();
      throw;
    }
    slot.samples = samples;
    slot.in_flight = true;
  }

  // The batch staged in `slot`, queued on its stream.
  void enqueue(Slot& slot, const SlotBuffers& b, u64 samples) {
    const u64 values = samples * static_cast<u64>(p_.layer.per_sample);
    LACONIC_CUDA_CALL(cudaMemcpyAsync(b.magnitudes, slot.staging.get(), values * static_cast<u64>(activation_bytes_),
                                      cudaMemcpyHostToDevice, slot.stream));
    LACONIC_CUDA_CALL(cudaMemsetAsync(b.results, 0, result_bytes(samples), slot.stream));
    enqueue_kernels(slot, b, samples);
  }

  // The resident batch of values [first, first + samples · C·H·W) of
  // `source`, queued on the slot's stream after the legacy default stream's
  // work: §2's conversion into b.magnitudes (the lowest bad index into the
  // results' kFirstBadWord, set to ~0 first), then the staged batch's
  // kernels.
  void enqueue_resident(Slot& slot, const SlotBuffers& b, const MemorySource& source, u64 first, u64 samples) {
    cudaStream_t stream = slot.stream;
    const u64 values = samples * static_cast<u64>(p_.layer.per_sample);
    LACONIC_CUDA_CALL(cudaEventRecord(slot.ready, cudaStreamLegacy));
    LACONIC_CUDA_CALL(cudaStreamWaitEvent(stream, slot.ready, 0));
    LACONIC_CUDA_CALL(cudaMemsetAsync(b.results, 0, result_bytes(samples), stream));
    u64* first_bad = b.results + kFirstBadWord;
    LACONIC_CUDA_CALL(cudaMemsetAsync(first_bad, 0xff, sizeof(u64), stream));
    const u64 limit = u64{1} << source.conversion().precision.bits;
    with_resident_types(source.type(), activation_bytes_, [&](auto value_tag, auto magnitude_tag) {
      using T = decltype(value_tag);
      using Magnitude = decltype(magnitude_tag);
      const T* in = static_cast<const T*>(source.data()) + first;
      auto* out = reinterpret_cast<Magnitude*>(b.magnitudes);
      launcher_.each(values, ResidentMagnitudeOp<T, Magnitude>{in, source.conversion(), limit, out, first_bad}, stream,
                     "resident magnitudes kernel");
    });
    enqueue_kernels(slot, b, samples);
  }

  static u64 result_bytes(u64 samples) { return (kResultHeader + samples * kAccumulators) * sizeof(u64); }

  // The kernels of a batch whose magnitudes are in b.magnitudes and whose
  // results are zeroed (but for a resident batch's first-bad word), and the
  // copy of its results to the host, queued on the slot's stream.
  void enqueue_kernels(Slot& slot, const SlotBuffers& b, u64 samples) {
    const LayerParams& p = p_;
    cudaStream_t stream = slot.stream;
    const u64 values = samples * static_cast<u64>(p.layer.per_sample);
    launcher_.terms(activation_bytes_, b.magnitudes, values, p.encoding, b.terms, b.results, stream);
    u64* acc = b.results + kResultHeader;
    const WeightBuffers& w = layout_.weights;
    if (p.work) {
      if (p.fc)
        launcher_.keyed<3, 3>(fc_work_body_count(p, samples), FcWorkOp{p, b.terms, w.term_sums, w.nonzero_sums},
                           kLaconicWork, acc, stream, "fc work kernel");
      else
        launcher_.keyed<3, 3>(conv_work_body_count(p, samples), ConvWorkOp{p, b.terms, w.term_sums, w.nonzero_sums},
                           kLaconicWork, acc, stream, "conv work kernel");
    }
    if (p.cycles) {
      switch (activation_bytes_) {
        case 1: enqueue_cycles<std::uint8_t>(b, samples, stream); break;
        case 2: enqueue_cycles<std::uint16_t>(b, samples, stream); break;
        default: enqueue_cycles<std::uint32_t>(b, samples, stream); break;
      }
    }
    LACONIC_CUDA_CALL(
        cudaMemcpyAsync(slot.results_host.get(), b.results, result_bytes(samples), cudaMemcpyDeviceToHost, stream));
  }

  // §5, §8, §9: Pragmatic's and Laconic's cycles of the batch in buffers `b`,
  // on the counted layer (the fold's copy, or the layer itself), in the
  // order the emulation runs them (host/grid.cpp, cycles_of_batch).
  template <class Magnitude>
  void enqueue_cycles(const SlotBuffers& b, u64 samples, cudaStream_t stream) {
    const LayerParams& p = p_;
    u64* acc = b.results + kResultHeader;
    const u8* counted_terms = b.terms;
    const auto* counted_magnitudes = reinterpret_cast<const Magnitude*>(b.magnitudes);
    if (p.fold) {
      auto* folded_magnitudes = reinterpret_cast<Magnitude*>(b.folded_magnitudes);
      launcher_.each(fold_activations_body_count(p, samples),
                     FoldActivationsOp<Magnitude>{p, b.terms, counted_magnitudes, b.folded_terms, folded_magnitudes},
                     stream, "activation fold kernel");
      counted_terms = b.folded_terms;
      counted_magnitudes = folded_magnitudes;
    }

    // Laconic.
    const u8* weight_max = layout_.weights.maxima;
    const u64 laconic_steps = laconic_step_body_count(p, samples);
    if (p.fc) {
      launcher_.each(laconic_steps, FcBlockCostOp{p, counted_terms, weight_max, b.fc_block_costs}, stream,
                     "fc laconic block cost kernel");
      launcher_.each(samples, FcLaconicOp{p, b.fc_block_costs, b.laconic_clock, acc}, stream,
                     "fc laconic recurrence kernel");
    } else if (p.laconic.registers == 0) {
      launcher_.each(window_max_body_count(p, samples), WindowMaxOp{p, counted_terms, b.window_max}, stream,
                     "window maxima kernel");
      launcher_.keyed<1, 1>(laconic_steps, LaconicStepCostOp{p, b.window_max, weight_max}, kLaconicCycles, acc,
                            stream, "laconic step kernel");
    } else {
      launcher_.each(laconic_steps, ColumnCostOp{p, counted_terms, weight_max, b.laconic_columns}, stream,
                     "laconic column cost kernel");
      launcher_.each(samples, LaconicScanOp{p, b.laconic_columns, b.laconic_clock, acc}, stream,
                     "laconic column clock kernel");
    }

    // Pragmatic.
    launcher_.each(position_cost_body_count(p, samples),
                   PositionCostOp<Magnitude>{p, counted_magnitudes, b.shifter_scratch, b.position_costs}, stream,
                   "position cost kernel");
    if (p.fc) {
      launcher_.each(samples, FcPragmaticOp{p, b.position_costs, b.pragmatic_clock, acc}, stream,
                     "fc pragmatic recurrence kernel");
    } else if (p.pragmatic.registers == 0) {
      launcher_.keyed<1, 1>(pragmatic_step_body_count(p, samples), PragmaticStepCostOp{p, b.position_costs},
                            kPragmaticCycles, acc, stream, "pragmatic step kernel",
                            static_cast<u64>(p.pragmatic.plan.filter_sets));
    } else {
      launcher_.each(pragmatic_step_body_count(p, samples), PragmaticColumnOp{p, b.position_costs, b.pragmatic_columns},
                     stream, "pragmatic column cost kernel");
      launcher_.each(samples, PragmaticScanOp{p, b.pragmatic_columns, b.pragmatic_clock, acc}, stream,
                     "pragmatic column clock kernel");
    }
  }

  int device_;
  std::vector<Slot> slots_;
  std::string device_name_;
  Launcher launcher_;
  u64 default_budget_ = 0;
  DeviceArena arena_;
  DeviceLayout layout_;
  LayerParams p_;
  int activation_bytes_ = 1;
};

}  // namespace
}  // namespace grid

std::unique_ptr<Engine> make_cuda_engine(const EngineOptions& options) {
  grid::GridOptions grid_options;
  grid_options.memory_budget = options.device_memory;
  auto backend = std::make_unique<grid::CudaBackend>(options.device, grid_options.slots);
  return std::make_unique<grid::GridEngine>(std::move(backend), grid_options, "cuda");
}

DeviceBandwidth measure_device_bandwidth(std::uint64_t values, int magnitude_bytes, int repeat, int device) {
  using grid::u64;
  using grid::u8;
  LACONIC_CUDA_CALL(cudaSetDevice(device));
  cudaDeviceProp prop{};
  LACONIC_CUDA_CALL(cudaGetDeviceProperties(&prop, device));
  grid::check_kernel_image(device);
  const grid::Launcher launcher(device);
  DeviceBandwidth out;
  out.device = prop.name;
  const std::size_t bytes = values * static_cast<std::size_t>(magnitude_bytes);
  // Source, target, terms and histogram in one allocation.
  const u64 source_bytes = (bytes + 255) / 256 * 256, terms_bytes = (values + 255) / 256 * 256;
  grid::DeviceArena arena;
  auto* base = static_cast<u8*>(arena.ensure(2 * source_bytes + terms_bytes + grid::kBins * sizeof(u64)));
  u8* src = base;
  u8* dst = base + source_bytes;
  u8* t = base + 2 * source_bytes;
  auto* histogram = reinterpret_cast<u64*>(base + 2 * source_bytes + terms_bytes);
  grid::PinnedBuffer host;
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
  const double kernel = time([&] {
    LACONIC_CUDA_CALL(cudaMemsetAsync(histogram, 0, grid::kBins * sizeof(u64)));
    launcher.terms(magnitude_bytes, src, values, Encoding::booth, t, histogram, nullptr);
  });
  // The histogram must have counted every value once.
  std::vector<u64> bins(grid::kBins);
  LACONIC_CUDA_CALL(cudaMemcpy(bins.data(), histogram, grid::kBins * sizeof(u64), cudaMemcpyDeviceToHost));
  u64 counted = 0;
  for (u64 b : bins) counted += b;
  if (counted != values)
    throw Error("device bandwidth: the terms kernel counted " + std::to_string(counted) + " of " +
                std::to_string(values) + " values");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  out.d2d_bytes_per_s = 2.0 * static_cast<double>(bytes) / d2d;
  out.h2d_pinned_bytes_per_s = static_cast<double>(bytes) / h2d;
  out.terms_bytes_per_s = static_cast<double>(bytes + values) / kernel;
  out.terms_values_per_s = static_cast<double>(values) / kernel;
  return out;
}

}  // namespace laconic
