// The cuda engine's computation, written once for the GPU and for a CPU
// emulation of it (MODEL.md §3–§5).
//
// Each kernel of the cuda engine is one "body": a function of a flat index
// that the GPU runs as one thread per index and the emulation runs as a loop.
// The bodies, the batch plan and the driver that streams a layer's samples
// through a device in batches are all plain C++; only the launches, copies
// and streams live in kernels/engine_cuda.cu. The emulation (GridEngine over
// an EmulatedBackend) runs every body and every planning decision of the
// cuda engine on the CPU, so the tests check that logic against the
// reference engine on machines without a GPU.
//
// Layouts (all row-major, one byte per term):
//   activation terms   [sample][c][y][x]                (the trace's own order)
//   weight terms       [k][c'][r][s]
//   weight sums        [group][c'][r·S+s]               (§4 G, Σ over the group's filters)
//   weight maxima      [group][filter set][r·S+s][c']   (§5, max over the set's filters)
//   activation maxima  [sample][group][window set][r·S+s][c']  (§5, max over the set's windows)
//   accumulators       [sample][kAccumulators]
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/engine.hpp"
#include "laconic/host_device.hpp"
#include "laconic/layer.hpp"
#include "laconic/model.hpp"
#include "laconic/results.hpp"
#include "laconic/terms.hpp"

namespace laconic {
namespace grid {

using u8 = std::uint8_t;
using u64 = std::uint64_t;
using i64 = std::int64_t;

// Per-sample sums the kernels accumulate (everything else of §4/§5 follows
// from the shape, see model.hpp).
enum Accumulator : int {
  kLaconicWork = 0,      // Σ t(a)·t(w)
  kNonzeroPairs = 1,     // Σ [a ≠ 0]·[w ≠ 0]
  kActivationTerms = 2,  // Σ t(a) over (c, r, s, oh, ow) positions
  kLaconicCycles = 3,    // Σ over steps (conv) or the recurrence's result (FC)
  kAccumulators = 4,
};

// Number of histogram bins: t = 0 … kMaxTerms.
inline constexpr int kBins = kMaxTerms + 1;

// A layer as the kernels see it: plain integers, passed by value.
struct LayerParams {
  i64 fc = 0;  // 1 for an FC layer
  i64 channels = 0, height = 0, width = 0, filters = 0;
  i64 kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0, groups = 1;
  i64 out_h = 1, out_w = 1, cg = 0, kg = 0, rs = 1;
  i64 set_size = 0, columns = 0, lanes = 0;  // T·Rt, Ct, L
  i64 filter_sets = 0, window_sets = 0, channel_blocks = 0;
  i64 per_sample = 0;  // C·H·W
  Encoding encoding = Encoding::booth;
  bool work = true, cycles = true;  // which figures to compute (terms always)
};

LayerParams make_params(const LayerShape& shape, const ProfileConfig& config);

// Index counts of the bodies below, for a batch of `samples` samples.
inline u64 weight_body_count(const LayerParams& p) { return static_cast<u64>(p.groups * p.cg * p.rs); }
inline u64 conv_work_body_count(const LayerParams& p, u64 samples) {
  return samples * static_cast<u64>(p.channels * p.rs);
}
inline u64 act_max_body_count(const LayerParams& p, u64 samples) {
  return samples * static_cast<u64>(p.groups * p.window_sets * p.rs * p.cg);
}
inline u64 conv_step_body_count(const LayerParams& p, u64 samples) {
  return samples * static_cast<u64>(p.groups * p.window_sets * p.filter_sets * p.rs * p.channel_blocks);
}
inline constexpr i64 kFcChunk = 32;  // channels per FC work index
inline u64 fc_work_body_count(const LayerParams& p, u64 samples) {
  return samples * static_cast<u64>((p.channels + kFcChunk - 1) / kFcChunk);
}
// Bytes of activation maxima per sample (conv) and of recurrence scratch (FC).
inline u64 act_max_bytes_per_sample(const LayerParams& p) {
  return p.fc ? 0 : static_cast<u64>(p.groups * p.window_sets * p.rs * p.cg);
}
inline u64 busy_bytes_per_sample(const LayerParams& p) {
  return p.fc ? static_cast<u64>(p.columns) * sizeof(u64) : 0;
}

LACONIC_HOST_DEVICE inline void add_to(u64* target, u64 value) {
#if defined(__CUDA_ARCH__)
  atomicAdd(reinterpret_cast<unsigned long long*>(target), static_cast<unsigned long long>(value));
#else
  __atomic_fetch_add(target, value, __ATOMIC_RELAXED);
#endif
}

LACONIC_HOST_DEVICE inline u8 max_u8(u8 a, u8 b) { return a > b ? a : b; }

// §3: terms of value i from its magnitude.
template <class Magnitude>
LACONIC_HOST_DEVICE inline void terms_body(u64 i, const Magnitude* magnitudes, Encoding encoding, u8* terms) {
  terms[i] = static_cast<u8>(terms_of_magnitude(encoding, magnitudes[i]));
}

// §3 four values at a time: index i covers values 4i … 4i+3 (fewer at the
// end), read and written as whole words where the device allows it. The
// buffers start at a multiple of 16 bytes (cudaMalloc gives 256).
inline u64 terms4_body_count(u64 values) { return (values + 3) / 4; }

template <class Magnitude>
LACONIC_HOST_DEVICE inline void load4(const Magnitude* from, Magnitude* to) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(Magnitude) == 1) {
    const uchar4 v = *reinterpret_cast<const uchar4*>(from);
    to[0] = v.x, to[1] = v.y, to[2] = v.z, to[3] = v.w;
  } else if constexpr (sizeof(Magnitude) == 2) {
    const ushort4 v = *reinterpret_cast<const ushort4*>(from);
    to[0] = v.x, to[1] = v.y, to[2] = v.z, to[3] = v.w;
  } else {
    const uint4 v = *reinterpret_cast<const uint4*>(from);
    to[0] = v.x, to[1] = v.y, to[2] = v.z, to[3] = v.w;
  }
#else
  for (int k = 0; k < 4; ++k) to[k] = from[k];
#endif
}

