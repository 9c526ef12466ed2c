// The reference engine: MODEL.md §3–§5, §8 and §9 read literally. Work loops
// over every MAC; cycles build, for each accelerator at its own geometry, the
// cost of every column of every step in §8's order (folding the first layer
// into explicit tensors where §8 says so) and then synchronize the columns;
// terms are recomputed wherever the model mentions them. No factorization, no shared fast-path helpers: this is
// the oracle the other engines are checked against, so it stays plain.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "laconic/engine.hpp"

namespace laconic {
namespace {

using u64 = std::uint64_t;
using i64 = std::int64_t;

struct ReferenceLayer {
  const LayerShape& shape;
  const std::vector<i64>& a;  // one sample, A[c][h][w]
  const std::vector<i64>& w;  // W[k][c'][r][s]

  // §1: the activation of a MAC, 0 where the position falls in the padding.
  i64 activation(i64 c, i64 y, i64 x) const {
    if (y < 0 || y >= shape.height || x < 0 || x >= shape.width) return 0;
    return a[static_cast<std::size_t>((c * shape.height + y) * shape.width + x)];
  }
  i64 weight(i64 k, i64 c_in_group, i64 r, i64 s) const {
    const i64 index =
        ((k * shape.channels_per_group() + c_in_group) * shape.kernel_height + r) * shape.kernel_width + s;
    return w[static_cast<std::size_t>(index)];
  }
};

// §4: the work of every MAC, summed. An FC layer is the 1×1 case.
Work reference_work(const ReferenceLayer& layer, const LayerInput& input, const ProfileConfig& config) {
  const LayerShape& sh = layer.shape;
  const u64 p_base = static_cast<u64>(config.baseline_width);
  const u64 p_a = static_cast<u64>(input.activation_precision.bits);
  const i64 kg = sh.filters_per_group(), cg = sh.channels_per_group();
  Work work;
  for (i64 k = 0; k < sh.filters; ++k) {
    const i64 group = k / kg;
    for (i64 oh = 0; oh < sh.out_height(); ++oh)
      for (i64 ow = 0; ow < sh.out_width(); ++ow)
        for (i64 ci = 0; ci < cg; ++ci)
          for (i64 r = 0; r < sh.kernel_height; ++r)
            for (i64 s = 0; s < sh.kernel_width; ++s) {
              const i64 a = layer.activation(group * cg + ci, oh * sh.stride_h + r - sh.padding.top,
                                             ow * sh.stride_w + s - sh.padding.left);
              const i64 w = layer.weight(k, ci, r, s);
              const u64 ta = static_cast<u64>(terms(config.encoding, a));
              const u64 tw = static_cast<u64>(terms(config.encoding, w));
              work.baseline += p_base * p_base;
              work.zero_skip += (a != 0 && w != 0) ? p_base * p_base : 0;
              work.stripes += p_a * p_base;
              work.pragmatic += ta * p_base;
              work.laconic += ta * tw;
            }
  }
  return work;
}

// §9: the first-stage shifter loop of one column, as the pseudo-code reads.
// `lanes` holds each lane's term positions E_l (§3a).
u64 reference_shifter_cycles(std::vector<std::set<int>> lanes, int shifter_bits) {
  u64 cycles = 0;
  auto some_lane_left = [&] {
    for (const auto& e : lanes)
      if (!e.empty()) return true;
    return false;
  };
  while (some_lane_left()) {
    int o = std::numeric_limits<int>::max();
    for (const auto& e : lanes)
      if (!e.empty()) o = std::min(o, *e.begin());
    for (auto& e : lanes) {
      if (e.empty()) continue;
      const int p = *e.begin();
      // p ≤ o + 2^B − 1, with B = ∞ admitting every position.
      if (shifter_bits == kShifterUnbounded || static_cast<i64>(p) <= o + (i64{1} << shifter_bits) - 1) e.erase(p);
    }
    cycles += 1;
  }
  return std::max<u64>(1, cycles);
}

std::set<int> term_position_set(Encoding encoding, i64 v) {
  std::set<int> positions;
  const std::uint64_t mask = term_positions(encoding, magnitude(v));
  for (int p = 0; p < 64; ++p)
    if ((mask >> p) & 1) positions.insert(p);
  return positions;
}

// The step costs d_c(k) of every column of one accelerator, in §8's step
// order, then §8's column synchronization. Columns without a window cost 0.
struct ColumnSteps {
  i64 columns = 0;
  std::vector<std::vector<u64>> steps;  // steps[k][c] = d_c(k)
};

// §8: R = 0 is lockstep, Σ_k max_c d_c(k); R ≥ 1 is
// E_c(k) = max(E_c(k−1), M(k−1−R)) + d_c(k), cycles = max_c E_c(last).
u64 synchronize_columns(const ColumnSteps& s, int registers) {
  if (registers == 0) {
    u64 cycles = 0;
    for (const auto& d : s.steps) cycles += *std::max_element(d.begin(), d.end());
    return cycles;
  }
  std::vector<u64> e(static_cast<std::size_t>(s.columns), 0);  // E_c(k − 1)
  std::vector<u64> m;                                           // M(j) for j < k
  for (std::size_t k = 0; k < s.steps.size(); ++k) {
    const i64 j = static_cast<i64>(k) - 1 - registers;
    const u64 ready = j < 0 ? 0 : m[static_cast<std::size_t>(j)];
    for (std::size_t c = 0; c < e.size(); ++c) e[c] = std::max(e[c], ready) + s.steps[k][c];
    m.push_back(*std::max_element(e.begin(), e.end()));
  }
  return m.empty() ? 0 : m.back();
}

// §5, §8, §9, conv: one accelerator at its own geometry. With the per-group
// mapping one step per (group, window set, filter set, s, r, channel block);
// with the diagonal mapping, groups of L' = min(L, Rt) consecutive filters,
// filter f in row and lane f mod L' reading its own channel, one step per
// (filter group, window set, s, r). A column's cost: 1 (baseline), p_a
// (Stripes), the §9 shifter over its lanes (Pragmatic), the largest
// t(a)·t(w) over its rows and lanes (Laconic); at least 1.
u64 reference_conv_accelerator(const ReferenceLayer& layer, const LayerInput& input, const ProfileConfig& config,
                               Accelerator accelerator) {
  const LayerShape& sh = layer.shape;
  const Geometry& geo = config.geometry(accelerator);
  const i64 ho = sh.out_height(), wo = sh.out_width();
  const i64 windows = ho * wo;
  const i64 kg = sh.filters_per_group(), cg = sh.channels_per_group();
  const bool diagonal = config.depthwise == DepthwiseMapping::diagonal && cg == 1 && sh.channels > 1;
  const u64 p_a = static_cast<u64>(input.activation_precision.bits);
  auto a_at = [&](i64 window, i64 c, i64 r, i64 s) {
    const i64 oh = window % ho;  // oh varies fastest
    const i64 ow = window / ho;
    return layer.activation(c, oh * sh.stride_h + r - sh.padding.top, ow * sh.stride_w + s - sh.padding.left);
  };
  // A lane reads one input channel and meets the weights of the filters
  // [first_filter, last_filter): the filter set (per-group), or the lane's
  // own filter (diagonal).
  struct Lane {
    i64 channel, first_filter, last_filter;
  };
  auto column_cost = [&](i64 window, const std::vector<Lane>& lanes, i64 r, i64 s) -> u64 {
    switch (accelerator) {
      case Accelerator::baseline: return 1;
      case Accelerator::stripes: return p_a;
      case Accelerator::pragmatic: {
        std::vector<std::set<int>> positions;
        for (const Lane& lane : lanes) positions.push_back(term_position_set(config.encoding, a_at(window, lane.channel, r, s)));
        return reference_shifter_cycles(positions, config.shifter_bits);
      }
      case Accelerator::laconic: {
        i64 slowest = 0;
        for (const Lane& lane : lanes) {
          const i64 ta = terms(config.encoding, a_at(window, lane.channel, r, s));
          for (i64 f = lane.first_filter; f < lane.last_filter; ++f) {
            const i64 group = f / kg;
            const i64 tw = terms(config.encoding, layer.weight(f, lane.channel - group * cg, r, s));
            slowest = std::max(slowest, ta * tw);
          }
        }
        return static_cast<u64>(std::max<i64>(1, slowest));
      }
    }
    return 0;
  };
  ColumnSteps steps;
  steps.columns = geo.columns;
  auto add_step = [&](i64 window_set, const std::vector<Lane>& lanes, i64 r, i64 s) {
    std::vector<u64> d(static_cast<std::size_t>(geo.columns), 0);
    for (i64 c = 0; c < geo.columns; ++c)
      if (window_set + c < windows) d[static_cast<std::size_t>(c)] = column_cost(window_set + c, lanes, r, s);
    steps.steps.push_back(std::move(d));
  };
  if (diagonal) {
    const i64 width = std::min(geo.lanes, geo.rows);  // L' = Rt'
    for (i64 first = 0; first < sh.filters; first += width) {
      std::vector<Lane> lanes;
      for (i64 f = first; f < std::min(first + width, sh.filters); ++f) lanes.push_back(Lane{f / kg, f, f + 1});
      for (i64 window_set = 0; window_set < windows; window_set += geo.columns)
        for (i64 s = 0; s < sh.kernel_width; ++s)
          for (i64 r = 0; r < sh.kernel_height; ++r) add_step(window_set, lanes, r, s);
    }
  } else {
    const i64 filter_set_size = geo.filters_in_flight();
    for (i64 group = 0; group < sh.groups; ++group)
      for (i64 window_set = 0; window_set < windows; window_set += geo.columns)
        for (i64 filter_set = 0; filter_set < kg; filter_set += filter_set_size)
          for (i64 s = 0; s < sh.kernel_width; ++s)
            for (i64 r = 0; r < sh.kernel_height; ++r)
              for (i64 block = 0; block < cg; block += geo.lanes) {
                std::vector<Lane> lanes;
                for (i64 lane = block; lane < std::min(block + geo.lanes, cg); ++lane)
                  lanes.push_back(Lane{group * cg + lane, group * kg + filter_set,
                                       group * kg + std::min(filter_set + filter_set_size, kg)});
                add_step(window_set, lanes, r, s);
              }
  }
  return synchronize_columns(steps, config.registers(accelerator));
}

// §8 first-layer fold, written out: the zero-padded input and the weights
// rearranged space-to-depth into 3σ² channels, a stride-1 layer without
// padding whose cycles stand for the layer's.
struct FoldedLayer {
  LayerShape shape;
  std::vector<i64> a, w;
};

FoldedLayer fold_first_layer(const ReferenceLayer& layer) {
  const LayerShape& sh = layer.shape;
  const i64 sigma = sh.stride_h;
  const i64 hp = sh.padded_height(), wp = sh.padded_width();
  FoldedLayer f;
  f.shape.type = LayerType::conv;
  f.shape.channels = 3 * sigma * sigma;
  f.shape.height = (hp + sigma - 1) / sigma;
  f.shape.width = (wp + sigma - 1) / sigma;
  f.shape.filters = sh.filters;
  f.shape.kernel_height = (sh.kernel_height + sigma - 1) / sigma;
  f.shape.kernel_width = (sh.kernel_width + sigma - 1) / sigma;
  f.a.assign(static_cast<std::size_t>(f.shape.activations_per_sample()), 0);
  f.w.assign(static_cast<std::size_t>(f.shape.weight_count()), 0);
  for (i64 c = 0; c < 3; ++c)
    for (i64 h = 0; h < hp; ++h)
      for (i64 w = 0; w < wp; ++w) {
        const i64 c2 = (w % sigma) * 3 * sigma + 3 * (h % sigma) + c;
        f.a[static_cast<std::size_t>((c2 * f.shape.height + h / sigma) * f.shape.width + w / sigma)] =
            layer.activation(c, h - sh.padding.top, w - sh.padding.left);
      }
  for (i64 k = 0; k < sh.filters; ++k)
    for (i64 c = 0; c < 3; ++c)
      for (i64 r = 0; r < sh.kernel_height; ++r)
        for (i64 s = 0; s < sh.kernel_width; ++s) {
          const i64 c2 = (s % sigma) * 3 * sigma + 3 * (r % sigma) + c;
          f.w[static_cast<std::size_t>(((k * f.shape.channels + c2) * f.shape.kernel_height + r / sigma) *
                                           f.shape.kernel_width +
                                       s / sigma)] = layer.weight(k, c, r, s);
        }
  return f;
}

Cycles reference_conv_cycles(const ReferenceLayer& layer, const LayerInput& input, const ProfileConfig& config) {
  const LayerShape& sh = layer.shape;
  // §8: a 3-channel, one-group layer of stride σ > 1 is counted folded.
  if (config.fold_first_layer && sh.channels == 3 && sh.groups == 1 && sh.stride_h == sh.stride_w &&
      sh.stride_h > 1) {
    const FoldedLayer folded = fold_first_layer(layer);
    ProfileConfig unfolded = config;
    unfolded.fold_first_layer = false;
    return reference_conv_cycles(ReferenceLayer{folded.shape, folded.a, folded.w}, input, unfolded);
  }
  Cycles cycles;
  for (Accelerator a : kAccelerators) cycles[a] = reference_conv_accelerator(layer, input, config, a);
  return cycles;
}

// §5, FC: the column recurrence, once per accelerator at its own geometry
// with its block cost.
template <typename BlockCost>
u64 reference_fc_recurrence(const LayerShape& sh, const Geometry& geo, BlockCost block_cost) {
  u64 now = 0;
  std::vector<u64> busy(static_cast<std::size_t>(geo.columns), 0);
  std::size_t col = 0;
  for (i64 filter_set = 0; filter_set < sh.filters; filter_set += geo.filters_in_flight())
    for (i64 block = 0; block < sh.channels; block += geo.lanes) {
      now = std::max(now, busy[col]);
      busy[col] = now + block_cost(filter_set, block);
      now += 1;
      col = (col + 1) % busy.size();
    }
  return *std::max_element(busy.begin(), busy.end());
}

Cycles reference_fc_cycles(const ReferenceLayer& layer, const LayerInput& input, const ProfileConfig& config) {
  const LayerShape& sh = layer.shape;
  Cycles cycles;
  cycles.baseline =
      reference_fc_recurrence(sh, config.geometry(Accelerator::baseline), [](i64, i64) -> u64 { return 1; });
  const u64 p_a = static_cast<u64>(input.activation_precision.bits);
  cycles.stripes = reference_fc_recurrence(sh, config.geometry(Accelerator::stripes), [&](i64, i64) { return p_a; });
  const Geometry& prag = config.geometry(Accelerator::pragmatic);
  cycles.pragmatic = reference_fc_recurrence(sh, prag, [&](i64, i64 block) -> u64 {
    std::vector<std::set<int>> positions;
    for (i64 lane = block; lane < std::min(block + prag.lanes, sh.channels); ++lane)
      positions.push_back(term_position_set(config.encoding, layer.activation(lane, 0, 0)));
    return reference_shifter_cycles(positions, config.shifter_bits);
  });
  const Geometry& geo = config.geometry(Accelerator::laconic);
  cycles.laconic = reference_fc_recurrence(sh, geo, [&](i64 filter_set, i64 block) -> u64 {
    i64 slowest_lane = 0;
    for (i64 f = filter_set; f < std::min(filter_set + geo.filters_in_flight(), sh.filters); ++f)
      for (i64 lane = block; lane < std::min(block + geo.lanes, sh.channels); ++lane) {
        const i64 product = terms(config.encoding, layer.activation(lane, 0, 0)) *
                            terms(config.encoding, layer.weight(f, lane, 0, 0));
        slowest_lane = std::max(slowest_lane, product);
      }
    return static_cast<u64>(std::max<i64>(1, slowest_lane));
  });
  return cycles;
}

class ReferenceEngine final : public Engine {
 public:
  std::string_view name() const override { return "reference"; }

