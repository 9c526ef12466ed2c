// The model's arithmetic that the fast engines share (MODEL.md §4, §5, §8,
// §9): the work formulas applied to factorized sums, how each accelerator's
// steps cover a layer (its step plan: geometry, depthwise mapping), the
// first-layer fold, Pragmatic's first-stage shifter, the column clock of
// column registers, the FC column recurrence and the cycles of the
// accelerators whose step cost does not depend on the data. The cpu engine,
// the cuda engine and the cuda engine's CPU emulation all call these; the
// reference engine keeps its own literal reading of the model.
#pragma once

#include <cstdint>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/host_device.hpp"
#include "laconic/layer.hpp"
#include "laconic/results.hpp"
#include "laconic/terms.hpp"

namespace laconic {

// The data-dependent sums of one sample from which §4's work follows.
struct WorkSums {
  std::uint64_t laconic = 0;           // Σ over MACs of t(a)·t(w)
  std::uint64_t nonzero_pairs = 0;     // Σ over MACs of [a ≠ 0]·[w ≠ 0]
  std::uint64_t activation_terms = 0;  // Σ over (c, r, s, oh, ow) positions of t(a), once per position
};

// §4 work of one sample: each (c, r, s, oh, ow) position is multiplied by the
// K/g filters of its group, so Σ_MAC t(a)·P_base = P_base·(K/g)·Σ t(a).
// An FC layer is the 1×1, one-group case.
inline Work work_from_sums(const LayerShape& shape, int activation_bits, int baseline_width, const WorkSums& sums) {
  const auto p_base = static_cast<std::uint64_t>(baseline_width);
  const auto macs = static_cast<std::uint64_t>(shape.macs_per_sample());
  Work work;
  work.baseline = p_base * p_base * macs;
  work.zero_skip = p_base * p_base * sums.nonzero_pairs;
  work.stripes = static_cast<std::uint64_t>(activation_bits) * p_base * macs;
  work.pragmatic = p_base * static_cast<std::uint64_t>(shape.filters_per_group()) * sums.activation_terms;
  work.laconic = sums.laconic;
  return work;
}

// ---------------------------------------------------------------------------
// §8 first-layer fold: a conv layer with 3 input channels, one group and a
// stride σ > 1 (the same in both directions) is counted, for cycles only,
// after a space-to-depth fold of its zero-padded input: activation (c, h, w)
// moves to channel (w mod σ)·3σ + 3·(h mod σ) + c at (⌊h/σ⌋, ⌊w/σ⌋), weights
// (c, r, s) likewise; the folded layer has 3σ² channels, stride 1, no
// padding, a ⌈R/σ⌉ × ⌈S/σ⌉ kernel and a ⌈Hp/σ⌉ × ⌈Wp/σ⌉ input. Work (§4) and
// term statistics stay those of the layer as given.

bool folds_first_layer(const LayerShape& shape, const ProfileConfig& config);

// The folded layer's shape (call only when folds_first_layer holds).
LayerShape folded_shape(const LayerShape& shape);

// The shape whose steps count the cycles: the folded one where the fold
// applies, else the layer's own.
LayerShape cycles_shape(const LayerShape& shape, const ProfileConfig& config);

// Where folded position (channel `c2`, row `y2`, column `x2`) of the folded
// input comes from in the layer's input A[c][y][x] (`shape` is the layer as
// given, stride σ). Returns false where it reads zero (padding, or beyond the
// padded input when σ does not divide it).
LACONIC_HOST_DEVICE inline bool fold_activation_source(const LayerShape& shape, std::int64_t c2, std::int64_t y2,
                                                       std::int64_t x2, std::int64_t* c, std::int64_t* y,
                                                       std::int64_t* x) {
  const std::int64_t sigma = shape.stride_h;
  const std::int64_t h = y2 * sigma + (c2 / 3) % sigma;  // padded coordinates
  const std::int64_t w = x2 * sigma + c2 / (3 * sigma);
  *c = c2 % 3;
  *y = h - shape.padding.top;
  *x = w - shape.padding.left;
  return *y >= 0 && *y < shape.height && *x >= 0 && *x < shape.width;
}

// Where folded weight (channel `c2`, row `r2`, column `s2`) comes from in
// W[k][c][r][s]; false where it is a missing position (0).
LACONIC_HOST_DEVICE inline bool fold_weight_source(const LayerShape& shape, std::int64_t c2, std::int64_t r2,
                                                   std::int64_t s2, std::int64_t* c, std::int64_t* r,
                                                   std::int64_t* s) {
  const std::int64_t sigma = shape.stride_h;
  *c = c2 % 3;
  *r = r2 * sigma + (c2 / 3) % sigma;
  *s = s2 * sigma + c2 / (3 * sigma);
  return *r < shape.kernel_height && *s < shape.kernel_width;
}

// ---------------------------------------------------------------------------
// §5/§8 step plan: how one accelerator's steps cover a conv layer (the shape
// of cycles_shape). Steps are one per (lane group, window set, filter set,
// kernel column s, kernel row r, channel block), in that order (§8).
//
// A lane group is a set of lanes that a step's channel blocks cut: with the
// per-group mapping, a group of the layer (C/g lanes, lane c' reading channel
// group·C/g + c', filter sets of T·Rt of the group's filters, each filter
// using every lane); with the diagonal mapping (a layer whose weights have one
// channel and whose input has more), L' = min(L, Rt) consecutive filters, one
// filter set, filter G·L' + j in lane j reading that filter's channel (for
// K = C the same index). Everything a step costs follows from the lanes'
// activations and, per lane, the largest weight terms of the filter set
// (weight maxima [group][filter set][r·S+s][lane]).
struct StepPlan {
  bool diagonal = false;
  std::int64_t groups = 0;          // lane groups: g, or ⌈K / L'⌉
  std::int64_t group_lanes = 0;     // lanes per group: C/g, or L'
  std::int64_t lanes = 0;           // channel block width: L, or L'
  std::int64_t group_filters = 0;   // filters per group: K/g, or L'
  std::int64_t set_size = 0;        // filters per filter set: T·Rt, or L'
  std::int64_t columns = 0;         // Ct
  std::int64_t windows = 0;         // Ho·Wo
  std::int64_t window_sets = 0;     // ⌈Ho·Wo / Ct⌉
  std::int64_t filter_sets = 0;     // ⌈group_filters / set_size⌉
  std::int64_t channel_blocks = 0;  // ⌈group_lanes / lanes⌉
  std::int64_t kernel_offsets = 0;  // R·S
  std::int64_t filters = 0;              // K (diagonal: filters beyond K leave their lane empty)
  std::int64_t channels_per_group = 0;   // C/g of the layer
  std::int64_t filters_per_channel = 1;  // K/g of the layer (diagonal: filter f reads channel f / this)