template <class Magnitude>
LACONIC_HOST_DEVICE inline void terms4_body(u64 index, const Magnitude* magnitudes, u64 count, Encoding encoding,
                                            u8* terms) {
  const u64 first = index * 4;
  if (first + 4 > count) {
    for (u64 i = first; i < count; ++i) terms_body(i, magnitudes, encoding, terms);
    return;
  }
  Magnitude m[4];
  load4(magnitudes + first, m);
  std::uint32_t packed = 0;
  for (int k = 0; k < 4; ++k)
    packed |= static_cast<std::uint32_t>(terms_of_magnitude(encoding, m[k])) << (8 * k);
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<std::uint32_t*>(terms + first) = packed;
#else
  for (int k = 0; k < 4; ++k) terms[first + static_cast<u64>(k)] = static_cast<u8>(packed >> (8 * k));
#endif
}

// Weights, one index per (group, c', r·S+s): §4's G sums over the group's
// filters and §5's maxima over each filter set.
LACONIC_HOST_DEVICE inline void weight_body(u64 index, const LayerParams& p, const u8* weight_terms, u64* term_sums,
                                            u64* nonzero_sums, u8* weight_max) {
  const i64 idx = static_cast<i64>(index);
  const i64 rsi = idx % p.rs;
  const i64 ci = (idx / p.rs) % p.cg;
  const i64 group = idx / (p.rs * p.cg);
  u64 sum = 0, nonzero = 0;
  for (i64 fs = 0; fs < p.filter_sets; ++fs) {
    u8 m = 0;
    const i64 last = (fs + 1) * p.set_size < p.kg ? (fs + 1) * p.set_size : p.kg;
    for (i64 f = fs * p.set_size; f < last; ++f) {
      const u8 t = weight_terms[((group * p.kg + f) * p.cg + ci) * p.rs + rsi];
      sum += t;
      nonzero += t != 0;
      m = max_u8(m, t);
    }
    weight_max[((group * p.filter_sets + fs) * p.rs + rsi) * p.cg + ci] = m;
  }
  term_sums[(group * p.cg + ci) * p.rs + rsi] = sum;
  nonzero_sums[(group * p.cg + ci) * p.rs + rsi] = nonzero;
}

