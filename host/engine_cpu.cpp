// The fast CPU engine: the same integers as the reference engine, computed
// with the factorizations of MODEL.md §4 and §5.
//
// Terms are computed once per value (one byte each). Weights are prepared
// once per layer: per-group sums of weight terms and non-zeros for the work
// sums (§4), per-filter-set maxima of weight terms for the steps (§5).
// Each sample's activation terms go into a zero-padded plane stored column by
// column ([c][x][y]), so the windows of a window set, which run down a column
// (oh varies fastest), read consecutive bytes and padding needs no test.
//
// Work (§4) is Σ_(c,r,s) F(c,r,s)·G(c,r,s), with F the sum of f(a) over the
// positions kernel offset (r,s) touches: a strided rectangle of the padded
// plane, read in O(1) from 2-D prefix sums of each stride residue class.
// Cycles (§5) take, per window set, the maximum activation term of each
// (lane, r, s) over the set's windows, then per step one maximum over L lane
// products with the filter set's weight maxima.
//
// Threads: samples run in parallel when there are enough of them, otherwise
// the channels (work) and window sets (cycles) of one sample do. Integer sums
// make the result independent of the thread count.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "laconic/engine.hpp"
#include "laconic/model.hpp"
#include "chunked_read.hpp"
#include "first_error.hpp"

namespace laconic {
namespace {

using u8 = std::uint8_t;
using u64 = std::uint64_t;
using i64 = std::int64_t;

std::size_t to_size(i64 v) { return static_cast<std::size_t>(v); }

// Terms of `count` values, one byte each, and their histogram. The encoding
// is chosen once per call, not per value.
// Four histograms in turn, so that runs of equal terms (zeros, mostly) do
// not wait on each other's increments.
// Terms of every magnitude below 2^16, for the common widths: one load
// instead of a handful of bit operations.
template <int (*Terms)(std::uint64_t)>
const std::array<u8, 1 << 16>& terms_table() {
  static const std::array<u8, 1 << 16> table = [] {
    std::array<u8, 1 << 16> t{};
    for (std::size_t m = 0; m < t.size(); ++m) t[m] = static_cast<u8>(Terms(m));
    return t;
  }();
  return table;
}

template <int (*Terms)(std::uint64_t)>
inline int table_terms(const std::array<u8, 1 << 16>& table, i64 v) {
  const std::uint64_t m = magnitude(v);
  return m < table.size() ? table[m] : Terms(m);
}

template <int (*Terms)(std::uint64_t)>
void compute_terms_with(const i64* values, std::size_t count, u8* out, TermStats& stats) {
  const auto& table = terms_table<Terms>();
  std::array<std::array<u64, kMaxTerms + 1>, 4> counts{};
  std::size_t i = 0;
  for (; i + 4 <= count; i += 4)
    for (std::size_t lane = 0; lane < 4; ++lane) {
      const int t = table_terms<Terms>(table, values[i + lane]);
      out[i + lane] = static_cast<u8>(t);
      ++counts[lane][static_cast<std::size_t>(t)];
    }
  for (; i < count; ++i) {
    const int t = table_terms<Terms>(table, values[i]);
    out[i] = static_cast<u8>(t);
    ++counts[0][static_cast<std::size_t>(t)];
  }
  for (const auto& c : counts)
    for (std::size_t t = 0; t < c.size(); ++t) stats.histogram[t] += c[t];
}

void compute_terms(Encoding encoding, const i64* values, std::size_t count, u8* out, TermStats& stats) {
  switch (encoding) {
    case Encoding::binary: return compute_terms_with<terms_binary>(values, count, out, stats);
    case Encoding::booth: return compute_terms_with<terms_booth>(values, count, out, stats);
    case Encoding::naf: return compute_terms_with<terms_naf>(values, count, out, stats);
    case Encoding::dnnsim_booth: return compute_terms_with<terms_dnnsim_booth>(values, count, out, stats);
  }
}

// Reads values [first, first + count) of `source` and writes their terms to
// `out` and their histogram to `stats` (chunked_read.hpp).
void read_terms(const TensorSource& source, u64 first, u64 count, Encoding encoding, u8* out, TermStats& stats,
                bool parallel) {
  read_in_chunks<TermStats>(
      source, first, count, parallel,
      [&](const i64* values, u64 n, u64 offset, TermStats& local) {
        compute_terms(encoding, values, static_cast<std::size_t>(n), out + offset, local);
      },
      [&](const TermStats& local) { stats += local; });
}

// The FC recurrence of §5 (model.hpp) over per-block costs cost[filter_set][block].
u64 fc_recurrence(const std::vector<u64>& cost, const Geometry& geo) {
  std::vector<u64> busy(to_size(geo.columns));
  return laconic::fc_recurrence(cost.size(), geo.columns, busy.data(), [&](u64 i) { return cost[to_size(i)]; });
}

// Everything about a layer that does not depend on the sample.
struct PreparedLayer {
  LayerShape shape;
  ProfileConfig config;
  Precision activation_precision;
  i64 out_h = 0, out_w = 0, padded_h = 0, padded_w = 0;
  i64 kg = 0, cg = 0, filter_sets = 0, window_sets = 0, channel_blocks = 0;
  u64 macs = 0;
  TermStats weight_terms;
  // §4: per (group, c', r, s), Σ over the group's filters of t(w) and of [w ≠ 0].
  std::vector<u64> weight_term_sums, weight_nonzero_sums;
  // §5 conv: per (group, filter set, r, s, c'), max over the set's filters of t(w).
  // FC: per (filter set, c).
  std::vector<u8> weight_max;
  // §5: cycles of the data-independent accelerators (model.hpp), per sample.
  Cycles fixed_cycles;
};

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
  const Geometry& geo = config.geometry(Accelerator::laconic);
  const i64 set_size = geo.filters_in_flight();
  const StepPlan counts = step_plan(sh, geo, false);
  p.filter_sets = counts.filter_sets;
  p.window_sets = counts.window_sets;
  p.channel_blocks = counts.channel_blocks;
  p.macs = static_cast<u64>(sh.macs_per_sample());

