// The cuda engine's computation, written once for the GPU and for a CPU
// emulation of it (MODEL.md §3–§5, §8, §9).
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
// Work (§4) and term statistics are computed on the layer as given; cycles
// (§5, §8, §9) on the "counted" layer: the §8 first-layer fold of it where
// the fold applies, else the layer itself. The baseline's and Stripes'
// cycles do not depend on the data (model.hpp, data_independent_cycles);
// Pragmatic and Laconic each run at their own geometry through their own
// step plan (model.hpp StepPlan: lane groups, filter sets, channel blocks).
//
// Layouts (all row-major):
//   activation magnitudes  [sample][c][y][x]  magnitude_bytes each (the staging copy)
//   activation terms       [sample][c][y][x]  one byte each
//   weight terms           [k][c'][r][s]
//   weight sums            [group][c'][r·S+s]  (§4 G, Σ over the group's filters)
//   counted activations    [sample][c][y][x] of the counted layer, terms and magnitudes
//                          (a folded copy where the fold applies, else the two above)
//   counted weight terms   [k][c'][r][s] of the counted layer (likewise)
//   weight maxima          [lane group][filter set][r·S+s][lane]   (Laconic, §5: max over
//                          the set's filters that meet the lane)
//   window-set maxima      [sample][lane group][window set][r·S+s][lane]   (Laconic, R = 0)
//   column costs           [sample][step, §8 order][column], 16 bits   (Laconic, conv, R ≥ 1)
//   position costs         [sample][lane group][channel block][y][x]   (Pragmatic: §9's
//                          shifter over the block's lanes at one input position)
//   clock words            [sample][words] per accelerator (ColumnClock's E and M, or the
//                          FC recurrence's busy columns)
//   accumulators           [sample][kAccumulators]
//
// Bodies that run one index per sample, sequentially over the sample's steps
// or blocks: laconic_scan_body, pragmatic_scan_body (§8 column registers,
// R ≥ 1) and the FC recurrences fc_laconic_body, fc_pragmatic_body. Every
// other body does a bounded amount of work per index.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/engine.hpp"
#include "laconic/host_device.hpp"
#include "laconic/layer.hpp"
#include "laconic/memory_source.hpp"
#include "laconic/model.hpp"
#include "laconic/results.hpp"
#include "laconic/terms.hpp"