// §4 conv, one index per (sample, c, r·S+s): F = Σ over the positions that
// kernel offset (r, s) touches (padding contributes 0), times G.
LACONIC_HOST_DEVICE inline void conv_work_body(u64 index, const LayerParams& p, const u8* terms,
                                               const u64* term_sums, const u64* nonzero_sums, u64* acc) {
  const i64 idx = static_cast<i64>(index);
  const i64 rsi = idx % p.rs;
  const i64 c = (idx / p.rs) % p.channels;
  const i64 n = idx / (p.rs * p.channels);
  const i64 r = rsi / p.kernel_w, s = rsi % p.kernel_w;
  const u8* plane = terms + n * p.per_sample + c * p.height * p.width;
  u64 f_terms = 0, f_nonzero = 0;
  for (i64 ow = 0; ow < p.out_w; ++ow) {
    const i64 x = ow * p.stride_w + s - p.pad_left;
    if (x < 0 || x >= p.width) continue;
    for (i64 oh = 0; oh < p.out_h; ++oh) {
      const i64 y = oh * p.stride_h + r - p.pad_top;
      if (y < 0 || y >= p.height) continue;
      const u8 t = plane[y * p.width + x];
      f_terms += t;
      f_nonzero += t != 0;
    }
  }
  if (f_terms == 0) return;  // then f_nonzero is 0 too
  const i64 g_index = c * p.rs + rsi;  // [group][c'][r·S+s] with group·(C/g) + c' = c
  u64* a = acc + n * kAccumulators;
  add_to(a + kLaconicWork, f_terms * term_sums[g_index]);
  add_to(a + kNonzeroPairs, f_nonzero * nonzero_sums[g_index]);
  add_to(a + kActivationTerms, f_terms);
}

// §5 conv, one index per (sample, group, window set, r·S+s, c'): the largest
// activation term over the set's windows (oh fastest, §5), 0 in the padding.
LACONIC_HOST_DEVICE inline void act_max_body(u64 index, const LayerParams& p, const u8* terms, u8* act_max) {
  const i64 idx = static_cast<i64>(index);
  const i64 ci = idx % p.cg;
  const i64 rsi = (idx / p.cg) % p.rs;
  const i64 ws = (idx / (p.cg * p.rs)) % p.window_sets;
  const i64 group = (idx / (p.cg * p.rs * p.window_sets)) % p.groups;
  const i64 n = idx / (p.cg * p.rs * p.window_sets * p.groups);
  const i64 r = rsi / p.kernel_w, s = rsi % p.kernel_w;
  const u8* plane = terms + n * p.per_sample + (group * p.cg + ci) * p.height * p.width;
  const i64 windows = p.out_h * p.out_w;
  const i64 first = ws * p.columns;
  const i64 last = first + p.columns < windows ? first + p.columns : windows;
  u8 m = 0;
  for (i64 w = first; w < last; ++w) {
    const i64 y = (w % p.out_h) * p.stride_h + r - p.pad_top;
    const i64 x = (w / p.out_h) * p.stride_w + s - p.pad_left;
    if (y >= 0 && y < p.height && x >= 0 && x < p.width) m = max_u8(m, plane[y * p.width + x]);
  }
  act_max[idx] = m;
}