  // Steps of one sample.
  LACONIC_HOST_DEVICE std::uint64_t steps() const {
    return static_cast<std::uint64_t>(groups * window_sets * filter_sets * kernel_offsets * channel_blocks);
  }
  // Input channel of `lane` of lane group `group`, or −1 for an empty lane.
  LACONIC_HOST_DEVICE std::int64_t channel(std::int64_t group, std::int64_t lane) const {
    if (!diagonal) return group * channels_per_group + lane;
    const std::int64_t filter = group * group_lanes + lane;
    return filter < filters ? filter / filters_per_channel : -1;
  }
};

// Whether §8's diagonal mapping applies to the layer under the configuration.
bool maps_diagonally(const LayerShape& shape, const ProfileConfig& config);

// The step plan of an accelerator at `geometry` on the conv layer `shape`
// (already folded where the fold applies).
StepPlan step_plan(const LayerShape& shape, const Geometry& geometry, bool diagonal);

// ---------------------------------------------------------------------------
// §9 Pragmatic's first-stage shifter over one column's lanes: each cycle takes
// o, the smallest remaining term position of any lane, and every lane whose
// smallest remaining position is at most o + 2^B − 1 consumes it; the column
// costs the cycles until every lane is empty (0 when all are empty; callers
// apply the max(1, ·) of a column that holds a window). Term positions are
// masks (§3a): 32-bit where every position is below 32 (values of up to 29
// bits), else 64-bit. B = kShifterUnbounded, or a reach that covers every
// position of the mask, gives max_l t(a_l).
//
// Written for K independent columns at once, `positions[l][k]` being lane l
// of column k (scratch, left in any state): each step below is the same for
// every k, so the compiler keeps K columns in one vector register. In each
// cycle the lanes' lowest positions are the bits e & −e, their OR's lowest
// bit is 2^o, and the positions within reach are the mask 2^(o+2^B) − 1
// (all of them when that shift leaves the mask).
template <class Mask, int K>
LACONIC_HOST_DEVICE inline void pragmatic_shifter_cycles(Mask (*positions)[K], std::int64_t lanes, int shifter_bits,
                                                         unsigned* cycles) {
  constexpr int kBits = static_cast<int>(8 * sizeof(Mask));
  for (int k = 0; k < K; ++k) cycles[k] = 0;
  const int shift = shifter_bits < 0 || shifter_bits >= 8 ? kBits : (1 << shifter_bits);  // 2^B = reach + 1
  if (shift >= kBits) {
    for (std::int64_t l = 0; l < lanes; ++l)
      for (int k = 0; k < K; ++k) {
        const unsigned t = static_cast<unsigned>(popcount64(positions[l][k]));
        cycles[k] = t > cycles[k] ? t : cycles[k];
      }
    return;
  }
  for (;;) {
    Mask lowest[K] = {};  // every lane's lowest remaining position, OR-ed
    for (std::int64_t l = 0; l < lanes; ++l)
      for (int k = 0; k < K; ++k) lowest[k] |= positions[l][k] & static_cast<Mask>(~positions[l][k] + 1);
    Mask any = 0, within[K];
    for (int k = 0; k < K; ++k) {
      any |= lowest[k];
      const Mask first = lowest[k] & static_cast<Mask>(~lowest[k] + 1);  // 2^o
      within[k] = static_cast<Mask>(static_cast<Mask>(first << shift) - 1);
      cycles[k] += lowest[k] != 0;
    }
    if (any == 0) return;
    for (std::int64_t l = 0; l < lanes; ++l)
      for (int k = 0; k < K; ++k)
        positions[l][k] ^= positions[l][k] & static_cast<Mask>(~positions[l][k] + 1) & within[k];
  }
}

// One column: `positions[l]` is lane l.
template <class Mask>
LACONIC_HOST_DEVICE inline unsigned pragmatic_shifter_cycles(Mask* positions, std::int64_t lanes, int shifter_bits) {
  unsigned cycles = 0;
  pragmatic_shifter_cycles<Mask, 1>(reinterpret_cast<Mask(*)[1]>(positions), lanes, shifter_bits, &cycles);
  return cycles;
}

// ---------------------------------------------------------------------------
// §8 column synchronization with R ≥ 0 column registers:
//   E_c(k) = max(E_c(k−1), M(k−1−R)) + d_c(k),  M(j) = max_c E_c(j),
// E_c(−1) = 0, M(j) = 0 for j < 0; layer cycles = max_c E_c(last). With
// R = 0 this is Σ_k max_c d_c(k), the lockstep of §5. The clock keeps E in
// `finish` (Ct entries) and the last R + 1 values of M in `history`
// (R + 1 entries), both scratch owned by the caller.
class ColumnClock {
 public:
  LACONIC_HOST_DEVICE ColumnClock(std::int64_t columns, std::int64_t registers, std::uint64_t* finish,
                                  std::uint64_t* history)
      : columns_(columns), registers_(registers), finish_(finish), history_(history) {
    for (std::int64_t c = 0; c < columns; ++c) finish_[c] = 0;
    for (std::int64_t j = 0; j <= registers; ++j) history_[j] = 0;
  }
  // One step: cost(c) is d_c(k) for c in [0, Ct): at least 1 for a column
  // that holds a window, 0 for an idle one.
  LACONIC_HOST_DEVICE_TEMPLATE
  template <class Cost>
  LACONIC_HOST_DEVICE void step(Cost cost) {
    // M(k−1−R) sits in the slot M(k) is about to take (a ring of R + 1).
    std::uint64_t& slot = history_[step_ % (registers_ + 1)];
    const std::uint64_t ready = slot;
    std::uint64_t latest = 0;
    for (std::int64_t c = 0; c < columns_; ++c) {
      std::uint64_t e = finish_[c] > ready ? finish_[c] : ready;
      e += cost(c);
      finish_[c] = e;
      latest = e > latest ? e : latest;
    }
    slot = latest;
    last_ = latest;
    ++step_;
  }
  // max_c E_c(last step); 0 before any step.
  LACONIC_HOST_DEVICE std::uint64_t cycles() const { return last_; }

