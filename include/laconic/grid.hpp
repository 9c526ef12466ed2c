// The cuda engine's computation, written once for the GPU and for a CPU
// emulation of it (MODEL.md §3–§5, §8, §9).
//
// Each kernel of the cuda engine is one "body": a function of a flat index
// that the GPU runs as one thread per index and the emulation runs as a loop.
// The bodies, the batch plan, the device memory layout and the driver that
// streams a layer's samples through a device in batches are all plain C++;
// only the launches, copies and streams live in kernels/engine_cuda.cu. The
// emulation (GridEngine over an EmulatedBackend) runs every body, every
// planning decision and the warp aggregation of per-sample sums on the CPU,
// so the tests check that logic against the reference engine on machines
// without a GPU.
//
// Work (§4) and term statistics are computed on the layer as given; cycles
// (§5, §8, §9) on the "counted" layer: the §8 first-layer fold of it where
// the fold applies, else the layer itself. The baseline's and Stripes'
// cycles do not depend on the data (model.hpp, data_independent_cycles);
// Pragmatic and Laconic each run at their own geometry through their own
// step plan (model.hpp StepPlan: lane groups, filter sets, channel blocks).
//
// Index decoding: bodies split their index into coordinates with FastDiv
// (a multiply-high and a shift per digit, exact for indices below 2^63), the
// divisors precomputed per layer in LayerParams.
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
//   Laconic column costs   [sample][step, §8 order][column], 16 bits   (conv, R ≥ 1)
//   FC block costs         [sample][filter set][channel block], 16 bits   (Laconic, FC)
//   position costs         [sample][lane group][channel block][y][x]   (Pragmatic: §9's
//                          shifter over the block's lanes at one input position)
//   Pragmatic column costs [sample][lane group][window set][r·S+s][channel block][column]
//                          (conv, R ≥ 1; the same for every filter set)
//   clock words            [sample][words] per accelerator (ColumnClock's E and M, or the
//                          FC recurrence's busy columns), where more than kClockLocalWords
//   results                [kResultHeader words: the batch's term histogram, a resident
//                          batch's first bad index (kFirstBadWord), padding]
//                          then [sample][kAccumulators]
//
// What stays sequential, and why: the column clocks of §8 with R ≥ 1
// (laconic_scan_body, pragmatic_scan_body) and the FC recurrences of §5
// (fc_laconic_body, fc_pragmatic_body) run one index per sample, in step
// (block) order, because step k's finish times depend on step k − 1's: the
// recurrence is sequential in k by definition. Every cost they read is
// computed before them by a parallel body (column costs, position costs, FC
// block costs), so the sequential part does O(Ct) additions and maxima per
// step (O(1) per FC block) and no index decoding. Every other body does a
// bounded amount of work per index.
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
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using i64 = std::int64_t;
__extension__ typedef unsigned __int128 u128;

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
// Words before a batch's accumulators in its results buffer: the histogram,
// padded to a multiple of 8 words (64 bytes).
inline constexpr u64 kResultHeader = (kBins + 7) / 8 * 8;
// The header word after the histogram: a resident batch's lowest index whose
// value could not be converted (~0 when none; Backend::launch_resident), 0
// for a staged batch.
inline constexpr u64 kFirstBadWord = kBins;
static_assert(kFirstBadWord < kResultHeader, "the first-bad word lies in the header's padding");

// Lanes whose term positions the Pragmatic position-cost body keeps in a
// local array; a block of more lanes keeps them in a device buffer
// (SampleBytes::shifter_scratch).
inline constexpr i64 kShifterLocalLanes = 64;

// ---------------------------------------------------------------------------
// Fast division by a divisor fixed per layer: n / d = ⌊n·m / 2^(63+ℓ)⌋ with
// ℓ = ⌈log2 d⌉ and m = ⌈2^(63+ℓ) / d⌉ (< 2^64), exact for every n < 2^63
// (the round-up method of Granlund and Montgomery, as CUTLASS's FastDivmod
// uses it for 32 bits; here the dividend is 63 bits and the product 127).
// On the device a multiply-high and a shift replace a 64-bit division.
struct FastDiv {
  u64 divisor = 1;
  u64 multiplier = 0;  // 0 for d = 1
  int shift = 0;       // ℓ − 1

  FastDiv() = default;
  // d ≥ 1; d = 0 (a dimension of an empty layer, whose bodies have no
  // index) is kept as 1.
  explicit FastDiv(u64 d) {
    if (d <= 1) return;
    divisor = d;
    int l = 0;
    while (l < 64 && (u64{1} << l) < d) ++l;
    const u128 power = u128{1} << (63 + l);
    multiplier = static_cast<u64>((power + d - 1) / d);
    shift = l - 1;
  }
  // ⌊n / d⌋ for n < 2^63.
  LACONIC_HOST_DEVICE u64 quotient(u64 n) const {
    if (multiplier == 0) return n;
#if defined(__CUDA_ARCH__)
    return __umul64hi(n, multiplier) >> shift;
#else
    return static_cast<u64>((static_cast<u128>(n) * multiplier) >> 64) >> shift;
#endif
  }
  // The next digit of a mixed-radix index: returns n mod d and leaves ⌊n / d⌋ in n.
  LACONIC_HOST_DEVICE i64 take(u64& n) const {
    const u64 q = quotient(n);
    const u64 r = n - q * divisor;
    n = q;
    return static_cast<i64>(r);
  }
};