// §5 conv, one index per step (sample, group, window set, filter set, r·S+s,
// channel block): max(1, max over lanes of activation max · weight max).
LACONIC_HOST_DEVICE inline unsigned conv_step_cost(u64 index, const LayerParams& p, const u8* act_max,
                                                   const u8* weight_max, i64* sample) {
  const i64 idx = static_cast<i64>(index);
  const i64 block = idx % p.channel_blocks;
  const i64 rsi = (idx / p.channel_blocks) % p.rs;
  const i64 fs = (idx / (p.channel_blocks * p.rs)) % p.filter_sets;
  const i64 ws = (idx / (p.channel_blocks * p.rs * p.filter_sets)) % p.window_sets;
  const i64 group = (idx / (p.channel_blocks * p.rs * p.filter_sets * p.window_sets)) % p.groups;
  const i64 n = idx / (p.channel_blocks * p.rs * p.filter_sets * p.window_sets * p.groups);
  const u8* a = act_max + (((n * p.groups + group) * p.window_sets + ws) * p.rs + rsi) * p.cg;
  const u8* w = weight_max + ((group * p.filter_sets + fs) * p.rs + rsi) * p.cg;
  const i64 begin = block * p.lanes;
  const i64 end = begin + p.lanes < p.cg ? begin + p.lanes : p.cg;
  unsigned slowest = 1;  // a step costs at least 1
  for (i64 l = begin; l < end; ++l) {
    const unsigned product = static_cast<unsigned>(a[l]) * w[l];
    if (product > slowest) slowest = product;
  }
  *sample = n;
  return slowest;
}

LACONIC_HOST_DEVICE inline void conv_step_body(u64 index, const LayerParams& p, const u8* act_max,
                                               const u8* weight_max, u64* acc) {
  i64 n = 0;
  const unsigned cost = conv_step_cost(index, p, act_max, weight_max, &n);
  add_to(acc + n * kAccumulators + kLaconicCycles, cost);
}

// §4 FC, one index per (sample, chunk of kFcChunk channels).
LACONIC_HOST_DEVICE inline void fc_work_body(u64 index, const LayerParams& p, const u8* terms, const u64* term_sums,
                                             const u64* nonzero_sums, u64* acc) {
  const i64 chunks = (p.channels + kFcChunk - 1) / kFcChunk;
  const i64 idx = static_cast<i64>(index);
  const i64 n = idx / chunks;
  const i64 begin = (idx % chunks) * kFcChunk;
  const i64 end = begin + kFcChunk < p.channels ? begin + kFcChunk : p.channels;
  const u8* t = terms + n * p.per_sample;
  u64 laconic = 0, nonzero = 0, activation = 0;
  for (i64 c = begin; c < end; ++c) {
    laconic += t[c] * term_sums[c];
    nonzero += t[c] != 0 ? nonzero_sums[c] : 0;
    activation += t[c];
  }
  if (activation == 0) return;
  u64* a = acc + n * kAccumulators;
  add_to(a + kLaconicWork, laconic);
  add_to(a + kNonzeroPairs, nonzero);
  add_to(a + kActivationTerms, activation);
}

// §5 FC, one index per sample: the column recurrence, blocks costed from the
// filter-set maxima (weight maxima of an FC layer are [filter set][c]).
LACONIC_HOST_DEVICE inline void fc_cycles_body(u64 index, const LayerParams& p, const u8* terms,
                                               const u8* weight_max, u64* busy, u64* acc) {
  const i64 n = static_cast<i64>(index);
  const u8* t = terms + n * p.per_sample;
  const u64 blocks = static_cast<u64>(p.filter_sets * p.channel_blocks);
  acc[n * kAccumulators + kLaconicCycles] =
      fc_recurrence(blocks, p.columns, busy + n * p.columns, [&](u64 i) -> u64 {
        const i64 fs = static_cast<i64>(i) / p.channel_blocks;
        const i64 begin = (static_cast<i64>(i) % p.channel_blocks) * p.lanes;
        const i64 end = begin + p.lanes < p.channels ? begin + p.lanes : p.channels;
        const u8* w = weight_max + fs * p.channels;
        unsigned slowest = 1;
        for (i64 l = begin; l < end; ++l) {
          const unsigned product = static_cast<unsigned>(t[l]) * w[l];
          if (product > slowest) slowest = product;
        }
        return slowest;
      });
}

// ---------------------------------------------------------------------------
// Host side: what moves to the device, how a layer is cut into batches, and
// the driver that streams batches through a backend.

// Magnitudes travel in the narrowest unsigned type that holds every value of
// the declared width: |v| < 2^bits for a bits-wide value, signed or not.
int magnitude_bytes(const Precision& precision);

