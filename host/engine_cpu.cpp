// The fast CPU engine: the same integers as the reference engine, computed
// with the factorizations of MODEL.md §4, §5, §8 and §9.
//
// Terms are computed once per value (one byte each), and where cycles are
// counted so are the values' term positions (§3a, a 64-bit mask each).
// Weights are prepared once per layer: per-group sums of weight terms and
// non-zeros for the work sums (§4), and Laconic's per-filter-set maxima of
// weight terms for its steps (§5, §8), on the folded weights where the
// first-layer fold applies.
//
// Each sample's activation terms go into a zero-padded plane stored column
// by column ([c][x][y]), so the windows of a window set, which run down a
// column (oh varies fastest), read consecutive bytes and padding needs no
// test. Cycles read such a plane of the layer whose steps they count: the
// folded one for a folded first layer.
//
// Work (§4) is Σ_(c,r,s) F(c,r,s)·G(c,r,s), with F the sum of f(a) over the
// positions kernel offset (r,s) touches: a strided rectangle of the padded
// plane, read in O(1) from 2-D prefix sums of each stride residue class.
//
// Laconic's cycles (§5, §8) in lockstep take, per window set, the maximum
// activation term of each (lane, r, s) over the set's windows, then per step
// one maximum over L lane products with the filter set's weight maxima. With
// column registers each column's cost is taken alone and the columns run on
// the column clock of §8 (model.hpp).
//
// Pragmatic's cost (§9) depends only on the activations of a column's lanes:
// a window at kernel offset (r, s) reads one input position, so the shifter
// runs once per (lane group, channel block, padded input position), not per
// window, offset and filter set. Steps then take those costs, in lockstep
// (window-set maxima, the same for every filter set) or on the column clock.
//
// Threads: samples run in parallel when there are enough of them, otherwise
// the channels (work), window sets (lockstep cycles) and channel blocks
// (Pragmatic's costs) of one sample do; the column clock of one sample runs
// on one thread. Integer sums make the result independent of the thread count.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "chunked_read.hpp"
#include "first_error.hpp"
#include "laconic/engine.hpp"
#include "laconic/model.hpp"

namespace laconic {
namespace {

using u8 = std::uint8_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using i64 = std::int64_t;

std::size_t to_size(i64 v) { return static_cast<std::size_t>(v); }

// ---------------------------------------------------------------------------
// Terms and term positions of values.

// Terms and positions of every magnitude below 2^16, for the common widths:
// one load instead of a handful of bit operations (or the Booth-like scan).
constexpr std::size_t kTableSize = std::size_t{1} << 16;

template <Encoding E>
const std::array<u8, kTableSize>& terms_table() {
  static const std::array<u8, kTableSize> table = [] {
    std::array<u8, kTableSize> t{};
    for (std::size_t m = 0; m < t.size(); ++m) t[m] = static_cast<u8>(terms_of_magnitude(E, m));
    return t;
  }();
  return table;
}

template <Encoding E>
const std::vector<u32>& positions_table() {
  static const std::vector<u32> table = [] {
    std::vector<u32> t(kTableSize);
    for (std::size_t m = 0; m < t.size(); ++m) t[m] = static_cast<u32>(term_positions(E, m));  // positions ≤ 17
    return t;
  }();
  return table;
}

// Terms of `count` values, one byte each, their histogram, and (when
// `positions` is not null) their term positions. Four histograms in turn, so
// that runs of equal terms (zeros, mostly) do not wait on each other's
// increments.
template <Encoding E, bool kPositions>
void compute_terms_with(const i64* values, std::size_t count, u8* out, u64* positions, TermStats& stats) {
  const auto& table = terms_table<E>();
  const u32* table_positions = kPositions ? positions_table<E>().data() : nullptr;
  std::array<std::array<u64, kMaxTerms + 1>, 4> counts{};
  auto one = [&](std::size_t i, std::size_t lane) {
    const u64 m = magnitude(values[i]);
    const bool small = m < kTableSize;
    const int t = small ? table[m] : terms_of_magnitude(E, m);
    out[i] = static_cast<u8>(t);
    ++counts[lane][static_cast<std::size_t>(t)];
    if constexpr (kPositions) positions[i] = small ? table_positions[m] : term_positions(E, m);
  };
  std::size_t i = 0;
  for (; i + 4 <= count; i += 4)
    for (std::size_t lane = 0; lane < 4; ++lane) one(i + lane, lane);
  for (; i < count; ++i) one(i, 0);
  for (const auto& c : counts)
    for (std::size_t t = 0; t < c.size(); ++t) stats.histogram[t] += c[t];
}

template <Encoding E>
void compute_terms_with(const i64* values, std::size_t count, u8* out, u64* positions, TermStats& stats) {
  if (positions != nullptr) return compute_terms_with<E, true>(values, count, out, positions, stats);
  return compute_terms_with<E, false>(values, count, out, nullptr, stats);
}

void compute_terms(Encoding encoding, const i64* values, std::size_t count, u8* out, u64* positions,
                   TermStats& stats) {
  switch (encoding) {
    case Encoding::binary: return compute_terms_with<Encoding::binary>(values, count, out, positions, stats);
    case Encoding::booth: return compute_terms_with<Encoding::booth>(values, count, out, positions, stats);
    case Encoding::naf: return compute_terms_with<Encoding::naf>(values, count, out, positions, stats);
    case Encoding::dnnsim_booth:
      return compute_terms_with<Encoding::dnnsim_booth>(values, count, out, positions, stats);
  }
}

// Reads values [first, first + count) of `source` and writes their terms to
// `out`, their positions to `positions` (if not null) and their histogram to
// `stats` (chunked_read.hpp).
void read_terms(const TensorSource& source, u64 first, u64 count, Encoding encoding, u8* out, u64* positions,
                TermStats& stats, bool parallel) {
  read_in_chunks<TermStats>(
      source, first, count, parallel,
      [&](const i64* values, u64 n, u64 offset, TermStats& local) {
        compute_terms(encoding, values, static_cast<std::size_t>(n), out + offset,
                      positions == nullptr ? nullptr : positions + offset, local);
      },
      [&](const TermStats& local) { stats += local; });
}

// ---------------------------------------------------------------------------
// Everything about a layer that does not depend on the sample.

struct PreparedLayer {
  LayerShape shape;
  ProfileConfig config;
  Precision activation_precision;
  i64 out_h = 0, out_w = 0, padded_h = 0, padded_w = 0;
  i64 kg = 0, cg = 0;
  u64 macs = 0;
  TermStats weight_terms;
  // §4: per (group, c', r, s), Σ over the group's filters of t(w) and of [w ≠ 0].
  std::vector<u64> weight_term_sums, weight_nonzero_sums;

