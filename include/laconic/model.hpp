// The model's arithmetic that the fast engines share (MODEL.md §4, §5): the
// work formulas applied to factorized sums, the step counts of the
// data-independent accelerators, and the FC column recurrence. The cpu
// engine, the cuda engine and the cuda engine's CPU emulation all call these;
// the reference engine keeps its own literal reading of the model.
#pragma once

#include <cstdint>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/host_device.hpp"
#include "laconic/layer.hpp"
#include "laconic/results.hpp"

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

// §5 set and block counts of a layer on a geometry.
struct StepCounts {
  std::int64_t window_sets = 0;     // ⌈Ho·Wo / Ct⌉ (conv; 1 for FC)
  std::int64_t filter_sets = 0;     // ⌈(K/g) / (T·Rt)⌉
  std::int64_t channel_blocks = 0;  // ⌈(C/g) / L⌉
  std::int64_t kernel_offsets = 0;  // R·S
  // Steps of one sample of a conv layer: one per (group, window set, filter
  // set, r, s, channel block); each costs 1 on the baseline, p_a on Stripes.
  std::uint64_t conv_steps(std::int64_t groups) const {
    return static_cast<std::uint64_t>(groups * window_sets * filter_sets * kernel_offsets * channel_blocks);
  }
};

inline StepCounts step_counts(const LayerShape& shape, const Geometry& geometry) {
  StepCounts c;
  const std::int64_t windows = shape.type == LayerType::fc ? 1 : shape.out_height() * shape.out_width();
  c.window_sets = (windows + geometry.columns - 1) / geometry.columns;
  c.filter_sets = (shape.filters_per_group() + geometry.filters_in_flight() - 1) / geometry.filters_in_flight();
  c.channel_blocks = (shape.channels_per_group() + geometry.lanes - 1) / geometry.lanes;
  c.kernel_offsets = shape.kernel_height * shape.kernel_width;
  return c;
}

// §5 FC recurrence: `blocks` blocks issued in order (filter set by filter
// set, channel block by channel block), block i costing cost(i) cycles, to
// columns rotating over `columns`; busy[0..columns) is scratch. Returns the
// layer's cycles, max(busy).
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

// §5 cycles of the accelerators whose step cost does not depend on the data:
// the baseline (cost 1) and Stripes (cost p_a), same step structure as
// Laconic. Laconic's own cycles are left 0 for the engine to fill in.
inline Cycles data_independent_cycles(const LayerShape& shape, const Geometry& geometry, int activation_bits) {
  const StepCounts counts = step_counts(shape, geometry);
  const auto p_a = static_cast<std::uint64_t>(activation_bits);
  Cycles cycles;
  if (shape.type == LayerType::fc) {
    std::vector<std::uint64_t> busy(static_cast<std::size_t>(geometry.columns));
    const auto blocks = static_cast<std::uint64_t>(counts.filter_sets * counts.channel_blocks);
    cycles.baseline = fc_recurrence(blocks, geometry.columns, busy.data(), [](std::uint64_t) { return std::uint64_t{1}; });
    cycles.stripes = fc_recurrence(blocks, geometry.columns, busy.data(), [&](std::uint64_t) { return p_a; });
  } else {
    cycles.baseline = counts.conv_steps(shape.groups);
    cycles.stripes = cycles.baseline * p_a;
  }
  return cycles;
}

}  // namespace laconic