namespace laconic {
namespace grid {

using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u64 = std::uint64_t;
using i64 = std::int64_t;

// Per-sample sums the kernels accumulate (everything else of §4/§5 follows
// from the shape, see model.hpp).
enum Accumulator : int {
  kLaconicWork = 0,       // Σ t(a)·t(w)
  kNonzeroPairs = 1,      // Σ [a ≠ 0]·[w ≠ 0]
  kActivationTerms = 2,   // Σ t(a) over (c, r, s, oh, ow) positions
  kLaconicCycles = 3,     // Σ over steps (R = 0), the column clock (R ≥ 1) or the FC recurrence
  kPragmaticCycles = 4,   // likewise
  kAccumulators = 5,
};

// Number of histogram bins: t = 0 … kMaxTerms.
inline constexpr int kBins = kMaxTerms + 1;

// Lanes whose term positions the Pragmatic position-cost body keeps in a
// local array; a block of more lanes keeps them in a device buffer
// (SampleBytes::shifter_scratch).
inline constexpr i64 kShifterLocalLanes = 64;

// A layer's dimensions as the kernels see them: plain integers, by value.
// An FC layer is the 1×1 case (H = W = R = S = 1, one group).
struct LayerDims {
  i64 channels = 0, height = 1, width = 1, filters = 0;
  i64 kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0, groups = 1;
  i64 out_h = 1, out_w = 1, cg = 0, kg = 0, rs = 1;
  i64 per_sample = 0;  // C·H·W
  i64 weights = 0;     // K·(C/g)·R·S
};

// One data-dependent accelerator (Pragmatic or Laconic) on the counted layer:
// its step plan at its own geometry (for an FC layer the plan of the 1×1
// layer: one window set, filter sets of T·Rt, channel blocks of L), its
// steps (FC: blocks) per sample and its column registers R, at most the
// steps (more registers change nothing, and the clock keeps R + 1 words).
struct AcceleratorParams {
  StepPlan plan;
  u64 steps = 0;
  i64 registers = 0;
};

// A layer as the kernels see it.
struct LayerParams {
  bool fc = false;
  LayerShape shape;   // as given: the source of the §8 fold's index maps
  LayerDims layer;    // as given: work (§4) and term statistics
  LayerDims counted;  // whose steps count the cycles: folded where the fold applies
  bool fold = false;  // §8 first-layer fold
  AcceleratorParams pragmatic, laconic;
  int shifter_bits = 2;  // §9 B, kShifterUnbounded for ∞
  Encoding encoding = Encoding::booth;
  bool work = true, cycles = true;  // which figures to compute (terms always)
};

LayerParams make_params(const LayerShape& shape, const ProfileConfig& config);

// Index counts of the bodies below, for a batch of `samples` samples.
inline u64 weight_sums_body_count(const LayerParams& p) {
  return static_cast<u64>(p.layer.groups * p.layer.cg * p.layer.rs);
}
inline u64 fold_weights_body_count(const LayerParams& p) { return p.fold ? static_cast<u64>(p.counted.weights) : 0; }
inline u64 weight_max_body_count(const LayerParams& p) {
  const StepPlan& plan = p.laconic.plan;
  return static_cast<u64>(plan.groups * p.counted.rs * plan.group_lanes);
}
inline u64 weight_max_count(const LayerParams& p) {
  return weight_max_body_count(p) * static_cast<u64>(p.laconic.plan.filter_sets);
}
inline u64 conv_work_body_count(const LayerParams& p, u64 samples) {
  return samples * static_cast<u64>(p.layer.channels * p.layer.rs);
}
inline constexpr i64 kFcChunk = 32;  // channels per FC work index
inline u64 fc_work_body_count(const LayerParams& p, u64 samples) {
  return samples * static_cast<u64>((p.layer.channels + kFcChunk - 1) / kFcChunk);
}
inline u64 fold_activations_body_count(const LayerParams& p, u64 samples) {
  return p.fold ? samples * static_cast<u64>(p.counted.per_sample) : 0;
}
inline u64 window_max_body_count(const LayerParams& p, u64 samples) {
  const StepPlan& plan = p.laconic.plan;
  return samples * static_cast<u64>(plan.groups * plan.window_sets * p.counted.rs * plan.group_lanes);
}
// Laconic lockstep and column-cost bodies: one index per (sample, step).
inline u64 laconic_step_body_count(const LayerParams& p, u64 samples) { return samples * p.laconic.steps; }
inline u64 position_cost_body_count(const LayerParams& p, u64 samples) {
  const StepPlan& plan = p.pragmatic.plan;
  return samples * static_cast<u64>(plan.groups * plan.channel_blocks * p.counted.height * p.counted.width);
}
// Pragmatic lockstep: one index per (sample, lane group, window set, r·S+s,
// channel block); the filter sets repeat the same steps.
inline u64 pragmatic_step_body_count(const LayerParams& p, u64 samples) {
  const StepPlan& plan = p.pragmatic.plan;
  return samples * static_cast<u64>(plan.groups * plan.window_sets * p.counted.rs * plan.channel_blocks);
}

// 64-bit clock words per sample of one accelerator: FC, the recurrence's
// busy columns (Ct); conv with R ≥ 1, ColumnClock's E (Ct) and the last
// R + 1 values of M; conv with R = 0, none (the steps are summed).
LACONIC_HOST_DEVICE inline u64 clock_words(const AcceleratorParams& a, bool fc) {
  if (fc) return static_cast<u64>(a.plan.columns);
  return a.registers == 0 ? 0 : static_cast<u64>(a.plan.columns + a.registers + 1);
}

// Device bytes per sample of a batch, buffer by buffer (the plan's byte
// accounting and both backends' allocations read these). A buffer a layer
// does not use has 0 bytes.
struct SampleBytes {
  u64 magnitudes = 0;       // the staging copy on the device
  u64 terms = 0;
  u64 folded = 0;           // the counted layer's terms and magnitudes (fold only)
  u64 window_max = 0;       // Laconic, conv, R = 0
  u64 column_costs = 0;     // Laconic, conv, R ≥ 1 (u16 per column of every step)
  u64 position_costs = 0;   // Pragmatic
  u64 shifter_scratch = 0;  // Pragmatic, channel blocks wider than kShifterLocalLanes
  u64 pragmatic_clock = 0;  // clock_words · 8
  u64 laconic_clock = 0;
  u64 accumulators = 0;
  u64 total() const {
    return magnitudes + terms + folded + window_max + column_costs + position_costs + shifter_scratch +
           pragmatic_clock + laconic_clock + accumulators;
  }
};
SampleBytes sample_buffers(const LayerParams& p, int activation_magnitude_bytes);

LACONIC_HOST_DEVICE inline void add_to(u64* target, u64 value) {
#if defined(__CUDA_ARCH__)
  atomicAdd(reinterpret_cast<unsigned long long*>(target), static_cast<unsigned long long>(value));
#else
  __atomic_fetch_add(target, value, __ATOMIC_RELAXED);
#endif
}

LACONIC_HOST_DEVICE inline u8 max_u8(u8 a, u8 b) { return a > b ? a : b; }
LACONIC_HOST_DEVICE inline i64 min_i64(i64 a, i64 b) { return a < b ? a : b; }

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

// ---------------------------------------------------------------------------
// Weights, once per layer.

// §4, one index per (group, c', r·S+s) of the layer as given: G sums over the
// group's filters of t(w) and of [w ≠ 0].
LACONIC_HOST_DEVICE inline void weight_sums_body(u64 index, const LayerParams& p, const u8* weight_terms,
                                                 u64* term_sums, u64* nonzero_sums) {
  const LayerDims& d = p.layer;
  const i64 idx = static_cast<i64>(index);
  const i64 rsi = idx % d.rs;
  const i64 ci = (idx / d.rs) % d.cg;
  const i64 group = idx / (d.rs * d.cg);
  u64 sum = 0, nonzero = 0;
  for (i64 f = 0; f < d.kg; ++f) {
    const u8 t = weight_terms[((group * d.kg + f) * d.cg + ci) * d.rs + rsi];
    sum += t;
    nonzero += t != 0;
  }
  term_sums[index] = sum;
  nonzero_sums[index] = nonzero;
}

// §8 fold of the weights, one index per folded weight [k][c2][r2][s2]: the
// term of the weight it comes from (model.hpp fold_weight_source), 0 at a
// missing position.
LACONIC_HOST_DEVICE inline void fold_weights_body(u64 index, const LayerParams& p, const u8* weight_terms,
                                                  u8* folded_terms) {
  const LayerDims& f = p.counted;
  const i64 idx = static_cast<i64>(index);
  const i64 s2 = idx % f.kernel_w;
  const i64 r2 = (idx / f.kernel_w) % f.kernel_h;
  const i64 c2 = (idx / f.rs) % f.channels;
  const i64 k = idx / (f.rs * f.channels);
  i64 c = 0, r = 0, s = 0;
  folded_terms[index] = fold_weight_source(p.shape, c2, r2, s2, &c, &r, &s)
                            ? weight_terms[((k * p.layer.cg + c) * p.layer.kernel_h + r) * p.layer.kernel_w + s]
                            : u8{0};
}

// §5 Laconic, one index per (lane group, r·S+s, lane) of its step plan on the
// counted weights: for each filter set, the largest weight term over the
// set's filters that meet the lane (per group: every filter of the set, at
// channel c' = lane; diagonal: the lane's own filter, if it exists).
LACONIC_HOST_DEVICE inline void weight_max_body(u64 index, const LayerParams& p, const u8* weight_terms,
                                                u8* weight_max) {
  const StepPlan& plan = p.laconic.plan;
  const LayerDims& d = p.counted;
  const i64 idx = static_cast<i64>(index);
  const i64 lane = idx % plan.group_lanes;
  const i64 rsi = (idx / plan.group_lanes) % d.rs;
  const i64 group = idx / (plan.group_lanes * d.rs);
  for (i64 fs = 0; fs < plan.filter_sets; ++fs) {
    u8 m = 0;
    if (plan.diagonal) {
      const i64 f = group * plan.group_lanes + lane;  // one filter set: fs = 0
      if (f < d.filters) m = weight_terms[f * d.rs + rsi];  // C/g = 1
    } else {
      const i64 last = min_i64((fs + 1) * plan.set_size, d.kg);
      for (i64 f = fs * plan.set_size; f < last; ++f)
        m = max_u8(m, weight_terms[((group * d.kg + f) * d.cg + lane) * d.rs + rsi]);
    }
    weight_max[((group * plan.filter_sets + fs) * d.rs + rsi) * plan.group_lanes + lane] = m;
  }
}

// ---------------------------------------------------------------------------
// §4 work, on the layer as given.

// Conv, one index per (sample, c, r·S+s): F = Σ over the positions that
// kernel offset (r, s) touches (padding contributes 0), times G.
LACONIC_HOST_DEVICE inline void conv_work_body(u64 index, const LayerParams& p, const u8* terms,
                                               const u64* term_sums, const u64* nonzero_sums, u64* acc) {
  const LayerDims& d = p.layer;
  const i64 idx = static_cast<i64>(index);
  const i64 rsi = idx % d.rs;
  const i64 c = (idx / d.rs) % d.channels;
  const i64 n = idx / (d.rs * d.channels);
  const i64 r = rsi / d.kernel_w, s = rsi % d.kernel_w;
  const u8* plane = terms + n * d.per_sample + c * d.height * d.width;
  u64 f_terms = 0, f_nonzero = 0;
  for (i64 ow = 0; ow < d.out_w; ++ow) {
    const i64 x = ow * d.stride_w + s - d.pad_left;
    if (x < 0 || x >= d.width) continue;
    for (i64 oh = 0; oh < d.out_h; ++oh) {
      const i64 y = oh * d.stride_h + r - d.pad_top;
      if (y < 0 || y >= d.height) continue;
      const u8 t = plane[y * d.width + x];
      f_terms += t;
      f_nonzero += t != 0;
    }
  }
  if (f_terms == 0) return;  // then f_nonzero is 0 too
  const i64 g_index = c * d.rs + rsi;  // [group][c'][r·S+s] with group·(C/g) + c' = c
  u64* a = acc + n * kAccumulators;
  add_to(a + kLaconicWork, f_terms * term_sums[g_index]);
  add_to(a + kNonzeroPairs, f_nonzero * nonzero_sums[g_index]);
  add_to(a + kActivationTerms, f_terms);
}

// FC, one index per (sample, chunk of kFcChunk channels).
LACONIC_HOST_DEVICE inline void fc_work_body(u64 index, const LayerParams& p, const u8* terms, const u64* term_sums,
                                             const u64* nonzero_sums, u64* acc) {
  const LayerDims& d = p.layer;
  const i64 chunks = (d.channels + kFcChunk - 1) / kFcChunk;
  const i64 idx = static_cast<i64>(index);
  const i64 n = idx / chunks;
  const i64 begin = (idx % chunks) * kFcChunk;
  const i64 end = min_i64(begin + kFcChunk, d.channels);
  const u8* t = terms + n * d.per_sample;
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

// ---------------------------------------------------------------------------
// The counted layer and §8's step order.

// §8 fold of the activations, one index per (sample, folded value
// [c2][y2][x2]): the term and the magnitude of the value it comes from
// (model.hpp fold_activation_source), 0 in the padding and beyond it.
template <class Magnitude>
LACONIC_HOST_DEVICE inline void fold_activations_body(u64 index, const LayerParams& p, const u8* terms,
                                                      const Magnitude* magnitudes, u8* folded_terms,
                                                      Magnitude* folded_magnitudes) {
  const LayerDims& f = p.counted;
  const i64 idx = static_cast<i64>(index);
  const i64 n = idx / f.per_sample;
  const i64 j = idx % f.per_sample;
  const i64 x2 = j % f.width;
  const i64 y2 = (j / f.width) % f.height;
  const i64 c2 = j / (f.width * f.height);
  i64 c = 0, y = 0, x = 0;
  if (fold_activation_source(p.shape, c2, y2, x2, &c, &y, &x)) {
    const i64 from = n * p.layer.per_sample + (c * p.layer.height + y) * p.layer.width + x;
    folded_terms[index] = terms[from];
    folded_magnitudes[index] = magnitudes[from];
  } else {
    folded_terms[index] = 0;
    folded_magnitudes[index] = 0;
  }
}

// Step k of one sample in §8's order: lane group → window set → filter set →
// kernel column s → kernel row r → channel block (innermost).
struct StepAt {
  i64 group = 0, window_set = 0, filter_set = 0, s = 0, r = 0, block = 0;
};

LACONIC_HOST_DEVICE inline StepAt step_at(const StepPlan& plan, const LayerDims& counted, u64 k) {
  i64 i = static_cast<i64>(k);
  StepAt at;
  at.block = i % plan.channel_blocks;
  i /= plan.channel_blocks;
  at.r = i % counted.kernel_h;
  i /= counted.kernel_h;
  at.s = i % counted.kernel_w;
  i /= counted.kernel_w;
  at.filter_set = i % plan.filter_sets;
  i /= plan.filter_sets;
  at.window_set = i % plan.window_sets;
  at.group = i / plan.window_sets;
  return at;
}

// The counted layer's input position that window `window` (oh fastest, §5)
// reads at kernel offset (r, s); false in the padding.
LACONIC_HOST_DEVICE inline bool window_input(const LayerDims& d, i64 window, i64 r, i64 s, i64* y, i64* x) {
  *y = (window % d.out_h) * d.stride_h + r - d.pad_top;
  *x = (window / d.out_h) * d.stride_w + s - d.pad_left;
  return *y >= 0 && *y < d.height && *x >= 0 && *x < d.width;
}

// ---------------------------------------------------------------------------
// §5/§8 Laconic, conv. A column's cost at step k is
// max(1, max over the block's lanes of t_a(window, lane) · (weight maximum of
// the lane over the filter set)) for a column that holds a window, 0 else.

// R = 0, one index per (sample, lane group, window set, r·S+s, lane): the
// largest activation term over the set's windows, 0 in the padding and for
// an empty lane.
LACONIC_HOST_DEVICE inline void window_max_body(u64 index, const LayerParams& p, const u8* terms, u8* window_max) {
  const StepPlan& plan = p.laconic.plan;
  const LayerDims& d = p.counted;
  const i64 idx = static_cast<i64>(index);
  const i64 lane = idx % plan.group_lanes;
  const i64 rsi = (idx / plan.group_lanes) % d.rs;
  const i64 ws = (idx / (plan.group_lanes * d.rs)) % plan.window_sets;
  const i64 group = (idx / (plan.group_lanes * d.rs * plan.window_sets)) % plan.groups;
  const i64 n = idx / (plan.group_lanes * d.rs * plan.window_sets * plan.groups);
  const i64 channel = plan.channel(group, lane);
  u8 m = 0;
  if (channel >= 0) {
    const i64 r = rsi / d.kernel_w, s = rsi % d.kernel_w;
    const u8* plane = terms + n * d.per_sample + channel * d.height * d.width;
    const i64 last = min_i64((ws + 1) * plan.columns, plan.windows);
    for (i64 w = ws * plan.columns; w < last; ++w) {
      i64 y = 0, x = 0;
      if (window_input(d, w, r, s, &y, &x)) m = max_u8(m, plane[y * d.width + x]);
    }
  }
  window_max[index] = m;
}

// R = 0, one index per (sample, step): the step's cost, max over its columns,
// which factors as max(1, max over lanes of window-set max · weight max)
// (§5). Writes the index's sample to `sample`.
LACONIC_HOST_DEVICE inline unsigned laconic_step_cost(u64 index, const LayerParams& p, const u8* window_max,
                                                      const u8* weight_max, i64* sample) {
  const StepPlan& plan = p.laconic.plan;
  const LayerDims& d = p.counted;
  const i64 n = static_cast<i64>(index / p.laconic.steps);
  const StepAt at = step_at(plan, d, index % p.laconic.steps);
  const i64 rsi = at.r * d.kernel_w + at.s;
  const u8* a = window_max + (((n * plan.groups + at.group) * plan.window_sets + at.window_set) * d.rs + rsi) *
                                 plan.group_lanes;
  const u8* w = weight_max + ((at.group * plan.filter_sets + at.filter_set) * d.rs + rsi) * plan.group_lanes;
  const i64 begin = at.block * plan.lanes;
  const i64 end = min_i64(begin + plan.lanes, plan.group_lanes);
  unsigned slowest = 1;  // a step costs at least 1
  for (i64 l = begin; l < end; ++l) {
    const unsigned product = static_cast<unsigned>(a[l]) * w[l];
    if (product > slowest) slowest = product;
  }
  *sample = n;
  return slowest;
}

LACONIC_HOST_DEVICE inline void laconic_step_body(u64 index, const LayerParams& p, const u8* window_max,
                                                  const u8* weight_max, u64* acc) {
  i64 n = 0;
  const unsigned cost = laconic_step_cost(index, p, window_max, weight_max, &n);
  add_to(acc + n * kAccumulators + kLaconicCycles, cost);
}

// R ≥ 1, one index per (sample, step): the cost d_c of each of the step's Ct
// columns, into column_costs[index·Ct + c] (at most 32·32, 16 bits).
LACONIC_HOST_DEVICE inline void column_cost_body(u64 index, const LayerParams& p, const u8* terms,
                                                 const u8* weight_max, u16* column_costs) {
  const StepPlan& plan = p.laconic.plan;
  const LayerDims& d = p.counted;
  const i64 n = static_cast<i64>(index / p.laconic.steps);
  const StepAt at = step_at(plan, d, index % p.laconic.steps);
  const i64 rsi = at.r * d.kernel_w + at.s;
  const u8* w = weight_max + ((at.group * plan.filter_sets + at.filter_set) * d.rs + rsi) * plan.group_lanes;
  const u8* sample_terms = terms + n * d.per_sample;
  const i64 begin = at.block * plan.lanes;
  const i64 end = min_i64(begin + plan.lanes, plan.group_lanes);
  u16* out = column_costs + index * static_cast<u64>(plan.columns);
  for (i64 c = 0; c < plan.columns; ++c) {
    const i64 window = at.window_set * plan.columns + c;
    if (window >= plan.windows) {
      out[c] = 0;  // an idle column
      continue;
    }
    unsigned slowest = 1;
    i64 y = 0, x = 0;
    if (window_input(d, window, at.r, at.s, &y, &x))
      for (i64 l = begin; l < end; ++l) {
        const i64 channel = plan.channel(at.group, l);
        if (channel < 0) continue;
        const unsigned product =
            static_cast<unsigned>(sample_terms[(channel * d.height + y) * d.width + x]) * w[l];
        if (product > slowest) slowest = product;
      }
    out[c] = static_cast<u16>(slowest);
  }
}

// R ≥ 1, one index per sample, sequential over the sample's steps in §8
// order: the column clock (model.hpp ColumnClock) over the column costs.
// `clock` holds clock_words(p.laconic, false) words per sample.
LACONIC_HOST_DEVICE inline void laconic_scan_body(u64 index, const LayerParams& p, const u16* column_costs,
                                                  u64* clock, u64* acc) {
  const AcceleratorParams& a = p.laconic;
  const i64 columns = a.plan.columns;
  u64* words = clock + index * clock_words(a, false);
  ColumnClock column_clock(columns, a.registers, words, words + columns);
  const u16* d = column_costs + index * a.steps * static_cast<u64>(columns);
  for (u64 k = 0; k < a.steps; ++k, d += columns) column_clock.step([&](i64 c) -> u64 { return d[c]; });
  acc[index * kAccumulators + kLaconicCycles] = column_clock.cycles();
}

// §5 FC, one index per sample: the column recurrence, blocks costed from the
// filter-set maxima (Laconic weight maxima of an FC layer are [filter set][c]).
// `clock` holds Ct words per sample.
LACONIC_HOST_DEVICE inline void fc_laconic_body(u64 index, const LayerParams& p, const u8* terms,
                                                const u8* weight_max, u64* clock, u64* acc) {
  const StepPlan& plan = p.laconic.plan;
  const i64 channels = p.layer.channels;
  const u8* t = terms + static_cast<i64>(index) * p.layer.per_sample;
  acc[index * kAccumulators + kLaconicCycles] =
      fc_recurrence(p.laconic.steps, plan.columns, clock + index * static_cast<u64>(plan.columns), [&](u64 i) -> u64 {
        const i64 fs = static_cast<i64>(i) / plan.channel_blocks;
        const i64 begin = (static_cast<i64>(i) % plan.channel_blocks) * plan.lanes;
        const i64 end = min_i64(begin + plan.lanes, channels);
        const u8* w = weight_max + fs * channels;
        unsigned slowest = 1;
        for (i64 l = begin; l < end; ++l) {
          const unsigned product = static_cast<unsigned>(t[l]) * w[l];
          if (product > slowest) slowest = product;
        }
        return slowest;
      });
}

// ---------------------------------------------------------------------------
// §9 Pragmatic. A column's cost is the first-stage shifter's cycles over the
// term positions (§3a) of its lanes' activations: the same for every filter
// set, and for every column and step that reads the same input position
// through the same lane block. So the shifter runs once per (lane group,
// channel block, input position) of the counted layer (a padding position
// reads zeros, costing 0), and every column of every step looks its cost up.

// One index per (sample, lane group, channel block, y, x) of the counted
// layer (FC: per (sample, channel block)): the shifter's cycles, 0 when every
// lane is empty. A block of more than kShifterLocalLanes lanes keeps its
// positions in `scratch` (block width words per index), else none is read.
template <class Magnitude>
LACONIC_HOST_DEVICE inline void position_cost_body(u64 index, const LayerParams& p, const Magnitude* magnitudes,
                                                   u64* scratch, u8* position_costs) {
  const StepPlan& plan = p.pragmatic.plan;
  const LayerDims& d = p.counted;
  const i64 idx = static_cast<i64>(index);
  const i64 x = idx % d.width;
  const i64 y = (idx / d.width) % d.height;
  const i64 block = (idx / (d.width * d.height)) % plan.channel_blocks;
  const i64 group = (idx / (d.width * d.height * plan.channel_blocks)) % plan.groups;
  const i64 n = idx / (d.width * d.height * plan.channel_blocks * plan.groups);
  const i64 begin = block * plan.lanes;
  const i64 lanes = min_i64(begin + plan.lanes, plan.group_lanes) - begin;
  u64 local[kShifterLocalLanes];
  u64* positions = plan.lanes <= kShifterLocalLanes ? local : scratch + index * static_cast<u64>(plan.lanes);
  const Magnitude* sample = magnitudes + n * d.per_sample + y * d.width + x;
  for (i64 l = 0; l < lanes; ++l) {
    const i64 channel = plan.channel(group, begin + l);
    positions[l] = channel < 0 ? 0 : term_positions(p.encoding, sample[channel * d.height * d.width]);
  }
  position_costs[index] = static_cast<u8>(pragmatic_shifter_cycles(positions, lanes, p.shifter_bits));
}

// The position cost that column `window` reads at step `at`: 0 in the
// padding. The column's cost is max(1, this).
LACONIC_HOST_DEVICE inline unsigned position_cost_at(const LayerParams& p, const u8* position_costs, i64 n,
                                                     const StepAt& at, i64 window) {
  const StepPlan& plan = p.pragmatic.plan;
  const LayerDims& d = p.counted;
  i64 y = 0, x = 0;
  if (!window_input(d, window, at.r, at.s, &y, &x)) return 0;
  return position_costs[(((n * plan.groups + at.group) * plan.channel_blocks + at.block) * d.height + y) * d.width +
                        x];
}

// R = 0, one index per (sample, lane group, window set, r·S+s, channel
// block): the step's cost, max(1, max over the set's columns of their position
// costs). Every filter set repeats it: the body adds it filter_sets times.
LACONIC_HOST_DEVICE inline unsigned pragmatic_step_cost(u64 index, const LayerParams& p, const u8* position_costs,
                                                        i64* sample) {
  const StepPlan& plan = p.pragmatic.plan;
  const LayerDims& d = p.counted;
  const i64 idx = static_cast<i64>(index);
  StepAt at;
  at.block = idx % plan.channel_blocks;
  const i64 rsi = (idx / plan.channel_blocks) % d.rs;
  at.r = rsi / d.kernel_w;
  at.s = rsi % d.kernel_w;
  at.window_set = (idx / (plan.channel_blocks * d.rs)) % plan.window_sets;
  at.group = (idx / (plan.channel_blocks * d.rs * plan.window_sets)) % plan.groups;
  const i64 n = idx / (plan.channel_blocks * d.rs * plan.window_sets * plan.groups);
  unsigned slowest = 1;
  const i64 last = min_i64((at.window_set + 1) * plan.columns, plan.windows);
  for (i64 w = at.window_set * plan.columns; w < last; ++w) {
    const unsigned cost = position_cost_at(p, position_costs, n, at, w);
    if (cost > slowest) slowest = cost;
  }
  *sample = n;
  return slowest;
}

LACONIC_HOST_DEVICE inline void pragmatic_step_body(u64 index, const LayerParams& p, const u8* position_costs,
                                                    u64* acc) {
  i64 n = 0;
  const unsigned cost = pragmatic_step_cost(index, p, position_costs, &n);
  add_to(acc + n * kAccumulators + kPragmaticCycles, static_cast<u64>(cost) * p.pragmatic.plan.filter_sets);
}

// R ≥ 1, one index per sample, sequential over the sample's steps in §8
// order: the column clock over the columns' position costs. `clock` holds
// clock_words(p.pragmatic, false) words per sample.
LACONIC_HOST_DEVICE inline void pragmatic_scan_body(u64 index, const LayerParams& p, const u8* position_costs,
                                                    u64* clock, u64* acc) {
  const AcceleratorParams& a = p.pragmatic;
  const StepPlan& plan = a.plan;
  const i64 n = static_cast<i64>(index);
  u64* words = clock + index * clock_words(a, false);
  ColumnClock column_clock(plan.columns, a.registers, words, words + plan.columns);
  for (u64 k = 0; k < a.steps; ++k) {
    const StepAt at = step_at(plan, p.counted, k);
    const i64 first = at.window_set * plan.columns;
    column_clock.step([&](i64 c) -> u64 {
      if (first + c >= plan.windows) return 0;  // an idle column
      const unsigned cost = position_cost_at(p, position_costs, n, at, first + c);
      return cost > 1 ? cost : 1;
    });
  }
  acc[index * kAccumulators + kPragmaticCycles] = column_clock.cycles();
}

// §5/§9 FC, one index per sample: the column recurrence over filter set ×
// channel block, a block costing max(1, its position cost) whatever the
// filter set. `clock` holds Ct words per sample.
LACONIC_HOST_DEVICE inline void fc_pragmatic_body(u64 index, const LayerParams& p, const u8* position_costs,
                                                  u64* clock, u64* acc) {
  const StepPlan& plan = p.pragmatic.plan;
  const u8* cost = position_costs + index * static_cast<u64>(plan.channel_blocks);
  acc[index * kAccumulators + kPragmaticCycles] =
      fc_recurrence(p.pragmatic.steps, plan.columns, clock + index * static_cast<u64>(plan.columns), [&](u64 i) -> u64 {
        const u8 c = cost[i % static_cast<u64>(plan.channel_blocks)];
        return c > 1 ? u64{c} : u64{1};
      });
}

// ---------------------------------------------------------------------------
// Resident activations: a batch whose values are already where the backend
// computes (a MemorySource on the device, e.g. a CUDA tensor handed over by
// DLPack) becomes the batch's magnitudes there, without the host's staging
// copy. §2's conversion of each value runs on the device.

LACONIC_HOST_DEVICE inline void lower_to(u64* target, u64 value) {
#if defined(__CUDA_ARCH__)
  atomicMin(reinterpret_cast<unsigned long long*>(target), static_cast<unsigned long long>(value));
#else
  u64 seen = __atomic_load_n(target, __ATOMIC_RELAXED);
  while (value < seen && !__atomic_compare_exchange_n(target, &seen, value, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
#endif
}

// One index per value of the batch: the magnitude of value i of `values`
// (convert_value, then |v|, which must be below `limit` = 2^p). A value that
// cannot be converted gets magnitude 0 and lowers `first_bad` (set to ~0
// before the batch) to its index, so the batch's lowest bad index is found
// whatever the thread order; the host then names it.
template <class T, class Magnitude>
LACONIC_HOST_DEVICE inline void resident_magnitude_body(u64 i, const T* values, const ValueConversion& conversion,
                                                        u64 limit, Magnitude* magnitudes, u64* first_bad) {
  std::int64_t v = 0;
  u64 m = 0;
  if (convert_value(values[i], conversion, &v) == ConvertStatus::ok) m = magnitude(v);
  else m = limit;
  if (m >= limit) {
    lower_to(first_bad, i);
    m = 0;
  }
  magnitudes[i] = static_cast<Magnitude>(m);
}

// The error for value `index` of `source` (a batch's first bad value, its
// raw bytes copied from the device to `raw`): the conversion's own message,
// or the declared width's when the value converts but does not fit it.
std::string resident_error(const MemorySource& source, u64 index, const void* raw);

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

// Device bytes held for a layer's weights, buffer by buffer.
struct WeightBytes {
  u64 magnitudes = 0;
  u64 terms = 0;
  u64 sums = 0;          // §4 term and non-zero sums, two u64 per (group, c', r·S+s)
  u64 folded_terms = 0;  // the counted layer's weight terms (fold only)
  u64 maxima = 0;        // Laconic weight maxima (cycles only)
  u64 histogram = 0;
  u64 total() const { return magnitudes + terms + sums + folded_terms + maxima + histogram; }
};
WeightBytes weight_buffers(const LayerParams& p, int weight_magnitude_bytes);

struct BatchPlan {
  u64 samples = 0;             // samples in the range
  u64 samples_per_batch = 0;   // 0 only when samples is 0
  u64 batches = 0;
  WeightBytes weights;         // device bytes held for the layer's weights
  SampleBytes sample;          // device bytes per sample of a batch's buffers
  u64 weight_bytes = 0;        // weights.total()
  u64 bytes_per_sample = 0;    // sample.total()
  u64 staging_bytes_per_sample = 0;  // pinned host bytes per sample (= sample.magnitudes)
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
  // kAccumulators) and adds its activation terms to `histogram`. Throws
  // laconic::Error (resident_error) when a resident batch held a value that
  // could not be converted.
  virtual void finish(int slot, std::vector<u64>& accumulators, TermStats& histogram) = 0;
  // Starts a batch of `samples` samples whose values are values [first,
  // first + samples · C·H·W) of `source` (on_device()), converted to
  // magnitudes where they are, in place of staging + launch. The values must
  // stay unchanged until finish(); the cuda backend first waits for work
  // queued on CUDA's legacy default stream (DLPack's stream 1), where the
  // values' producer made them ready. The default throws: a backend without
  // a device reads no device memory.
  virtual void launch_resident(int slot, const MemorySource& source, u64 first, u64 samples);
};

// The emulation: every body run in OpenMP loops on the CPU. Its "device"
// memory is host memory: it reads a resident MemorySource where it is, as
// the cuda backend does on the GPU.
std::unique_ptr<Backend> make_emulated_backend(int slots);

// An Engine over a backend: validates, plans, streams batches (reading and
// narrowing the trace on the host while the backend runs the previous
// batch, or, for activations that are a MemorySource on the device, letting
// the backend convert them where they are) and merges per-batch results in
// sample order.
class GridEngine final : public Engine {
 public:
  GridEngine(std::unique_ptr<Backend> backend, GridOptions options, std::string name);
  std::string_view name() const override { return name_; }
  LayerResult profile(const LayerInput& layer, SampleRange range, const ProfileConfig& config) const override;
  // Prepared weights: their magnitudes, read and narrowed on the host once.
  std::shared_ptr<const PreparedWeights> prepare(const LayerInput& layer, const ProfileConfig& config) const override;
  LayerResult profile_prepared(const LayerInput& layer, SampleRange range, const ProfileConfig& config,
                               const PreparedWeights* prepared) const override;

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