  // Cycles count the steps of `counted`: the layer, or its fold (§8).
  bool fold = false;
  LayerShape counted;
  i64 counted_out_h = 0, counted_out_w = 0, counted_padded_h = 0, counted_padded_w = 0;
  StepPlan laconic_plan, pragmatic_plan;  // conv: §8 step plans at each accelerator's geometry
  // Laconic's weight maxima per (lane group, filter set, r·S+s, lane) of its
  // plan; FC: per (filter set, channel).
  std::vector<u8> weight_max;
  // The positions whose Pragmatic costs are computed (padding costs 0), row
  // by row: each one's offset within a lane's values (a channel of the
  // sample, or a lane's gathered plane for a folded layer) and its index in a
  // block's cost plane [x][y].
  std::vector<i64> cost_offset, cost_dest;
  // §5/§8: cycles of the data-independent accelerators (model.hpp), per sample.
  Cycles fixed_cycles;
};

// Weight terms of the layer whose steps are counted: the folded weights
// W'[k][c2][r2][s2] (§8) where the fold applies, else the layer's own.
std::vector<u8> counted_weight_terms(const PreparedLayer& p, const std::vector<u8>& tw) {
  if (!p.fold) return tw;
  const LayerShape& sh = p.shape;
  const LayerShape& f = p.counted;
  std::vector<u8> folded(to_size(f.weight_count()), 0);
  for (i64 k = 0; k < f.filters; ++k)
    for (i64 c2 = 0; c2 < f.channels; ++c2)
      for (i64 r2 = 0; r2 < f.kernel_height; ++r2)
        for (i64 s2 = 0; s2 < f.kernel_width; ++s2) {
          i64 c = 0, r = 0, s = 0;
          if (!fold_weight_source(sh, c2, r2, s2, &c, &r, &s)) continue;
          folded[to_size(((k * f.channels + c2) * f.kernel_height + r2) * f.kernel_width + s2)] =
              tw[to_size(((k * sh.channels + c) * sh.kernel_height + r) * sh.kernel_width + s)];
        }
  return folded;
}

// Laconic's weight maxima over the filter sets of `plan` (per-group: the
// largest t(w) of the set's filters at each lane; diagonal: lane j's own
// filter), from weight terms `tw` of `shape` ([k][c'][r][s]).
std::vector<u8> weight_maxima(const LayerShape& shape, const StepPlan& plan, const std::vector<u8>& tw) {
  const i64 rs = plan.kernel_offsets;
  const i64 per_filter = shape.channels_per_group() * rs;
  std::vector<u8> maxima(to_size(plan.groups * plan.filter_sets * rs * plan.group_lanes), 0);
  const i64 units = plan.groups * plan.filter_sets;
#pragma omp parallel for schedule(dynamic)
  for (i64 unit = 0; unit < units; ++unit) {
    const i64 group = unit / plan.filter_sets, filter_set = unit % plan.filter_sets;
    u8* set_max = &maxima[to_size(unit * rs * plan.group_lanes)];  // [r·S+s][lane]
    if (plan.diagonal) {
      for (i64 lane = 0; lane < plan.group_lanes; ++lane) {
        const i64 f = group * plan.group_lanes + lane;
        if (f >= shape.filters) break;
        for (i64 rs_index = 0; rs_index < rs; ++rs_index)
          set_max[to_size(rs_index * plan.group_lanes + lane)] = tw[to_size(f * per_filter + rs_index)];
      }
      continue;
    }
    const i64 last = std::min((filter_set + 1) * plan.set_size, plan.group_filters);
    for (i64 f = filter_set * plan.set_size; f < last; ++f) {
      const u8* w = &tw[to_size((group * plan.group_filters + f) * per_filter)];  // W[k][c'][r][s]
      for (i64 lane = 0; lane < plan.group_lanes; ++lane)
        for (i64 rs_index = 0; rs_index < rs; ++rs_index) {
          u8& m = set_max[to_size(rs_index * plan.group_lanes + lane)];
          m = std::max(m, w[lane * rs + rs_index]);
        }
    }
  }
  return maxima;
}

PreparedLayer prepare(const LayerInput& input, const ProfileConfig& config) {
  PreparedLayer p;
  const LayerShape& sh = input.shape;
  p.shape = sh;
  p.config = config;
  p.activation_precision = input.activation_precision;
  p.out_h = sh.out_height();
  p.out_w = sh.out_width();
  p.padded_h = sh.padded_height();
  p.padded_w = sh.padded_width();
  p.kg = sh.filters_per_group();
  p.cg = sh.channels_per_group();
  p.macs = static_cast<u64>(sh.macs_per_sample());

  std::vector<u8> tw(to_size(sh.weight_count()));
  read_terms(*input.weights, 0, tw.size(), config.encoding, tw.data(), nullptr, p.weight_terms, /*parallel=*/true);
  const i64 rs = sh.kernel_height * sh.kernel_width;
  const i64 per_filter = p.cg * rs;  // weights of one filter, [c'][r][s]

  if (config.compute_work) {
    // §4 sums over each group's filters, indexed [group][c'][r][s]. One unit
    // of work per (group, chunk of filters) reads its filters in memory
    // order; where a group has several chunks their sums meet in atomic adds.
    constexpr i64 kChunk = 256;
    const i64 chunks = (p.kg + kChunk - 1) / kChunk;
    p.weight_term_sums.assign(to_size(sh.groups * per_filter), 0);
    p.weight_nonzero_sums.assign(p.weight_term_sums.size(), 0);
    const i64 units = sh.groups * chunks;
#pragma omp parallel
    {
      std::vector<u64> term_sum(to_size(per_filter)), nonzero_sum(to_size(per_filter));
#pragma omp for schedule(dynamic)
      for (i64 unit = 0; unit < units; ++unit) {
        const i64 group = unit / chunks, chunk = unit % chunks;
        std::fill(term_sum.begin(), term_sum.end(), 0);
        std::fill(nonzero_sum.begin(), nonzero_sum.end(), 0);
        for (i64 f = chunk * kChunk; f < std::min((chunk + 1) * kChunk, p.kg); ++f) {
          const u8* w = &tw[to_size((group * p.kg + f) * per_filter)];
          for (i64 i = 0; i < per_filter; ++i) {
            term_sum[to_size(i)] += w[i];
            nonzero_sum[to_size(i)] += w[i] != 0;
          }
        }
        u64* group_terms = &p.weight_term_sums[to_size(group * per_filter)];
        u64* group_nonzero = &p.weight_nonzero_sums[to_size(group * per_filter)];
        for (i64 i = 0; i < per_filter; ++i) {
          if (chunks == 1) {  // the group's only unit
            group_terms[i] = term_sum[to_size(i)];
            group_nonzero[i] = nonzero_sum[to_size(i)];
          } else {
#pragma omp atomic
            group_terms[i] += term_sum[to_size(i)];
#pragma omp atomic
            group_nonzero[i] += nonzero_sum[to_size(i)];
          }
        }
      }
    }
  }

  if (!config.compute_cycles) return p;
  p.fold = folds_first_layer(sh, config);
  p.counted = cycles_shape(sh, config);
  p.counted_out_h = p.counted.out_height();
  p.counted_out_w = p.counted.out_width();
  p.counted_padded_h = p.counted.padded_height();
  p.counted_padded_w = p.counted.padded_width();
  const bool diagonal = maps_diagonally(sh, config);
  p.laconic_plan = step_plan(p.counted, config.geometry(Accelerator::laconic), diagonal);
  p.pragmatic_plan = step_plan(p.counted, config.geometry(Accelerator::pragmatic), diagonal);
  p.weight_max = weight_maxima(p.counted, p.laconic_plan, counted_weight_terms(p, tw));
  for (i64 y = 0; y < p.counted_padded_h; ++y)
    for (i64 x = 0; x < p.counted_padded_w; ++x) {
      const i64 dest = x * p.counted_padded_h + y;
      if (p.fold) {  // the gathered planes hold every position, [x][y]
        p.cost_offset.push_back(dest);
      } else {
        const i64 y0 = y - sh.padding.top, x0 = x - sh.padding.left;
        if (y0 < 0 || y0 >= sh.height || x0 < 0 || x0 >= sh.width) continue;
        p.cost_offset.push_back(y0 * sh.width + x0);
      }
      p.cost_dest.push_back(dest);
    }
  p.fixed_cycles = data_independent_cycles(sh, config, input.activation_precision.bits);
  return p;
}

// ---------------------------------------------------------------------------
// Per-sample planes.

// Activation terms, zero-padded and stored column by column: plane[c][x][y]
// for padded coordinates (y, x); padding holds 0 terms.
struct ActivationPlane {
  i64 padded_h = 0, padded_w = 0;
  std::vector<u8> terms;
  const u8* column(i64 c, i64 x) const { return &terms[to_size((c * padded_w + x) * padded_h)]; }
};

// Places one sample's activation terms ta[c][y][x] in the padded plane.
ActivationPlane build_plane(const PreparedLayer& p, const u8* ta, bool parallel) {
  const LayerShape& sh = p.shape;
  ActivationPlane plane;
  plane.padded_h = p.padded_h;
  plane.padded_w = p.padded_w;
  plane.terms.assign(to_size(sh.channels * p.padded_w * p.padded_h), 0);
#pragma omp parallel for schedule(static) if (parallel)
  for (i64 c = 0; c < sh.channels; ++c)
    for (i64 y = 0; y < sh.height; ++y) {
      const u8* row = ta + (c * sh.height + y) * sh.width;
      u8* dest = &plane.terms[to_size((c * p.padded_w + sh.padding.left) * p.padded_h + y + sh.padding.top)];
      for (i64 x = 0; x < sh.width; ++x) dest[x * p.padded_h] = row[x];
    }
  return plane;
}

// The folded layer's activation terms (§8), in the same column-major layout
// (the folded layer has no padding).
ActivationPlane build_folded_plane(const PreparedLayer& p, const u8* ta) {
  const LayerShape& sh = p.shape;
  const LayerShape& f = p.counted;
  ActivationPlane plane;
  plane.padded_h = f.height;
  plane.padded_w = f.width;
  plane.terms.assign(to_size(f.channels * f.width * f.height), 0);
  for (i64 c2 = 0; c2 < f.channels; ++c2)
    for (i64 x2 = 0; x2 < f.width; ++x2)
      for (i64 y2 = 0; y2 < f.height; ++y2) {
        i64 c = 0, y = 0, x = 0;
        if (fold_activation_source(sh, c2, y2, x2, &c, &y, &x))
          plane.terms[to_size((c2 * f.width + x2) * f.height + y2)] = ta[(c * sh.height + y) * sh.width + x];
      }
  return plane;
}

// Where the counted layer's activation (c, y, x) (padded coordinates) is in
// the sample's own values [c][y][x], or −1 where it reads zero.
i64 counted_source(const PreparedLayer& p, i64 c, i64 y, i64 x) {
  const LayerShape& sh = p.shape;
  i64 c0 = c, y0 = y - sh.padding.top, x0 = x - sh.padding.left;
  if (p.fold) {
    if (!fold_activation_source(sh, c, y, x, &c0, &y0, &x0)) return -1;
  } else if (y0 < 0 || y0 >= sh.height || x0 < 0 || x0 >= sh.width) {
    return -1;
  }
  return (c0 * sh.height + y0) * sh.width + x0;
}

// §9 Pragmatic's shifter cycles, before the max(1, ·) of a column, for each
// (lane group, channel block, padded position) of the counted layer:
// cost[group][block][x][y], column-major like the planes.
struct PragmaticCosts {
  i64 padded_h = 0, padded_w = 0, blocks = 0;
  std::vector<u32> cost;
  const u32* column(i64 group, i64 block, i64 x) const {
    return &cost[to_size(((group * blocks + block) * padded_w + x) * padded_h)];
  }
};

// Pragmatic's costs of one lane group's channel block at `count` input
// positions (row by row, so that each lane reads its values in order),
// kPositions positions at a time (the shifter runs them in one
// vector register, model.hpp): lane l of position i holds the term positions
// positions[channel_offset[l] + offset[i]], and its cost goes to out[dest[i]].
// Term positions travel as 32-bit masks where the layer's values keep every
// position below 32.
constexpr int kPositions = 16;

template <class Mask>
inline void shifter_costs(const u64* positions, const i64* channel_offset, i64 lanes, const i64* offset,
                          const i64* dest, i64 count, int bits, u32* out) {
  // Scratch of the calling thread, kept between calls (one per lane group and
  // channel block of every sample).
  thread_local std::vector<Mask> batch;
  batch.assign(to_size(lanes * kPositions), Mask{0});
  auto* columns = reinterpret_cast<Mask(*)[kPositions]>(batch.data());
  for (i64 first = 0; first < count; first += kPositions) {
    const int held = static_cast<int>(std::min<i64>(kPositions, count - first));
    for (i64 l = 0; l < lanes; ++l) {
      const u64* lane = positions + channel_offset[l];
      for (int k = 0; k < held; ++k) columns[l][k] = static_cast<Mask>(lane[offset[first + k]]);
      for (int k = held; k < kPositions; ++k) columns[l][k] = 0;
    }
    unsigned cycles[kPositions];
    pragmatic_shifter_cycles<Mask, kPositions>(columns, lanes, bits, cycles);
    for (int k = 0; k < held; ++k) out[dest[first + k]] = cycles[k];
  }
}

// The 32-bit case is the hot one: built for AVX2 as well, where the CPU has
// it, with the shifter inlined so that the positions share vector registers.
// Clang refuses `flatten` on a multiversioned function; there the clones
// rely on its ordinary inlining.
#if defined(__clang__)
#define LACONIC_SHIFTER_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LACONIC_SHIFTER_CLONES __attribute__((target_clones("avx2", "default"), flatten))
#endif
LACONIC_SHIFTER_CLONES void shifter_costs_narrow(
    const u64* positions, const i64* channel_offset, i64 lanes, const i64* offset, const i64* dest, i64 count, int bits,
    u32* out) {
  shifter_costs<u32>(positions, channel_offset, lanes, offset, dest, count, bits, out);
}

template <class Mask>
void block_costs(const PreparedLayer& p, const u64* positions, const std::vector<i64>& channel_offset, u32* out) {
  const i64 lanes = static_cast<i64>(channel_offset.size());
  const i64 count = static_cast<i64>(p.cost_offset.size());
  if constexpr (sizeof(Mask) == 4)
    shifter_costs_narrow(positions, channel_offset.data(), lanes, p.cost_offset.data(), p.cost_dest.data(), count,
                         p.config.shifter_bits, out);
  else
    shifter_costs<Mask>(positions, channel_offset.data(), lanes, p.cost_offset.data(), p.cost_dest.data(), count,
                        p.config.shifter_bits, out);
}

template <class Mask>
void pragmatic_costs_with(const PreparedLayer& p, const u64* positions, bool parallel, PragmaticCosts& costs) {
  const StepPlan& plan = p.pragmatic_plan;
  const i64 units = plan.groups * plan.channel_blocks;
  const i64 plane = p.shape.height * p.shape.width;
#pragma omp parallel if (parallel)
  {
    std::vector<i64> channel_offset;
    std::vector<u64> gathered;
#pragma omp for schedule(dynamic)
    for (i64 unit = 0; unit < units; ++unit) {
      const i64 group = unit / plan.channel_blocks, block = unit % plan.channel_blocks;
      u32* out = &costs.cost[to_size(unit * costs.padded_w * costs.padded_h)];
      channel_offset.clear();
      if (!p.fold) {
        for (i64 lane = block * plan.lanes; lane < std::min((block + 1) * plan.lanes, plan.group_lanes); ++lane) {
          const i64 c = plan.channel(group, lane);
          if (c >= 0) channel_offset.push_back(c * plane);
        }
        block_costs<Mask>(p, positions, channel_offset, out);
        continue;
      }
      // The small first layer: each folded lane's values come from all over
      // the input (the fold's index map), so they are first gathered into one
      // plane per lane, [lane][x][y] like the costs.
      gathered.clear();
      for (i64 lane = block * plan.lanes; lane < std::min((block + 1) * plan.lanes, plan.group_lanes); ++lane) {
        const i64 c2 = plan.channel(group, lane);
        if (c2 < 0) continue;
        channel_offset.push_back(static_cast<i64>(gathered.size()));
        for (i64 x = 0; x < costs.padded_w; ++x)
          for (i64 y = 0; y < costs.padded_h; ++y) {
            const i64 source = counted_source(p, c2, y, x);
            gathered.push_back(source >= 0 ? positions[source] : 0);
          }
      }
      block_costs<Mask>(p, gathered.data(), channel_offset, out);
    }
  }
}

PragmaticCosts pragmatic_costs(const PreparedLayer& p, const u64* positions, bool parallel) {
  const StepPlan& plan = p.pragmatic_plan;
  PragmaticCosts costs;
  costs.padded_h = p.counted_padded_h;
  costs.padded_w = p.counted_padded_w;
  costs.blocks = plan.channel_blocks;
  costs.cost.assign(to_size(plan.groups * plan.channel_blocks * costs.padded_w * costs.padded_h), 0);
  // Magnitudes below 2^30 have no term position above 31 in any encoding (§3a).
  if (p.activation_precision.bits <= 29) pragmatic_costs_with<u32>(p, positions, parallel, costs);
  else pragmatic_costs_with<u64>(p, positions, parallel, costs);
  return costs;
}

// ---------------------------------------------------------------------------
// Work (§4).

// §4 from the factorized sums of one sample (model.hpp).
Work work_from_sums(const PreparedLayer& p, u64 laconic, u64 nonzero_pairs, u64 activation_terms) {
  return laconic::work_from_sums(p.shape, p.activation_precision.bits, p.config.baseline_width,
                                 WorkSums{laconic, nonzero_pairs, activation_terms});
}

// §4 for a conv layer. For channel c and kernel offset (r, s) the touched
// positions are rows r + σh·j (j < Ho) and columns s + σw·i (i < Wo) of the
// padded plane: a rectangle of the subgrid of residue class
// (r mod σh, s mod σw), summed from that subgrid's 2-D prefix sums.
Work conv_work(const PreparedLayer& p, const ActivationPlane& plane, bool parallel) {
  const LayerShape& sh = p.shape;
  const i64 sh_ = sh.stride_h, sw = sh.stride_w;
  const i64 rs = sh.kernel_height * sh.kernel_width;
  u64 laconic = 0, nonzero_pairs = 0, activation_terms = 0;
#pragma omp parallel if (parallel)
  {
    std::vector<u64> prefix_terms, prefix_nonzero;
#pragma omp for schedule(dynamic) reduction(+ : laconic, nonzero_pairs, activation_terms)
    for (i64 c = 0; c < sh.channels; ++c) {
      const i64 group = c / p.cg;
      const i64 ci = c % p.cg;
      const u64* g_terms = &p.weight_term_sums[to_size((group * p.cg + ci) * rs)];
      const u64* g_nonzero = &p.weight_nonzero_sums[to_size((group * p.cg + ci) * rs)];
      for (i64 kappa = 0; kappa < std::min(sw, sh.kernel_width); ++kappa)
        for (i64 rho = 0; rho < std::min(sh_, sh.kernel_height); ++rho) {
          // Subgrid Q[i][j] = plane[c][kappa + σw·i][rho + σh·j].
          const i64 ni = (p.padded_w - kappa + sw - 1) / sw;
          const i64 nj = (p.padded_h - rho + sh_ - 1) / sh_;
          const i64 stride = nj + 1;
          prefix_terms.assign(to_size((ni + 1) * stride), 0);
          prefix_nonzero.assign(prefix_terms.size(), 0);
          for (i64 i = 0; i < ni; ++i) {
            const u8* col = plane.column(c, kappa + sw * i);
            u64 run_terms = 0, run_nonzero = 0;
            for (i64 j = 0; j < nj; ++j) {
              const u8 t = col[rho + sh_ * j];
              run_terms += t;
              run_nonzero += t != 0;
              prefix_terms[to_size((i + 1) * stride + j + 1)] = prefix_terms[to_size(i * stride + j + 1)] + run_terms;
              prefix_nonzero[to_size((i + 1) * stride + j + 1)] =
                  prefix_nonzero[to_size(i * stride + j + 1)] + run_nonzero;
            }
          }
          auto rect = [&](const std::vector<u64>& s, i64 i0, i64 j0) {
            const i64 i1 = i0 + p.out_w, j1 = j0 + p.out_h;
            return s[to_size(i1 * stride + j1)] - s[to_size(i0 * stride + j1)] - s[to_size(i1 * stride + j0)] +
                   s[to_size(i0 * stride + j0)];
          };
          for (i64 s = kappa; s < sh.kernel_width; s += sw)
            for (i64 r = rho; r < sh.kernel_height; r += sh_) {
              const u64 f_terms = rect(prefix_terms, s / sw, r / sh_);
              const u64 f_nonzero = rect(prefix_nonzero, s / sw, r / sh_);
              const i64 rs_index = r * sh.kernel_width + s;
              laconic += f_terms * g_terms[rs_index];
              nonzero_pairs += f_nonzero * g_nonzero[rs_index];
              activation_terms += f_terms;
            }
        }
    }
  }
  return work_from_sums(p, laconic, nonzero_pairs, activation_terms);
}

// §4 for an FC layer: Σ_c f(a_c) · Σ_k g(w_kc).
Work fc_work(const PreparedLayer& p, const u8* ta) {
  u64 laconic = 0, nonzero_pairs = 0, activation_terms = 0;
  for (i64 c = 0; c < p.shape.channels; ++c) {
    laconic += ta[c] * p.weight_term_sums[to_size(c)];
    nonzero_pairs += ta[c] != 0 ? p.weight_nonzero_sums[to_size(c)] : 0;
    activation_terms += ta[c];
  }
  return work_from_sums(p, laconic, nonzero_pairs, activation_terms);
}

// ---------------------------------------------------------------------------
// Conv cycles (§5, §8, §9) on the counted layer.

// Visits the windows [first, last) of a window set as runs down one output
// column: visit(ow, oh_first, oh_last) for each run (oh varies fastest, §5).
template <class Visit>
void for_each_window_run(i64 first, i64 last, i64 out_h, Visit visit) {
  for (i64 window = first; window < last;) {
    const i64 ow = window / out_h;
    const i64 oh_first = window % out_h;
    const i64 oh_last = std::min(out_h, oh_first + (last - window));  // exclusive
    visit(ow, oh_first, oh_last);
    window += oh_last - oh_first;
  }
}

// Laconic in lockstep (R = 0): Σ over steps of max(1, max over lanes of
// (max over the window set of t(a)) · (max over the filter set of t(w))).
u64 laconic_lockstep(const PreparedLayer& p, const ActivationPlane& plane, bool parallel) {
  const LayerShape& sh = p.counted;
  const StepPlan& plan = p.laconic_plan;
  const i64 rs = plan.kernel_offsets;
  const i64 lanes = plan.group_lanes;
  u64 cycles = 0;
  const i64 units = plan.groups * plan.window_sets;
#pragma omp parallel if (parallel)
  {
    // [r·S+s][lane]: the window set's maximum activation term per lane and offset.
    std::vector<u8> act_max(to_size(rs * lanes));
#pragma omp for schedule(dynamic) reduction(+ : cycles)
    for (i64 unit = 0; unit < units; ++unit) {
      const i64 group = unit / plan.window_sets;
      const i64 first = (unit % plan.window_sets) * plan.columns;
      std::fill(act_max.begin(), act_max.end(), u8{0});
      for_each_window_run(first, std::min(first + plan.columns, plan.windows), p.counted_out_h,
                          [&](i64 ow, i64 oh_first, i64 oh_last) {
                            for (i64 lane = 0; lane < lanes; ++lane) {
                              const i64 c = plan.channel(group, lane);
                              if (c < 0) continue;
                              for (i64 s = 0; s < sh.kernel_width; ++s) {
                                const u8* col = plane.column(c, ow * sh.stride_w + s);
                                for (i64 r = 0; r < sh.kernel_height; ++r) {
                                  u8 m = 0;
                                  const u8* y = col + r + oh_first * sh.stride_h;
                                  for (i64 oh = oh_first; oh < oh_last; ++oh, y += sh.stride_h) m = std::max(m, *y);
                                  u8& dest = act_max[to_size((r * sh.kernel_width + s) * lanes + lane)];
                                  dest = std::max(dest, m);
                                }
                              }
                            }
                          });
      for (i64 filter_set = 0; filter_set < plan.filter_sets; ++filter_set) {
        const u8* w_max = &p.weight_max[to_size((group * plan.filter_sets + filter_set) * rs * lanes)];
        for (i64 rs_index = 0; rs_index < rs; ++rs_index) {
          const u8* a_row = &act_max[to_size(rs_index * lanes)];
          const u8* w_row = &w_max[to_size(rs_index * lanes)];
          for (i64 block = 0; block < lanes; block += plan.lanes) {
            const i64 end = std::min(block + plan.lanes, lanes);
            unsigned slowest = 1;  // a step costs at least 1
            for (i64 l = block; l < end; ++l) slowest = std::max(slowest, static_cast<unsigned>(a_row[l]) * w_row[l]);
            cycles += slowest;
          }
        }
      }
    }
  }
  return cycles;
}

// Pragmatic in lockstep (R = 0): each step costs the largest column cost of
// its window set; the steps of every filter set are the same.
u64 pragmatic_lockstep(const PreparedLayer& p, const PragmaticCosts& costs, bool parallel) {
  const LayerShape& sh = p.counted;
  const StepPlan& plan = p.pragmatic_plan;
  u64 cycles = 0;
  const i64 units = plan.groups * plan.window_sets;
#pragma omp parallel for schedule(dynamic) reduction(+ : cycles) if (parallel)
  for (i64 unit = 0; unit < units; ++unit) {
    const i64 group = unit / plan.window_sets;
    const i64 first = (unit % plan.window_sets) * plan.columns;
    u64 steps = 0;
    for (i64 s = 0; s < sh.kernel_width; ++s)
      for (i64 r = 0; r < sh.kernel_height; ++r)
        for (i64 block = 0; block < plan.channel_blocks; ++block) {
          u32 slowest = 1;
          for_each_window_run(first, std::min(first + plan.columns, plan.windows), p.counted_out_h,
                              [&](i64 ow, i64 oh_first, i64 oh_last) {
                                const u32* y = costs.column(group, block, ow * sh.stride_w + s) + r +
                                               oh_first * sh.stride_h;
                                for (i64 oh = oh_first; oh < oh_last; ++oh, y += sh.stride_h)
                                  slowest = std::max(slowest, *y);
                              });
          steps += slowest;
        }
    cycles += steps * static_cast<u64>(plan.filter_sets);
  }
  return cycles;
}

// §8 column clock over every step of one sample, in order: group, window
// set, filter set, s, r, channel block. column_cost(group, filter set, r, s,
// block, oh, ow) is the cost of the column holding window (oh, ow), ≥ 1.
template <class ColumnCost>
u64 clocked_cycles(const PreparedLayer& p, const StepPlan& plan, int registers, ColumnCost column_cost) {
  const LayerShape& sh = p.counted;
  std::vector<u64> finish(to_size(plan.columns)), history(to_size(registers) + 1);
  ColumnClock clock(plan.columns, registers, finish.data(), history.data());
  std::vector<i64> window_oh(to_size(plan.columns)), window_ow(to_size(plan.columns));
  for (i64 group = 0; group < plan.groups; ++group)
    for (i64 window_set = 0; window_set < plan.window_sets; ++window_set) {
      const i64 first = window_set * plan.columns;
      const i64 held = std::min(plan.columns, plan.windows - first);  // columns holding a window
      for (i64 c = 0; c < held; ++c) {
        window_oh[to_size(c)] = (first + c) % p.counted_out_h;
        window_ow[to_size(c)] = (first + c) / p.counted_out_h;
      }
      for (i64 filter_set = 0; filter_set < plan.filter_sets; ++filter_set)
        for (i64 s = 0; s < sh.kernel_width; ++s)
          for (i64 r = 0; r < sh.kernel_height; ++r)
            for (i64 block = 0; block < plan.channel_blocks; ++block)
              clock.step([&](i64 c) -> u64 {
                if (c >= held) return 0;  // an idle column of a partial window set
                return column_cost(group, filter_set, r, s, block, window_oh[to_size(c)], window_ow[to_size(c)]);
              });
    }
  return clock.cycles();
}

u64 laconic_clocked(const PreparedLayer& p, const ActivationPlane& plane) {
  const LayerShape& sh = p.counted;
  const StepPlan& plan = p.laconic_plan;
  const i64 rs = plan.kernel_offsets;
  return clocked_cycles(p, plan, p.config.registers(Accelerator::laconic),
                        [&](i64 group, i64 filter_set, i64 r, i64 s, i64 block, i64 oh, i64 ow) -> u64 {
                          const i64 rs_index = r * sh.kernel_width + s;
                          const u8* w_row = &p.weight_max[to_size(
                              ((group * plan.filter_sets + filter_set) * rs + rs_index) * plan.group_lanes)];
                          const i64 x = ow * sh.stride_w + s, y = oh * sh.stride_h + r;
                          unsigned slowest = 1;
                          for (i64 l = block * plan.lanes; l < std::min((block + 1) * plan.lanes, plan.group_lanes);
                               ++l) {
                            const i64 c = plan.channel(group, l);
                            if (c >= 0) slowest = std::max(slowest, static_cast<unsigned>(plane.column(c, x)[y]) * w_row[l]);
                          }
                          return slowest;
                        });
}

// Pragmatic's column costs do not depend on the filter set: they are read
// once per window set and replayed on the clock for every filter set.
u64 pragmatic_clocked(const PreparedLayer& p, const PragmaticCosts& costs) {
  const LayerShape& sh = p.counted;
  const StepPlan& plan = p.pragmatic_plan;
  const int registers = p.config.registers(Accelerator::pragmatic);
  std::vector<u64> finish(to_size(plan.columns)), history(to_size(registers) + 1);
  ColumnClock clock(plan.columns, registers, finish.data(), history.data());
  const i64 steps = sh.kernel_width * sh.kernel_height * plan.channel_blocks;  // of one filter set
  std::vector<u64> d(to_size(steps * plan.columns));  // [s][r][block][column]
  for (i64 group = 0; group < plan.groups; ++group)
    for (i64 window_set = 0; window_set < plan.window_sets; ++window_set) {
      const i64 first = window_set * plan.columns;
      const i64 held = std::min(plan.columns, plan.windows - first);  // columns holding a window
      std::fill(d.begin(), d.end(), 0);                               // idle columns cost 0
      for (i64 c = 0; c < held; ++c) {
        const i64 oh = (first + c) % p.counted_out_h, ow = (first + c) / p.counted_out_h;
        i64 step = 0;
        for (i64 s = 0; s < sh.kernel_width; ++s)
          for (i64 r = 0; r < sh.kernel_height; ++r)
            for (i64 block = 0; block < plan.channel_blocks; ++block, ++step)
              d[to_size(step * plan.columns + c)] = std::max<u32>(
                  1, costs.column(group, block, ow * sh.stride_w + s)[oh * sh.stride_h + r]);
      }
      for (i64 filter_set = 0; filter_set < plan.filter_sets; ++filter_set)
        for (i64 step = 0; step < steps; ++step) {
          const u64* row = &d[to_size(step * plan.columns)];
          clock.step([&](i64 c) { return row[c]; });
        }
    }
  return clock.cycles();
}

Cycles conv_cycles(const PreparedLayer& p, const ActivationPlane& plane, const u8* ta, const u64* positions,
                   bool parallel) {
  Cycles cycles = p.fixed_cycles;
  const ActivationPlane folded = p.fold ? build_folded_plane(p, ta) : ActivationPlane{};
  const ActivationPlane& counted = p.fold ? folded : plane;
  cycles.laconic = p.config.registers(Accelerator::laconic) == 0 ? laconic_lockstep(p, counted, parallel)
                                                                 : laconic_clocked(p, counted);
  const PragmaticCosts costs = pragmatic_costs(p, positions, parallel);
  cycles.pragmatic = p.config.registers(Accelerator::pragmatic) == 0 ? pragmatic_lockstep(p, costs, parallel)
                                                                     : pragmatic_clocked(p, costs);
  return cycles;
}

// ---------------------------------------------------------------------------
// FC cycles (§5, §9): block costs, then the column recurrence at each
// accelerator's own geometry.

u64 recurrence(const std::vector<u64>& cost, const Geometry& geo) {
  std::vector<u64> busy(to_size(geo.columns));
  return fc_recurrence(cost.size(), geo.columns, busy.data(), [&](u64 i) { return cost[to_size(i)]; });
}

Cycles fc_cycles(const PreparedLayer& p, const u8* ta, const u64* positions) {
  const i64 channels = p.shape.channels;
  Cycles cycles = p.fixed_cycles;

  const Geometry& lac = p.config.geometry(Accelerator::laconic);
  const FcBlocks lac_blocks = fc_blocks(p.shape, lac);
  std::vector<u64> cost(to_size(static_cast<i64>(lac_blocks.blocks())));
  for (i64 filter_set = 0; filter_set < lac_blocks.filter_sets; ++filter_set) {
    const u8* w_max = &p.weight_max[to_size(filter_set * channels)];
    for (i64 block = 0; block < lac_blocks.channel_blocks; ++block) {
      unsigned slowest = 1;
      for (i64 l = block * lac.lanes; l < std::min((block + 1) * lac.lanes, channels); ++l)
        slowest = std::max(slowest, static_cast<unsigned>(ta[l]) * w_max[l]);
      cost[to_size(filter_set * lac_blocks.channel_blocks + block)] = slowest;
    }
  }
  cycles.laconic = recurrence(cost, lac);

  // Pragmatic's block cost depends on the activations alone: once per block.
  const Geometry& prag = p.config.geometry(Accelerator::pragmatic);
  const FcBlocks prag_blocks = fc_blocks(p.shape, prag);
  std::vector<u64> block_cost(to_size(prag_blocks.channel_blocks));
  std::vector<u64> lanes(to_size(prag.lanes));
  for (i64 block = 0; block < prag_blocks.channel_blocks; ++block) {
    const i64 begin = block * prag.lanes, end = std::min(begin + prag.lanes, channels);
    std::copy(positions + begin, positions + end, lanes.begin());
    block_cost[to_size(block)] =
        std::max<u64>(1, pragmatic_shifter_cycles(lanes.data(), end - begin, p.config.shifter_bits));
  }
  cost.assign(to_size(static_cast<i64>(prag_blocks.blocks())), 0);
  for (std::size_t i = 0; i < cost.size(); ++i) cost[i] = block_cost[i % block_cost.size()];
  cycles.pragmatic = recurrence(cost, prag);
  return cycles;
}

// ---------------------------------------------------------------------------

// A sample's terms and term positions, reused from sample to sample and
// never cleared: every value is written before it is read.
template <class T>
class Scratch {
 public:
  T* get(u64 count) {
    if (count > capacity_) {
      data_.reset(new T[count]);
      capacity_ = count;
    }
    return data_.get();
  }