struct GridOptions {
  // Device memory the engine may use; 0 = a fraction of the free memory
  // (cuda) or unlimited (emulation).
  u64 memory_budget = 0;
  // Largest staging buffer (pinned host memory) per slot: a layer with more
  // samples is cut into several batches so that copies overlap compute.
  u64 max_batch_bytes = u64{64} << 20;
  int slots = 2;  // batches in flight (streams)
};

// Bytes the plan reserves beyond the buffers it counts, for the libraries'
// temporary storage (CUB's histogram needs far less).
inline constexpr u64 kScratchAllowance = u64{16} << 20;
// A batch holds at most this many values, so 32-bit histogram counters and
// offsets cannot overflow within one batch.
inline constexpr u64 kMaxBatchValues = u64{1} << 30;

struct BatchPlan {
  u64 samples = 0;             // samples in the range
  u64 samples_per_batch = 0;   // 0 only when samples is 0
  u64 batches = 0;
  u64 weight_bytes = 0;        // device bytes held for the layer's weights
  u64 bytes_per_sample = 0;    // device bytes per sample of a batch buffer
  u64 staging_bytes_per_sample = 0;
  u64 device_bytes = 0;        // the plan's total device footprint
};

// Plans a layer: how many samples go in one batch so that the weights, `slots`
// batch buffers and kScratchAllowance fit `budget` bytes (0 = no limit), a
// staging buffer stays within max_batch_bytes (at least one sample), and a
// batch within kMaxBatchValues. Throws laconic::Error naming the layer when
// not even one sample fits the budget.
BatchPlan plan_batches(const std::string& layer_name, const LayerParams& p, const Precision& activation_precision,
                       const Precision& weight_precision, u64 samples, const GridOptions& options);

// Where a driver runs the bodies: the GPU, or the CPU emulation.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual int slots() const = 0;
  // Free device memory, for the default budget (0 = unknown, no limit).
  virtual u64 default_budget() const = 0;
  // Sets up a layer: allocates the plan's buffers, moves the weights'
  // magnitudes (weight_magnitudes, `count` values of magnitude_bytes(p_w)
  // bytes each) and runs the weight bodies. Returns the weights' histogram.
  virtual TermStats begin_layer(const LayerParams& p, const BatchPlan& plan, int activation_magnitude_bytes,
                                int weight_magnitude_bytes, const void* weight_magnitudes, u64 count) = 0;
  // Host buffer of `slot` to fill with a batch's magnitudes (room for
  // samples_per_batch samples); valid until the next launch on the slot.
  virtual void* staging(int slot) = 0;
  // Starts the batch staged in `slot` (may return before it is done).
  virtual void launch(int slot, u64 samples) = 0;
  // Waits for the slot's batch; writes its accumulators (samples ×
  // kAccumulators) and adds its activation terms to `histogram`.
  virtual void finish(int slot, std::vector<u64>& accumulators, TermStats& histogram) = 0;
};

// The emulation: every body run in OpenMP loops on the CPU.
std::unique_ptr<Backend> make_emulated_backend(int slots);

// An Engine over a backend: validates, plans, streams batches (reading and
// narrowing the trace on the host while the backend runs the previous
// batch) and merges per-batch results in sample order.
class GridEngine final : public Engine {
 public:
  GridEngine(std::unique_ptr<Backend> backend, GridOptions options, std::string name);
  std::string_view name() const override { return name_; }
  LayerResult profile(const LayerInput& layer, SampleRange range, const ProfileConfig& config) const override;

 private:
  std::unique_ptr<Backend> backend_;
  GridOptions options_;
  std::string name_;
};

// The cuda engine's logic on the CPU: tests use it where no GPU is.
std::unique_ptr<Engine> make_emulated_grid_engine(const GridOptions& options = {});

// Fills `out` (magnitude_bytes(precision) bytes per value) with the
// magnitudes of values [first, first + count) of `source`. Throws
// laconic::Error naming the source and element when a magnitude does not fit
// the declared width.
void read_magnitudes(const TensorSource& source, u64 first, u64 count, const Precision& precision, void* out,
                     bool parallel);

}  // namespace grid
}  // namespace laconic