  std::vector<u8> tw(to_size(sh.weight_count()));
  read_terms(*input.weights, 0, tw.size(), config.encoding, tw.data(), p.weight_terms, /*parallel=*/true);
  const i64 rs = sh.kernel_height * sh.kernel_width;
  const i64 per_filter = p.cg * rs;  // weights of one filter, [c'][r][s]

  if (!config.compute_work && !config.compute_cycles) return p;  // terms statistics only

  // §4 sums over each group's filters, indexed [group][c'][r][s], and §5
  // filter-set maxima with lanes (c') innermost so that a step reads them in
  // a row: [group][filter set][r][s][c']. One unit of work per (group, filter
  // set) reads its filters in memory order; where a group has several filter
  // sets their partial sums meet in atomic adds.
  p.weight_term_sums.assign(to_size(sh.groups * per_filter), 0);
  p.weight_nonzero_sums.assign(p.weight_term_sums.size(), 0);
  p.weight_max.assign(to_size(sh.groups * p.filter_sets * rs * p.cg), 0);
  const i64 units = sh.groups * p.filter_sets;
#pragma omp parallel
  {
    std::vector<u64> term_sum(to_size(per_filter)), nonzero_sum(to_size(per_filter));
#pragma omp for schedule(dynamic)
    for (i64 unit = 0; unit < units; ++unit) {
      const i64 group = unit / p.filter_sets, filter_set = unit % p.filter_sets;
      std::fill(term_sum.begin(), term_sum.end(), 0);
      std::fill(nonzero_sum.begin(), nonzero_sum.end(), 0);
      u8* set_max = &p.weight_max[to_size(unit * rs * p.cg)];
      const i64 last = std::min((filter_set + 1) * set_size, p.kg);
      for (i64 f = filter_set * set_size; f < last; ++f) {
        const u8* w = &tw[to_size((group * p.kg + f) * per_filter)];  // W[k][c'][r][s]
        for (i64 ci = 0; ci < p.cg; ++ci)
          for (i64 rs_index = 0; rs_index < rs; ++rs_index) {
            const u8 t = w[ci * rs + rs_index];
            term_sum[to_size(ci * rs + rs_index)] += t;
            nonzero_sum[to_size(ci * rs + rs_index)] += t != 0;
            u8& m = set_max[to_size(rs_index * p.cg + ci)];
            m = std::max(m, t);
          }
      }
      u64* group_terms = &p.weight_term_sums[to_size(group * per_filter)];
      u64* group_nonzero = &p.weight_nonzero_sums[to_size(group * per_filter)];
      for (i64 i = 0; i < per_filter; ++i) {
        if (p.filter_sets == 1) {  // the group's only unit
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

  p.fixed_cycles = data_independent_cycles(sh, config, input.activation_precision.bits);
  return p;
}

// One sample's activation terms, zero-padded and stored column by column:
// plane[c][x][y] for padded coordinates (y, x); padding holds 0 terms.
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

// §5 for a conv layer: Σ over steps of max(1, max over lanes of
// (max over the window set of t(a)) · (max over the filter set of t(w))).
Cycles conv_cycles(const PreparedLayer& p, const ActivationPlane& plane, bool parallel) {
  const LayerShape& sh = p.shape;
  const Geometry& geo = p.config.geometry(Accelerator::laconic);
  const i64 windows = p.out_h * p.out_w;
  const i64 rs = sh.kernel_height * sh.kernel_width;
  const i64 lanes = geo.lanes;
  u64 laconic = 0;
  const i64 units = sh.groups * p.window_sets;
#pragma omp parallel if (parallel)
  {
    // [r][s][c']: the window set's maximum activation term per lane and offset.
    std::vector<u8> act_max(to_size(rs * p.cg));
#pragma omp for schedule(dynamic) reduction(+ : laconic)
    for (i64 unit = 0; unit < units; ++unit) {
      const i64 group = unit / p.window_sets;
      const i64 first = (unit % p.window_sets) * geo.columns;
      const i64 last = std::min(first + geo.columns, windows);  // exclusive
      std::fill(act_max.begin(), act_max.end(), u8{0});
      // The set's windows run down columns ow, oh fastest; take each column's
      // run of oh at once.
      for (i64 window = first; window < last;) {
        const i64 ow = window / p.out_h;
        const i64 oh_first = window % p.out_h;
        const i64 oh_last = std::min(p.out_h, oh_first + (last - window));  // exclusive
        window += oh_last - oh_first;
        for (i64 ci = 0; ci < p.cg; ++ci) {
          const i64 c = group * p.cg + ci;
          for (i64 s = 0; s < sh.kernel_width; ++s) {
            const u8* col = plane.column(c, ow * sh.stride_w + s);
            for (i64 r = 0; r < sh.kernel_height; ++r) {
              u8 m = 0;
              const u8* y = col + r + oh_first * sh.stride_h;
              for (i64 oh = oh_first; oh < oh_last; ++oh, y += sh.stride_h) m = std::max(m, *y);
              u8& dest = act_max[to_size((r * sh.kernel_width + s) * p.cg + ci)];
              dest = std::max(dest, m);
            }
          }
        }
      }
      for (i64 filter_set = 0; filter_set < p.filter_sets; ++filter_set) {
        const u8* w_max = &p.weight_max[to_size((group * p.filter_sets + filter_set) * rs * p.cg)];
        for (i64 rs_index = 0; rs_index < rs; ++rs_index) {
          const u8* a_row = &act_max[to_size(rs_index * p.cg)];
          const u8* w_row = &w_max[to_size(rs_index * p.cg)];
          for (i64 block = 0; block < p.cg; block += lanes) {
            const i64 end = std::min(block + lanes, p.cg);
            unsigned slowest = 1;  // a step costs at least 1
            for (i64 l = block; l < end; ++l)
              slowest = std::max(slowest, static_cast<unsigned>(a_row[l]) * w_row[l]);
            laconic += slowest;
          }
        }
      }
    }
  }
  Cycles cycles = p.fixed_cycles;
  cycles.laconic = laconic;
  return cycles;
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

// §5 for an FC layer: block costs from the filter-set maxima, then the column
// recurrence.
Cycles fc_cycles(const PreparedLayer& p, const u8* ta) {
  const i64 channels = p.shape.channels;
  const i64 lanes = p.config.geometry(Accelerator::laconic).lanes;
  std::vector<u64> cost(to_size(p.filter_sets * p.channel_blocks));
  for (i64 filter_set = 0; filter_set < p.filter_sets; ++filter_set) {
    const u8* w_max = &p.weight_max[to_size(filter_set * channels)];
    for (i64 block = 0; block < p.channel_blocks; ++block) {
      unsigned slowest = 1;
      for (i64 l = block * lanes; l < std::min((block + 1) * lanes, channels); ++l)
        slowest = std::max(slowest, static_cast<unsigned>(ta[l]) * w_max[l]);
      cost[to_size(filter_set * p.channel_blocks + block)] = slowest;
    }
  }
  Cycles cycles = p.fixed_cycles;
  cycles.laconic = fc_recurrence(cost, p.config.geometry(Accelerator::laconic));
  return cycles;
}

SampleResult profile_sample(const PreparedLayer& p, const TensorSource& activations, u64 n, std::vector<u8>& ta,
                            TermStats& stats, bool parallel) {
  const u64 per_sample = static_cast<u64>(p.shape.activations_per_sample());
  ta.resize(per_sample);
  read_terms(activations, n * per_sample, per_sample, p.config.encoding, ta.data(), stats, parallel);
  SampleResult result;
  result.sample = n;
  result.macs = p.macs;
  if (p.shape.type == LayerType::fc) {
    if (p.config.compute_work) result.work = fc_work(p, ta.data());
    if (p.config.compute_cycles) result.cycles = fc_cycles(p, ta.data());
    return result;
  }
  if (!p.config.compute_work && !p.config.compute_cycles) return result;
  const ActivationPlane plane = build_plane(p, ta.data(), parallel);
  if (p.config.compute_work) result.work = conv_work(p, plane, parallel);
  if (p.config.compute_cycles) result.cycles = conv_cycles(p, plane, parallel);
  return result;
}

class CpuEngine final : public Engine {
 public:
  std::string_view name() const override { return "cpu"; }

  LayerResult profile(const LayerInput& input, SampleRange range,
                      const ProfileConfig& config) const override {
    validate_input(input, range);
    config.validate();
    const PreparedLayer p = prepare(input, config);
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
      std::vector<u8> ta;
      for (i64 i = 0; i < count; ++i)
        result.per_sample[to_size(i)] = profile_sample(p, *input.activations, range.begin + static_cast<u64>(i), ta,
                                                       activation_terms, /*parallel=*/true);
      result.activation_terms = activation_terms;
      return result;
    }
    FirstError error;
#pragma omp parallel
    {
      std::vector<u8> ta;
      TermStats local;
#pragma omp for schedule(dynamic)
      for (i64 i = 0; i < count; ++i) {
        try {
          result.per_sample[to_size(i)] = profile_sample(p, *input.activations, range.begin + static_cast<u64>(i), ta,
                                                         local, /*parallel=*/false);
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