 private:
  std::unique_ptr<T[]> data_;
  u64 capacity_ = 0;
};

struct SampleScratch {
  Scratch<u8> terms;
  Scratch<u64> positions;
};

SampleResult profile_sample(const PreparedLayer& p, const TensorSource& activations, u64 n, SampleScratch& scratch,
                            TermStats& stats, bool parallel) {
  const u64 per_sample = static_cast<u64>(p.shape.activations_per_sample());
  const bool cycles = p.config.compute_cycles;
  u8* ta = scratch.terms.get(per_sample);
  u64* positions = cycles ? scratch.positions.get(per_sample) : nullptr;
  read_terms(activations, n * per_sample, per_sample, p.config.encoding, ta, positions, stats, parallel);
  SampleResult result;
  result.sample = n;
  result.macs = p.macs;
  if (p.shape.type == LayerType::fc) {
    if (p.config.compute_work) result.work = fc_work(p, ta);
    if (cycles) result.cycles = fc_cycles(p, ta, positions);
    return result;
  }
  if (!p.config.compute_work && !cycles) return result;
  const ActivationPlane plane = build_plane(p, ta, parallel);
  if (p.config.compute_work) result.work = conv_work(p, plane, parallel);
  if (cycles) result.cycles = conv_cycles(p, plane, ta, positions, parallel);
  return result;
}

struct CpuPrepared final : PreparedWeights {
  PreparedLayer layer;
};

class CpuEngine final : public Engine {
 public:
  std::string_view name() const override { return "cpu"; }

