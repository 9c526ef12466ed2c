// The reference engine: MODEL.md §3–§5 read literally. Work loops over every
// MAC, cycles over every lane of every step, terms are recomputed wherever the
// model mentions them. No factorization, no shared fast-path helpers: this is
// the oracle the other engines are checked against, so it stays plain.
#include <algorithm>
#include <cstdint>
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

// §5, conv: one step per (window set, filter set, r, s, channel block) of
// each group; the step lasts as long as its slowest lane.
Cycles reference_conv_cycles(const ReferenceLayer& layer, const LayerInput& input,
                             const ProfileConfig& config) {
  const LayerShape& sh = layer.shape;
  const Geometry& geo = config.geometry;
  const i64 ho = sh.out_height(), wo = sh.out_width();
  const i64 windows = ho * wo;
  const i64 kg = sh.filters_per_group(), cg = sh.channels_per_group();
  const i64 filter_set_size = geo.filters_in_flight();
  Cycles cycles;
  for (i64 group = 0; group < sh.groups; ++group)
    for (i64 window_set = 0; window_set < windows; window_set += geo.columns)
      for (i64 filter_set = 0; filter_set < kg; filter_set += filter_set_size)
        for (i64 r = 0; r < sh.kernel_height; ++r)
          for (i64 s = 0; s < sh.kernel_width; ++s)
            for (i64 block = 0; block < cg; block += geo.lanes) {
              i64 slowest_lane = 0;
              for (i64 window = window_set; window < std::min(window_set + geo.columns, windows); ++window) {
                const i64 oh = window % ho;  // oh varies fastest
                const i64 ow = window / ho;
                for (i64 f = filter_set; f < std::min(filter_set + filter_set_size, kg); ++f)
                  for (i64 lane = block; lane < std::min(block + geo.lanes, cg); ++lane) {
                    const i64 a = layer.activation(group * cg + lane, oh * sh.stride_h + r - sh.padding.top,
                                                   ow * sh.stride_w + s - sh.padding.left);
                    const i64 w = layer.weight(group * kg + f, lane, r, s);
                    const i64 product = terms(config.encoding, a) * terms(config.encoding, w);
                    slowest_lane = std::max(slowest_lane, product);
                  }
              }
              cycles.baseline += 1;
              cycles.stripes += static_cast<u64>(input.activation_precision.bits);
              cycles.laconic += static_cast<u64>(std::max<i64>(1, slowest_lane));
            }
  return cycles;
}

// §5, FC: the column recurrence, once per accelerator with its block cost.
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

Cycles reference_fc_cycles(const ReferenceLayer& layer, const LayerInput& input,
                           const ProfileConfig& config) {
  const LayerShape& sh = layer.shape;
  const Geometry& geo = config.geometry;
  Cycles cycles;
  cycles.baseline = reference_fc_recurrence(sh, geo, [](i64, i64) -> u64 { return 1; });
  const u64 p_a = static_cast<u64>(input.activation_precision.bits);
  cycles.stripes = reference_fc_recurrence(sh, geo, [&](i64, i64) { return p_a; });
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