  LayerResult profile(const LayerInput& input, SampleRange range,
                      const ProfileConfig& config) const override {
    validate_input(input, range);
    config.validate();
    const LayerShape& sh = input.shape;
    LayerResult result;
    result.name = input.name;
    result.type = sh.type;

    std::vector<i64> w(input.weights->size());
    input.weights->read(0, w.size(), w.data());
    for (i64 v : w) ++result.weight_terms.histogram[static_cast<std::size_t>(terms(config.encoding, v))];

    const u64 per_sample = static_cast<u64>(sh.activations_per_sample());
    std::vector<i64> a(per_sample);
    for (u64 n = range.begin; n < range.end; ++n) {
      input.activations->read(n * per_sample, per_sample, a.data());
      for (i64 v : a) ++result.activation_terms.histogram[static_cast<std::size_t>(terms(config.encoding, v))];
      const ReferenceLayer layer{sh, a, w};
      SampleResult sample;
      sample.sample = n;
      sample.macs = static_cast<u64>(sh.macs_per_sample());
      if (config.compute_work) sample.work = reference_work(layer, input, config);
      if (config.compute_cycles)
        sample.cycles = sh.type == LayerType::conv ? reference_conv_cycles(layer, input, config)
                                                   : reference_fc_cycles(layer, input, config);
      result.per_sample.push_back(sample);
    }
    return result;
  }
};

}  // namespace

std::unique_ptr<Engine> make_reference_engine() { return std::make_unique<ReferenceEngine>(); }

}  // namespace laconic