  LayerResult profile(const LayerInput& input, SampleRange range,
                      const ProfileConfig& config) const override {
    return profile_prepared(input, range, config, nullptr);
  }

  std::shared_ptr<const PreparedWeights> prepare(const LayerInput& input, const ProfileConfig& config) const override {
    validate_input(input, SampleRange{0, 0});
    config.validate();
    auto prepared = std::make_shared<CpuPrepared>();
    prepared->layer = laconic::prepare(input, config);
    return prepared;
  }

  LayerResult profile_prepared(const LayerInput& input, SampleRange range, const ProfileConfig& config,
                               const PreparedWeights* prepared) const override {
    validate_input(input, range);
    config.validate();
    const auto* given = dynamic_cast<const CpuPrepared*>(prepared);
    PreparedLayer own;
    if (given == nullptr) own = laconic::prepare(input, config);
    const PreparedLayer& p = given != nullptr ? given->layer : own;
    LayerResult result;
    result.name = input.name;
    result.type = input.shape.type;
    result.weight_terms = p.weight_terms;
    result.per_sample.resize(range.size());

    // Parallel over samples when there are enough to keep every thread busy,
    // else within each sample. Never both: a parallel region nested in
    // another costs milliseconds to set up in libgomp.
    const int threads = omp_get_max_threads();
    const i64 count = static_cast<i64>(range.size());
    TermStats activation_terms;
    if (range.size() < static_cast<u64>(2 * threads)) {
      SampleScratch scratch;
      for (i64 i = 0; i < count; ++i)
        result.per_sample[to_size(i)] = profile_sample(p, *input.activations, range.begin + static_cast<u64>(i),
                                                       scratch, activation_terms, /*parallel=*/true);
      result.activation_terms = activation_terms;
      return result;
    }
    FirstError error;
#pragma omp parallel
    {
      SampleScratch scratch;
      TermStats local;
#pragma omp for schedule(dynamic)
      for (i64 i = 0; i < count; ++i) {
        try {
          result.per_sample[to_size(i)] = profile_sample(p, *input.activations, range.begin + static_cast<u64>(i),
                                                         scratch, local, /*parallel=*/false);
        } catch (...) {
          error.record(i);
        }
      }
#pragma omp critical(laconic_cpu_stats)
      activation_terms += local;
    }
    error.rethrow();
    result.activation_terms = activation_terms;
    return result;
  }
};

}  // namespace

std::unique_ptr<Engine> make_cpu_engine() { return std::make_unique<CpuEngine>(); }

}  // namespace laconic