 private:
  std::int64_t columns_, registers_;
  std::uint64_t* finish_;
  std::uint64_t* history_;
  std::int64_t step_ = 0;
  std::uint64_t last_ = 0;
};

// ---------------------------------------------------------------------------
// §5 FC recurrence: `blocks` blocks issued in order (filter set by filter
// set, channel block by channel block), block i costing cost(i) cycles, to
// columns rotating over `columns`; busy[0..columns) is scratch. Returns the
// layer's cycles, max(busy).
LACONIC_HOST_DEVICE_TEMPLATE
template <class Cost>
LACONIC_HOST_DEVICE std::uint64_t fc_recurrence(std::uint64_t blocks, std::int64_t columns, std::uint64_t* busy,
                                                Cost cost) {
  for (std::int64_t c = 0; c < columns; ++c) busy[c] = 0;
  std::uint64_t now = 0;
  std::int64_t col = 0;
  for (std::uint64_t i = 0; i < blocks; ++i) {
    if (busy[col] > now) now = busy[col];
    busy[col] = now + cost(i);
    now += 1;
    col = col + 1 == columns ? 0 : col + 1;
  }
  std::uint64_t last = 0;
  for (std::int64_t c = 0; c < columns; ++c)
    if (busy[c] > last) last = busy[c];
  return last;
}

// §5 FC block counts at a geometry: filter sets of T·Rt filters, channel
// blocks of L channels.
struct FcBlocks {
  std::int64_t filter_sets = 0;
  std::int64_t channel_blocks = 0;
  std::uint64_t blocks() const { return static_cast<std::uint64_t>(filter_sets * channel_blocks); }
};
FcBlocks fc_blocks(const LayerShape& shape, const Geometry& geometry);

// §5/§8 cycles of one sample on the accelerators whose step cost does not
// depend on the data: the baseline (cost 1) and Stripes (cost p_a), each at
// its own geometry and with the layer's depthwise mapping and fold. Their
// costs are the same in every column, so column registers change nothing.
// Pragmatic's and Laconic's cycles are left 0 for the engine to fill in.
Cycles data_independent_cycles(const LayerShape& shape, const ProfileConfig& config, int activation_bits);

}  // namespace laconic