// ---------------------------------------------------------------------------
// Parameters.

// A layer's dimensions as the kernels see them: plain integers, by value.
// An FC layer is the 1×1 case (H = W = R = S = 1, one group).
struct LayerDims {
  i64 channels = 0, height = 1, width = 1, filters = 0;
  i64 kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0, groups = 1;
  i64 out_h = 1, out_w = 1, cg = 0, kg = 0, rs = 1;
  i64 per_sample = 0;  // C·H·W
  i64 weights = 0;     // K·(C/g)·R·S
};

// The divisors a layer's bodies decode with (FastDiv of a LayerDims field).
struct DimDivisors {
  FastDiv channels, height, width, kernel_h, kernel_w, rs, stride_w, out_h, per_sample;
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
  // Divisors of the plan's dimensions, for index decoding.
  FastDiv by_steps, by_blocks, by_filter_sets, by_window_sets, by_groups, by_group_lanes;
};

// A layer as the kernels see it.
struct LayerParams {
  bool fc = false;
  LayerShape shape;   // as given: the source of the §8 fold's index maps
  LayerDims layer;    // as given: work (§4) and term statistics
  LayerDims counted;  // whose steps count the cycles: folded where the fold applies
  DimDivisors by_layer, by_counted;
  FastDiv by_fc_chunks;  // FC work chunks per sample
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
// §4 conv work: one index per (sample, c, r, x) of the layer as given.
inline u64 conv_work_body_count(const LayerParams& p, u64 samples) {
  return samples * static_cast<u64>(p.layer.channels * p.layer.kernel_h * p.layer.width);
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
// Laconic lockstep, column-cost and FC block-cost bodies: one index per
// (sample, step), an FC layer's steps being its blocks.
inline u64 laconic_step_body_count(const LayerParams& p, u64 samples) { return samples * p.laconic.steps; }
inline u64 position_cost_body_count(const LayerParams& p, u64 samples) {
  const StepPlan& plan = p.pragmatic.plan;
  return samples * static_cast<u64>(plan.groups * plan.channel_blocks * p.counted.height * p.counted.width);
}
// Pragmatic steps: one index per (sample, lane group, window set, r·S+s,
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

// A sequential body keeps up to this many clock words in a local array
// (registers and L1 on the device, not a round trip to memory per column
// and step); a clock of more words lives in the clock buffer.
inline constexpr u64 kClockLocalWords = 64;
LACONIC_HOST_DEVICE inline u64 clock_buffer_words(const AcceleratorParams& a, bool fc) {
  const u64 words = clock_words(a, fc);
  return words > kClockLocalWords ? words : 0;
}

// Device bytes per sample of a batch, buffer by buffer (the plan's byte
// accounting and both backends' memory layout read these). A buffer a layer
// does not use has 0 bytes.
struct SampleBytes {
  u64 magnitudes = 0;         // the staging copy on the device
  u64 terms = 0;
  u64 folded_terms = 0;       // the counted layer's terms (fold only)
  u64 folded_magnitudes = 0;  // and magnitudes
  u64 window_max = 0;         // Laconic, conv, R = 0
  u64 laconic_columns = 0;    // Laconic, conv, R ≥ 1 (u16 per column of every step)
  u64 fc_block_costs = 0;     // Laconic, FC (u16 per block)
  u64 position_costs = 0;     // Pragmatic
  u64 shifter_scratch = 0;    // Pragmatic, channel blocks wider than kShifterLocalLanes
  u64 pragmatic_columns = 0;  // Pragmatic, conv, R ≥ 1 (u8 per column of every step of one filter set)
  u64 pragmatic_clock = 0;    // clock_buffer_words · 8 (0 for a clock in local words)
  u64 laconic_clock = 0;
  u64 accumulators = 0;
  u64 total() const {
    return magnitudes + terms + folded_terms + folded_magnitudes + window_max + laconic_columns + fc_block_costs +
           position_costs + shifter_scratch + pragmatic_columns + pragmatic_clock + laconic_clock + accumulators;
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

// ---------------------------------------------------------------------------
// Per-sample sums from a warp's lanes. Neighbouring indices mostly belong to
// the same sample: the lanes of a warp that add to the same sample sum their
// values and one of them (the lowest) adds the total, instead of one atomic
// per lane on one address. 64-bit values are summed through 32-bit lane
// reductions in three parts of 21, 21 and 22 bits (a part's sum over 32 lanes
// stays below 2^27), then joined modulo 2^64, which is exact for sums that
// fit 64 bits.
//
// The helper is written against a Warp: match(key) gives the active lanes
// holding the same key, sum(lanes, j, part, own) the sum over `lanes` of part
// `part` of their value j, lane() this lane's number. The device runs it with
// __match_any_sync and __reduce_add_sync (kernels/engine_cuda.cu), the
// emulation with EmulatedWarp below, so the tests run the grouping, the
// split and the leader choice on any mask of active lanes.

inline constexpr int kWarpLanes = 32;

LACONIC_HOST_DEVICE inline u32 value_part(u64 value, int part) {
  return static_cast<u32>((value >> (21 * part)) & (part == 2 ? 0x3FFFFFu : 0x1FFFFFu));
}
LACONIC_HOST_DEVICE inline u64 join_parts(u32 low, u32 middle, u32 high) {
  return u64{low} + (u64{middle} << 21) + (u64{high} << 42);
}
LACONIC_HOST_DEVICE inline int lowest_lane(u32 lanes) {
#if defined(__CUDA_ARCH__)
  return __ffs(static_cast<int>(lanes)) - 1;
#else
  return __builtin_ctz(lanes);
#endif
}

// Adds scale · values[j] to acc[key·kAccumulators + first_slot + j], the
// values summed over the lanes that hold `key`; a zero total adds nothing.
// Parts = 3 sums any 64-bit values; Parts = 1 only values below 2^21 (step
// costs: at most 32·32), with one lane reduction instead of three.
LACONIC_HOST_DEVICE_TEMPLATE
template <int N, int Parts, class Warp>
LACONIC_HOST_DEVICE inline void add_by_key(const Warp& warp, u64 key, const u64 (&values)[N], int first_slot, u64* acc,
                                           u64 scale = 1) {
  static_assert(Parts == 1 || Parts == 3, "values are summed in one part (< 2^21) or three");
  const u32 same = warp.match(key);
  u64 total[N];
  for (int j = 0; j < N; ++j) {
    const u32 low = warp.sum(same, j, 0, value_part(values[j], 0));
    if constexpr (Parts == 1)
      total[j] = low;
    else
      total[j] = join_parts(low, warp.sum(same, j, 1, value_part(values[j], 1)),
                            warp.sum(same, j, 2, value_part(values[j], 2)));
  }
  if (warp.lane() != lowest_lane(same)) return;
  for (int j = 0; j < N; ++j)
    if (total[j] != 0) add_to(acc + key * kAccumulators + static_cast<u64>(first_slot + j), total[j] * scale);
}

// The emulation's warp: every lane's key and values, the active mask, and
// the lane that runs add_by_key. (Its members are host-and-device code like
// add_by_key's, so that nvcc compiles them together without a warning.)
template <int N>
struct EmulatedWarp {
  u32 active = 0;
  u64 keys[kWarpLanes] = {};
  u64 values[kWarpLanes][N] = {};
  int current = 0;

  LACONIC_HOST_DEVICE u32 match(u64 key) const {
    u32 lanes = 0;
    for (int l = 0; l < kWarpLanes; ++l)
      if ((active >> l & 1u) != 0 && keys[l] == key) lanes |= 1u << l;
    return lanes;
  }
  LACONIC_HOST_DEVICE u32 sum(u32 lanes, int j, int part, u32 /*own*/) const {
    u32 total = 0;
    for (int l = 0; l < kWarpLanes; ++l)
      if ((lanes >> l & 1u) != 0) total += value_part(values[l][j], part);
    return total;
  }
  LACONIC_HOST_DEVICE int lane() const { return current; }
  // Runs add_by_key on every active lane, in lane order.
  template <int Parts = 3>
  void add_all(int first_slot, u64* acc, u64 scale = 1) {
    for (current = 0; current < kWarpLanes; ++current)
      if ((active >> current & 1u) != 0)
        add_by_key<N, Parts>(*this, keys[current], values[current], first_slot, acc, scale);
  }
};

// ---------------------------------------------------------------------------
// §3 terms, four values per index: index i covers values 4i … 4i+3 (fewer at
// the end), read and written as whole words where the device allows it. The
// buffers start at a multiple of 16 bytes. The kernel also counts the terms
// into the histogram (33 bins per block in shared memory, one global atomic
// per bin per block).
LACONIC_HOST_DEVICE inline u64 terms4_body_count(u64 values) { return (values + 3) / 4; }

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

// The terms of one index's values: `count` of them (1 … 4), value k's in
// byte k of `packed`.
struct Terms4 {
  u32 packed = 0;
  int count = 0;
};

template <class Magnitude>
LACONIC_HOST_DEVICE inline Terms4 terms4_body(u64 index, const Magnitude* magnitudes, u64 count, Encoding encoding,
                                              u8* terms) {
  const u64 first = index * 4;
  Terms4 out;
  if (first + 4 > count) {
    for (u64 i = first; i < count; ++i, ++out.count) {
      const u8 t = static_cast<u8>(terms_of_magnitude(encoding, magnitudes[i]));
      terms[i] = t;
      out.packed |= static_cast<u32>(t) << (8 * out.count);
    }
    return out;
  }
  Magnitude m[4];
  load4(magnitudes + first, m);
  for (int k = 0; k < 4; ++k) out.packed |= static_cast<u32>(terms_of_magnitude(encoding, m[k])) << (8 * k);
  out.count = 4;
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<u32*>(terms + first) = out.packed;
#else
  for (int k = 0; k < 4; ++k) terms[first + static_cast<u64>(k)] = static_cast<u8>(out.packed >> (8 * k));
#endif
  return out;
}

// ---------------------------------------------------------------------------
// Weights, once per layer (plain division: these run once per layer).

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
// §4 work, on the layer as given. The bodies return the sample their sums
// belong to and the sums for the accumulators kLaconicWork, kNonzeroPairs and
// kActivationTerms (consecutive); a warp adds them with add_by_key.

// Conv, one index per (sample, c, r, x): Σ_(c,r,s) F(c,r,s)·G(c,r,s), with F
// the sum of t(a) over the positions kernel offset (r, s) touches, regrouped
// by input column: the column sum of channel c over the rows that kernel row
// r touches (Ho of them, padding contributing 0) times the G of every kernel
// column s that reads input column x (at most ⌈S/σw⌉). A block of indices
// reads consecutive x of one row: coalesced. O(C·R·W·(Ho + S/σw)) per
// sample, against O(C·R·S·Ho·Wo) for a loop over every position.
LACONIC_HOST_DEVICE inline u64 conv_work_sums(u64 index, const LayerParams& p, const u8* terms, const u64* term_sums,
                                              const u64* nonzero_sums, u64 (&sums)[3]) {
  const LayerDims& d = p.layer;
  const DimDivisors& by = p.by_layer;
  u64 i = index;
  const i64 x = by.width.take(i);
  const i64 r = by.kernel_h.take(i);
  const i64 c = by.channels.take(i);
  const u64 n = i;
  sums[0] = sums[1] = sums[2] = 0;
  // Kernel columns s that read x: s ≡ x + pad_left (mod σw), s ≤ x + pad_left,
  // at output column ow = (x + pad_left − s)/σw < Wo.
  u64 shifted = static_cast<u64>(x + d.pad_left);
  const i64 s0 = by.stride_w.take(shifted);
  const i64 ow0 = static_cast<i64>(shifted);  // the output column of s0
  const i64 g_row = c * d.rs + r * d.kernel_w;  // [group][c'][r·S+s] with group·(C/g) + c' = c
  u64 g_terms = 0, g_nonzero = 0, columns = 0;
  for (i64 s = s0, ow = ow0; s < d.kernel_w && ow >= 0; s += d.stride_w, --ow)
    if (ow < d.out_w) {
      g_terms += term_sums[g_row + s];
      g_nonzero += nonzero_sums[g_row + s];
      ++columns;
    }
  if (columns == 0) return n;
  const u8* column = terms + static_cast<i64>(n) * d.per_sample + c * d.height * d.width + x;
  u64 f_terms = 0, f_nonzero = 0;
  for (i64 oh = 0, y = r - d.pad_top; oh < d.out_h; ++oh, y += d.stride_h)
    if (y >= 0 && y < d.height) {
      const u8 t = column[y * d.width];
      f_terms += t;
      f_nonzero += t != 0;
    }
  sums[0] = f_terms * g_terms;
  sums[1] = f_nonzero * g_nonzero;
  sums[2] = f_terms * columns;
  return n;
}

// FC, one index per (sample, chunk of kFcChunk channels).
LACONIC_HOST_DEVICE inline u64 fc_work_sums(u64 index, const LayerParams& p, const u8* terms, const u64* term_sums,
                                            const u64* nonzero_sums, u64 (&sums)[3]) {
  const LayerDims& d = p.layer;
  u64 i = index;
  const i64 begin = p.by_fc_chunks.take(i) * kFcChunk;
  const u64 n = i;
  const i64 end = min_i64(begin + kFcChunk, d.channels);
  const u8* t = terms + static_cast<i64>(n) * d.per_sample;
  u64 laconic = 0, nonzero = 0, activation = 0;
  for (i64 c = begin; c < end; ++c) {
    laconic += t[c] * term_sums[c];
    nonzero += t[c] != 0 ? nonzero_sums[c] : 0;
    activation += t[c];
  }
  sums[0] = laconic;
  sums[1] = nonzero;
  sums[2] = activation;
  return n;
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
  u64 i = index;
  const i64 x2 = p.by_counted.width.take(i);
  const i64 y2 = p.by_counted.height.take(i);
  const i64 c2 = p.by_counted.channels.take(i);
  const i64 n = static_cast<i64>(i);
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

// With plain division (tests, host code).
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

// The same with the layer's fast divisors (the kernels).
LACONIC_HOST_DEVICE inline StepAt step_at(const AcceleratorParams& a, const DimDivisors& counted, u64 k) {
  StepAt at;
  at.block = a.by_blocks.take(k);
  at.r = counted.kernel_h.take(k);
  at.s = counted.kernel_w.take(k);
  at.filter_set = a.by_filter_sets.take(k);
  at.window_set = a.by_window_sets.take(k);
  at.group = static_cast<i64>(k);
  return at;
}

// The counted layer's input position that window `window` (oh fastest, §5)
// reads at kernel offset (r, s); false in the padding.
LACONIC_HOST_DEVICE inline bool window_input(const LayerDims& d, i64 window, i64 r, i64 s, i64* y, i64* x) {
  *y = (window % d.out_h) * d.stride_h + r - d.pad_top;
  *x = (window / d.out_h) * d.stride_w + s - d.pad_left;
  return *y >= 0 && *y < d.height && *x >= 0 && *x < d.width;
}

// The windows of one window set in order, without a division per window:
// window w = ow·Ho + oh, and the input position it reads at (r, s).
struct WindowCursor {
  i64 oh = 0, ow = 0, y = 0, x = 0;  // y, x: the input position at offset (r, s)
  LACONIC_HOST_DEVICE WindowCursor(const LayerDims& d, const DimDivisors& by, i64 first, i64 r, i64 s) {
    u64 w = static_cast<u64>(first);
    oh = by.out_h.take(w);
    ow = static_cast<i64>(w);
    y = oh * d.stride_h + r - d.pad_top;
    x = ow * d.stride_w + s - d.pad_left;
  }
  LACONIC_HOST_DEVICE bool inside(const LayerDims& d) const { return y >= 0 && y < d.height && x >= 0 && x < d.width; }
  LACONIC_HOST_DEVICE void next(const LayerDims& d) {
    if (++oh == d.out_h) {
      y -= (d.out_h - 1) * d.stride_h;
      oh = 0;
      ++ow;
      x += d.stride_w;
    } else {
      y += d.stride_h;
    }
  }
};

// ---------------------------------------------------------------------------
// §5/§8 Laconic, conv. A column's cost at step k is
// max(1, max over the block's lanes of t_a(window, lane) · (weight maximum of
// the lane over the filter set)) for a column that holds a window, 0 else.

// R = 0, one index per (sample, lane group, window set, r·S+s, lane): the
// largest activation term over the set's windows, 0 in the padding and for
// an empty lane.
LACONIC_HOST_DEVICE inline void window_max_body(u64 index, const LayerParams& p, const u8* terms, u8* window_max) {
  const AcceleratorParams& a = p.laconic;
  const StepPlan& plan = a.plan;
  const LayerDims& d = p.counted;
  u64 i = index;
  const i64 lane = a.by_group_lanes.take(i);
  const i64 rsi = p.by_counted.rs.take(i);
  const i64 ws = a.by_window_sets.take(i);
  const i64 group = a.by_groups.take(i);
  const i64 n = static_cast<i64>(i);
  const i64 channel = plan.channel(group, lane);
  u8 m = 0;
  if (channel >= 0) {
    u64 rs = static_cast<u64>(rsi);
    const i64 s = p.by_counted.kernel_w.take(rs);
    const i64 r = static_cast<i64>(rs);
    const u8* plane = terms + n * d.per_sample + channel * d.height * d.width;
    const i64 first = ws * plan.columns;
    const i64 count = min_i64(first + plan.columns, plan.windows) - first;
    WindowCursor at(d, p.by_counted, first, r, s);
    for (i64 w = 0; w < count; ++w, at.next(d))
      if (at.inside(d)) m = max_u8(m, plane[at.y * d.width + at.x]);
  }
  window_max[index] = m;
}

// R = 0, one index per (sample, step): the step's cost, max over its columns,
// which factors as max(1, max over lanes of window-set max · weight max)
// (§5). Returns the index's sample.
LACONIC_HOST_DEVICE inline u64 laconic_step_cost(u64 index, const LayerParams& p, const u8* window_max,
                                                 const u8* weight_max, u64 (&cost)[1]) {
  const AcceleratorParams& a = p.laconic;
  const StepPlan& plan = a.plan;
  const LayerDims& d = p.counted;
  const u64 n = a.by_steps.quotient(index);
  const StepAt at = step_at(a, p.by_counted, index - n * a.steps);
  const i64 rsi = at.r * d.kernel_w + at.s;
  const u8* act = window_max + (((static_cast<i64>(n) * plan.groups + at.group) * plan.window_sets + at.window_set) *
                                    d.rs + rsi) * plan.group_lanes;
  const u8* w = weight_max + ((at.group * plan.filter_sets + at.filter_set) * d.rs + rsi) * plan.group_lanes;
  const i64 begin = at.block * plan.lanes;
  const i64 end = min_i64(begin + plan.lanes, plan.group_lanes);
  unsigned slowest = 1;  // a step costs at least 1
  for (i64 l = begin; l < end; ++l) {
    const unsigned product = static_cast<unsigned>(act[l]) * w[l];
    if (product > slowest) slowest = product;
  }
  cost[0] = slowest;
  return n;
}

// R ≥ 1, one index per (sample, step): the cost d_c of each of the step's Ct
// columns, into column_costs[index·Ct + c] (at most 32·32, 16 bits).
LACONIC_HOST_DEVICE inline void column_cost_body(u64 index, const LayerParams& p, const u8* terms,
                                                 const u8* weight_max, u16* column_costs) {
  const AcceleratorParams& a = p.laconic;
  const StepPlan& plan = a.plan;
  const LayerDims& d = p.counted;
  const i64 n = static_cast<i64>(a.by_steps.quotient(index));
  const StepAt at = step_at(a, p.by_counted, index - static_cast<u64>(n) * a.steps);
  const i64 rsi = at.r * d.kernel_w + at.s;
  const u8* w = weight_max + ((at.group * plan.filter_sets + at.filter_set) * d.rs + rsi) * plan.group_lanes;
  const u8* sample_terms = terms + n * d.per_sample;
  const i64 begin = at.block * plan.lanes;
  const i64 end = min_i64(begin + plan.lanes, plan.group_lanes);
  u16* out = column_costs + index * static_cast<u64>(plan.columns);
  const i64 first = at.window_set * plan.columns;
  const i64 count = min_i64(first + plan.columns, plan.windows) - first;
  WindowCursor window(d, p.by_counted, first, at.r, at.s);
  for (i64 c = 0; c < count; ++c, window.next(d)) {
    unsigned slowest = 1;
    if (window.inside(d)) {
      const u8* position = sample_terms + window.y * d.width + window.x;
      for (i64 l = begin; l < end; ++l) {
        const i64 channel = plan.channel(at.group, l);
        if (channel < 0) continue;
        const unsigned product = static_cast<unsigned>(position[channel * d.height * d.width]) * w[l];
        if (product > slowest) slowest = product;
      }
    }
    out[c] = static_cast<u16>(slowest);
  }
  for (i64 c = count; c < plan.columns; ++c) out[c] = 0;  // idle columns
}

// R ≥ 1, one index per sample, sequential over the sample's steps in §8
// order: the column clock (model.hpp ColumnClock) over the column costs.
// `clock` holds clock_buffer_words(p.laconic, false) words per sample.
LACONIC_HOST_DEVICE inline void laconic_scan_body(u64 index, const LayerParams& p, const u16* column_costs,
                                                  u64* clock, u64* acc) {
  const AcceleratorParams& a = p.laconic;
  const i64 columns = a.plan.columns;
  u64 local[kClockLocalWords];
  const u64 held = clock_buffer_words(a, false);
  u64* words = held == 0 ? local : clock + index * held;
  ColumnClock column_clock(columns, a.registers, words, words + columns);
  const u16* d = column_costs + index * a.steps * static_cast<u64>(columns);
  for (u64 k = 0; k < a.steps; ++k, d += columns) column_clock.step([&](i64 c) -> u64 { return d[c]; });
  acc[index * kAccumulators + kLaconicCycles] = column_clock.cycles();
}

// §5 FC, one index per (sample, block) of Laconic's recurrence, blocks in
// issue order (filter set, then channel block): the block's cost, max(1, max
// over its lanes of t(a) · the filter set's weight maximum), into
// block_costs[index] (Laconic weight maxima of an FC layer are [filter set][c]).
LACONIC_HOST_DEVICE inline void fc_block_cost_body(u64 index, const LayerParams& p, const u8* terms,
                                                   const u8* weight_max, u16* block_costs) {
  const AcceleratorParams& a = p.laconic;
  const StepPlan& plan = a.plan;
  const i64 channels = p.layer.channels;
  u64 i = index;
  const i64 block = a.by_blocks.take(i);
  const i64 fs = a.by_filter_sets.take(i);
  const i64 n = static_cast<i64>(i);
  const u8* t = terms + n * p.layer.per_sample;
  const u8* w = weight_max + fs * channels;
  const i64 begin = block * plan.lanes;
  const i64 end = min_i64(begin + plan.lanes, channels);
  unsigned slowest = 1;
  for (i64 l = begin; l < end; ++l) {
    const unsigned product = static_cast<unsigned>(t[l]) * w[l];
    if (product > slowest) slowest = product;
  }
  block_costs[index] = static_cast<u16>(slowest);
}

// §5 FC, one index per sample: the column recurrence over the block costs.
// `clock` holds clock_buffer_words(p.laconic, true) words per sample.
LACONIC_HOST_DEVICE inline void fc_laconic_body(u64 index, const LayerParams& p, const u16* block_costs, u64* clock,
                                                u64* acc) {
  const AcceleratorParams& a = p.laconic;
  const u16* cost = block_costs + index * a.steps;
  u64 local[kClockLocalWords];
  const u64 held = clock_buffer_words(a, true);
  u64* busy = held == 0 ? local : clock + index * held;
  acc[index * kAccumulators + kLaconicCycles] =
      fc_recurrence(a.steps, a.plan.columns, busy, [&](u64 i) -> u64 { return cost[i]; });
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
  const AcceleratorParams& a = p.pragmatic;
  const StepPlan& plan = a.plan;
  const LayerDims& d = p.counted;
  u64 i = index;
  const i64 x = p.by_counted.width.take(i);
  const i64 y = p.by_counted.height.take(i);
  const i64 block = a.by_blocks.take(i);
  const i64 group = a.by_groups.take(i);
  const i64 n = static_cast<i64>(i);
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

// One index per (sample, lane group, window set, r·S+s, channel block): calls
// column(c, cost) for each column c of the window set that holds a window,
// cost being the position cost it reads (0 in the padding); returns the
// number of such columns and writes the sample to `sample`.
LACONIC_HOST_DEVICE_TEMPLATE
template <class Column>
LACONIC_HOST_DEVICE inline i64 pragmatic_columns(u64 index, const LayerParams& p, const u8* position_costs, u64* sample,
                                                 Column column) {
  const AcceleratorParams& a = p.pragmatic;
  const StepPlan& plan = a.plan;
  const LayerDims& d = p.counted;
  u64 i = index;
  const i64 block = a.by_blocks.take(i);
  u64 rsi = static_cast<u64>(p.by_counted.rs.take(i));
  const i64 ws = a.by_window_sets.take(i);
  const i64 group = a.by_groups.take(i);
  *sample = i;
  const i64 s = p.by_counted.kernel_w.take(rsi);
  const i64 r = static_cast<i64>(rsi);
  const u8* costs =
      position_costs + ((static_cast<i64>(i) * plan.groups + group) * plan.channel_blocks + block) * d.height * d.width;
  const i64 first = ws * plan.columns;
  const i64 count = min_i64(first + plan.columns, plan.windows) - first;
  WindowCursor window(d, p.by_counted, first, r, s);
  for (i64 c = 0; c < count; ++c, window.next(d))
    column(c, window.inside(d) ? unsigned{costs[window.y * d.width + window.x]} : 0u);
  return count;
}

// R = 0: the step's cost, max(1, max over its columns' position costs); the
// filter sets repeat the step (the sum is scaled by filter_sets). Returns the
// sample.
LACONIC_HOST_DEVICE inline u64 pragmatic_step_cost(u64 index, const LayerParams& p, const u8* position_costs,
                                                   u64 (&cost)[1]) {
  unsigned slowest = 1;
  u64 n = 0;
  pragmatic_columns(index, p, position_costs, &n, [&](i64, unsigned c) {
    if (c > slowest) slowest = c;
  });
  cost[0] = slowest;
  return n;
}

// R ≥ 1: the columns' costs d_c = max(1, position cost), 0 for an idle
// column, into column_costs[index·Ct + c].
LACONIC_HOST_DEVICE inline void pragmatic_column_body(u64 index, const LayerParams& p, const u8* position_costs,
                                                      u8* column_costs) {
  const i64 columns = p.pragmatic.plan.columns;
  u8* out = column_costs + index * static_cast<u64>(columns);
  u64 n = 0;
  const i64 used = pragmatic_columns(index, p, position_costs, &n,
                                     [&](i64 c, unsigned cost) { out[c] = static_cast<u8>(cost > 1 ? cost : 1); });
  for (i64 c = used; c < columns; ++c) out[c] = 0;
}

// R ≥ 1, one index per sample, sequential over the sample's steps in §8
// order: the column clock over the column costs, every filter set reading
// the same ones. `clock` holds clock_buffer_words(p.pragmatic, false) words
// per sample.
LACONIC_HOST_DEVICE inline void pragmatic_scan_body(u64 index, const LayerParams& p, const u8* column_costs,
                                                    u64* clock, u64* acc) {
  const AcceleratorParams& a = p.pragmatic;
  const StepPlan& plan = a.plan;
  const LayerDims& d = p.counted;
  const i64 columns = plan.columns;
  u64 local[kClockLocalWords];
  const u64 held = clock_buffer_words(a, false);
  u64* words = held == 0 ? local : clock + index * held;
  ColumnClock column_clock(columns, a.registers, words, words + columns);
  const i64 per_set = d.rs * plan.channel_blocks * columns;  // one window set of one lane group
  const u8* sample = column_costs + static_cast<i64>(index) * plan.groups * plan.window_sets * per_set;
  for (i64 set = 0; set < plan.groups * plan.window_sets; ++set)
    for (i64 fs = 0; fs < plan.filter_sets; ++fs)
      for (i64 s = 0; s < d.kernel_w; ++s)
        for (i64 r = 0; r < d.kernel_h; ++r) {
          const u8* cost = sample + set * per_set + (r * d.kernel_w + s) * plan.channel_blocks * columns;
          for (i64 block = 0; block < plan.channel_blocks; ++block, cost += columns)
            column_clock.step([&](i64 c) -> u64 { return cost[c]; });
        }
  acc[index * kAccumulators + kPragmaticCycles] = column_clock.cycles();
}

// §5/§9 FC, one index per sample: the column recurrence over filter set ×
// channel block, a block costing max(1, its position cost) whatever the
// filter set. `clock` holds clock_buffer_words(p.pragmatic, true) words per
// sample.
LACONIC_HOST_DEVICE inline void fc_pragmatic_body(u64 index, const LayerParams& p, const u8* position_costs,
                                                  u64* clock, u64* acc) {
  const AcceleratorParams& a = p.pragmatic;
  const u8* cost = position_costs + index * static_cast<u64>(a.plan.channel_blocks);
  u64 local[kClockLocalWords];
  const u64 held = clock_buffer_words(a, true);
  u64* busy = held == 0 ? local : clock + index * held;
  acc[index * kAccumulators + kPragmaticCycles] =
      fc_recurrence(a.steps, a.plan.columns, busy, [&](u64 i) -> u64 {
        const u8 c = cost[a.by_blocks.take(i)];
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

// Calls f(T{}, Magnitude{}): T the C++ type of `type`, Magnitude the
// unsigned type of `magnitude_bytes` (1, 2 or 4) bytes; the instantiation of
// resident_magnitude_body a backend runs for a resident batch.
template <class F>
void with_resident_types(ValueType type, int magnitude_bytes, F&& f) {
  auto by_magnitude = [&](auto value_tag) {
    switch (magnitude_bytes) {
      case 1: return f(value_tag, std::uint8_t{});
      case 2: return f(value_tag, std::uint16_t{});
      default: return f(value_tag, std::uint32_t{});
    }
  };
  switch (type) {
    case ValueType::i8: return by_magnitude(std::int8_t{});
    case ValueType::u8: return by_magnitude(std::uint8_t{});
    case ValueType::i16: return by_magnitude(std::int16_t{});
    case ValueType::u16: return by_magnitude(std::uint16_t{});
    case ValueType::i32: return by_magnitude(std::int32_t{});
    case ValueType::u32: return by_magnitude(std::uint32_t{});
    case ValueType::i64: return by_magnitude(std::int64_t{});
    case ValueType::f32: return by_magnitude(float{});
    case ValueType::f64: return by_magnitude(double{});
  }
}

// The error for value `index` of `source` (a batch's first bad value, its
// raw bytes copied from the device to `raw`): the conversion's own message,
// or the declared width's when the value converts but does not fit it.
std::string resident_error(const MemorySource& source, u64 index, const void* raw);

// ---------------------------------------------------------------------------
// Host side: what moves to the device, how a layer is cut into batches, where
// its buffers live, and the driver that streams batches through a backend.

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

// A batch holds at most this many activations (unless one sample holds
// more), so that copies overlap compute on layers with many samples.
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
  int slots = 1;               // batches in flight, each with its own buffers
  u64 device_bytes = 0;        // the layer's arena: every buffer, aligned (DeviceLayout)
};

// Every device buffer of a layer lives in one allocation (the layer's arena),
// each at a multiple of kBufferAlignment. DeviceLayout gives each buffer's
// pointer from the arena's base; both backends allocate the arena and read
// their buffers from it, and the plan's footprint is its size.
inline constexpr u64 kBufferAlignment = 256;

struct WeightBuffers {
  u8* magnitudes = nullptr;
  u8* terms = nullptr;
  u64* term_sums = nullptr;
  u64* nonzero_sums = nullptr;
  u8* folded_terms = nullptr;
  u8* maxima = nullptr;
  u64* histogram = nullptr;  // kBins words
};

struct SlotBuffers {
  u8* magnitudes = nullptr;
  u8* terms = nullptr;
  u8* folded_terms = nullptr;
  u8* folded_magnitudes = nullptr;
  u8* window_max = nullptr;
  u16* laconic_columns = nullptr;
  u16* fc_block_costs = nullptr;
  u8* position_costs = nullptr;
  u64* shifter_scratch = nullptr;
  u8* pragmatic_columns = nullptr;
  u64* pragmatic_clock = nullptr;
  u64* laconic_clock = nullptr;
  u64* results = nullptr;  // kResultHeader words (the histogram first), then samples × kAccumulators
};

struct DeviceLayout {
  WeightBuffers weights;
  std::vector<SlotBuffers> slots;
  u64 bytes = 0;  // the arena's size
};

// The layout of `plan`'s buffers in an arena at `base` (nullptr: only the
// size; the pointers are then offsets and must not be used).
DeviceLayout device_layout(const BatchPlan& plan, void* base);

// Plans a layer: how many samples go in one batch so that the layer's arena
// (the weights and `slots` batches' buffers, aligned) fits `budget` bytes
// (0 = no limit), a staging buffer stays within max_batch_bytes and a batch
// within kMaxBatchValues (each at least one sample). Throws laconic::Error
// naming the layer when not even one sample per slot fits the budget.
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
  // Sets up a layer: makes the arena of plan.device_bytes (keeping the
  // previous layer's when it is large enough, else freeing it first, so that
  // what is held never exceeds the largest plan), moves the weights'
  // magnitudes (weight_magnitudes, `count` values of magnitude_bytes(p_w)
  // bytes each) and runs the weight bodies. Returns the weights' histogram.
  virtual TermStats begin_layer(const LayerParams& p, const BatchPlan& plan, int activation_magnitude_bytes,
                                int weight_magnitude_bytes, const void* weight_magnitudes, u64 count) = 0;
  // Host buffer of `slot` to fill with a batch's magnitudes (room for
  // samples_per_batch samples); valid until the next launch on the slot.
  virtual void* staging(int slot) = 0;
  // Starts the batch staged in `slot` (may return before it is done). When it
  // throws, nothing of the batch runs any more and the slot is free.
  virtual void launch(int slot, u64 samples) = 0;
  // Waits for the slot's batch; writes its accumulators (samples ×
  // kAccumulators) and adds its activation terms to `histogram`. Throws
  // laconic::Error (resident_error) when a resident batch held a value that
  // could not be converted.
  virtual void finish(int slot, std::vector<u64>& accumulators, TermStats& histogram) = 0;
  // Starts a batch of `samples` samples whose values are values [first,
  // first + samples · C·H·W) of `source` (on_device()), converted to
  // magnitudes where they are (resident_magnitude_body, into the slot's
  // magnitudes buffer), in place of staging + launch; the batch's lowest
  // unconvertible index goes to its results header (kFirstBadWord). The
  // values must stay unchanged until finish(); the cuda backend first waits
  // for work queued on CUDA's legacy default stream (DLPack's stream 1),
  // where the values' producer made them ready. When it throws, nothing of
  // the batch runs any more and the slot is free. The default throws: a
  // backend without a device reads no device memory.
  virtual void launch_resident(int slot, const MemorySource& source, u64 first, u64 samples);
  // Device bytes the backend holds now, and the most it has held at once.
  virtual u64 bytes_held() const = 0;
  virtual u64 peak_bytes_held() const = 0;
};

// The emulation: every body run in OpenMP loops on the CPU, the warp sums
// through EmulatedWarp, the buffers in one host arena laid out as on the
// device. Its "device" memory is host memory: it reads a resident
// MemorySource where it is, as the cuda backend does on the GPU.
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

// What each kernel of the cuda engine does per sample of a layer, from the
// shapes alone (for reading a GPU run against its memory and link limits):
// how many indices it runs, the bytes of per-sample buffers it must read and
// write at least (each once: what device memory delivers when the caches
// hold the reuse; the weight-side buffers, read by every sample of a batch,
// are left out), and its integer operations (the inner loops' iterations:
// additions, maxima, products; for Pragmatic's shifter, one per lane read,
// its cycles depending on the data). `sequential` marks the per-sample
// recurrences, whose operations run on one thread per sample. The copies
// appear as "copy in (host to device)" and "results (device to host)".
struct KernelWork {
  std::string kernel;
  u64 indices = 0, bytes_read = 0, bytes_written = 0, operations = 0;
  bool sequential = false;
};
std::vector<KernelWork> kernel_work(const LayerParams& p, int activation_magnitude_bytes);

}  // namespace grid
}  // namespace laconic
