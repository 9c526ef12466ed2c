// The unit plan, its split into blocks, and the codec of a unit's result
// (include/laconic/run/plan.hpp, codec.hpp): units cover every sample of
// every layer once, blocks cover every unit once and balance MACs, results
// of units merge into the result of one call, and the codec gives back
// exactly what it was given and refuses anything else.
#include <gtest/gtest.h>

#include <random>

#include "laconic/engine.hpp"
#include "laconic/error.hpp"
#include "laconic/profile.hpp"
#include "laconic/run/codec.hpp"
#include "laconic/run/partial.hpp"
#include "laconic/run/plan.hpp"
#include "run_util.hpp"

namespace laconic::run {
namespace {

using test::memory_network;
using test::throws_error;

void expect_covers(const UnitPlan& plan) {
  ASSERT_EQ(plan.layer_first_unit.size(), plan.layers.size() + 1);
  std::uint64_t macs = 0;
  for (std::size_t l = 0; l < plan.layers.size(); ++l) {
    std::uint64_t next = 0;
    for (std::size_t u = plan.layer_first_unit[l]; u < plan.layer_first_unit[l + 1]; ++u) {
      const Unit& unit = plan.units[u];
      EXPECT_EQ(unit.index, u);
      EXPECT_EQ(unit.layer, l);
      EXPECT_EQ(unit.begin, next) << plan.describe(unit);
      EXPECT_LE(unit.samples(), plan.layers[l].unit_samples);
      EXPECT_EQ(unit.macs, unit.samples() * plan.layers[l].macs_per_sample);
      next = unit.end;
      macs += unit.macs;
    }
    EXPECT_EQ(next, plan.layers[l].samples) << plan.layers[l].name;
  }
  EXPECT_EQ(macs, plan.macs);
}

TEST(RunPlan, UnitsCoverEverySampleOnceInManifestOrder) {
  const Network net = memory_network({7, 1, 4});
  for (std::uint64_t k : {1, 2, 3, 7, 100}) {
    PlanOptions o;
    o.unit_samples = k;
    const UnitPlan plan = make_plan(net, o);
    expect_covers(plan);
    EXPECT_EQ(plan.units.size(), (7 + k - 1) / k + 1 + (4 + k - 1) / k) << "k = " << k;
    EXPECT_EQ(plan.images, 7u);
  }
  PlanOptions limited;
  limited.sample_limit = 3;
  limited.unit_samples = 2;
  const UnitPlan plan = make_plan(net, limited);
  expect_covers(plan);
  EXPECT_EQ(plan.layers[0].samples, 3u);
  EXPECT_EQ(plan.layers[1].samples, 1u);
  EXPECT_EQ(plan.units.size(), 2u + 1u + 2u);
}

TEST(RunPlan, DefaultUnitCostsAbout2To29WindowReadsAndDoesNotDependOnRanksOrEngine) {
  const Network net = memory_network({5, 5});
  const UnitPlan plan = make_plan(net, PlanOptions{});
  for (std::size_t i = 0; i < plan.layers.size(); ++i) {
    const PlanLayer& l = plan.layers[i];
    EXPECT_EQ(l.values_per_sample, static_cast<std::uint64_t>(net.layers[i].shape.activations_per_sample()));
    const LayerShape& sh = net.layers[i].shape;
    EXPECT_EQ(l.window_reads_per_sample, static_cast<std::uint64_t>(sh.out_height() * sh.out_width() * sh.channels *
                                                                    sh.kernel_height * sh.kernel_width));
    EXPECT_EQ(sample_cost(l), kActivationValueCost * l.values_per_sample + l.window_reads_per_sample);
    EXPECT_EQ(l.unit_samples, std::max<std::uint64_t>(1, kDefaultUnitCost / sample_cost(l)));
  }
  for (const Unit& u : plan.units) EXPECT_EQ(u.cost, u.samples() * sample_cost(plan.layers[u.layer]));
  // Whole layers here: the layers are far below 2^29 window reads per sample.
  EXPECT_EQ(plan.units.size(), 2u);
  // From the layers alone (merge): the same plan.
  const UnitPlan again = make_plan(plan.layers, PlanOptions{});
  ASSERT_EQ(again.units.size(), plan.units.size());
  for (std::size_t u = 0; u < plan.units.size(); ++u) EXPECT_EQ(again.describe(again.units[u]), plan.describe(plan.units[u]));
  // A layer of 2^29 window reads per sample or more: one sample per unit.
  std::vector<PlanLayer> big = {PlanLayer{"big", LayerType::conv, 3, 1, 0, kDefaultUnitCost + 1, 0}};
  EXPECT_EQ(make_plan(big, PlanOptions{}).units.size(), 3u);
}

TEST(RunPlan, LayerWithoutSamplesIsOneEmptyUnit) {
  std::vector<PlanLayer> layers = {PlanLayer{"a", LayerType::conv, 0, 10, 4, 5, 0}, PlanLayer{"b", LayerType::fc, 2, 5, 5, 5, 0}};
  PlanOptions o;
  o.unit_samples = 1;
  const UnitPlan plan = make_plan(layers, o);
  ASSERT_EQ(plan.units.size(), 3u);
  EXPECT_EQ(plan.units[0].samples(), 0u);
  expect_covers(plan);
}

TEST(RunPlan, RefusesRunsOf2To54MacsOrMore) {
  std::vector<PlanLayer> layers = {PlanLayer{"huge", LayerType::conv, 1u << 20, std::uint64_t{1} << 34, 1, 1, 0}};
  EXPECT_TRUE(throws_error([&] { make_plan(layers, PlanOptions{}); }, {"2^54", "huge"}));
}

TEST(RunPlan, SplitGivesContiguousBlocksCoveringEveryUnitOnceBalancedByCost) {
  std::mt19937 rng(12);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<PlanLayer> layers;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int l = 0; l < n; ++l)
      layers.push_back(PlanLayer{"l" + std::to_string(l), LayerType::conv, rng() % 20, 1 + rng() % 1000, rng() % 100, rng() % 1000, 0});
    PlanOptions o;
    o.unit_samples = 1 + rng() % 5;
    const UnitPlan plan = make_plan(layers, o);
    const std::size_t parts = 1 + rng() % 12;
    std::size_t next = 0;
    std::uint64_t largest_unit = 0, largest_block = 0, total = 0;
    for (const Unit& u : plan.units) {
      largest_unit = std::max(largest_unit, u.cost + 1);
      total += u.cost + 1;
    }
    for (std::size_t p = 0; p < parts; ++p) {
      const Block b = split(plan, whole(plan), p, parts);
      EXPECT_EQ(b.first, next) << "trial " << trial << " part " << p << " of " << parts;
      next = b.last;
      std::uint64_t macs = 0;
      for (std::size_t u = b.first; u < b.last; ++u) macs += plan.units[u].cost + 1;
      largest_block = std::max(largest_block, macs);
    }
    EXPECT_EQ(next, plan.units.size()) << "trial " << trial;
    // Nearest boundaries: no block exceeds its share by more than a unit.
    EXPECT_LE(largest_block, total / parts + largest_unit + 1) << "trial " << trial;
    // Splitting a block again covers the block.
    const Block outer = split(plan, whole(plan), parts / 2, parts);
    std::size_t inner_next = outer.first;
    for (std::size_t p = 0; p < 3; ++p) {
      const Block b = split(plan, outer, p, 3);
      EXPECT_EQ(b.first, inner_next);
      inner_next = b.last;
    }
    EXPECT_EQ(inner_next, outer.last);
  }
  // More parts than units: empty parts, still a partition.
  const UnitPlan small = make_plan(std::vector<PlanLayer>{PlanLayer{"a", LayerType::fc, 2, 5, 5, 5, 0}}, PlanOptions{1, 1});
  std::size_t filled = 0;
  for (std::size_t p = 0; p < 7; ++p) filled += split(small, whole(small), p, 7).size();
  EXPECT_EQ(filled, 2u);
}

TEST(RunPlan, ShardsParseAsOneBasedIOfN) {
  EXPECT_EQ(parse_shard("1/1").index, 0u);
  EXPECT_EQ(parse_shard("2/3").index, 1u);
  EXPECT_EQ(parse_shard("2/3").count, 3u);
  for (const char* bad : {"0/3", "4/3", "3", "/3", "1/", "a/b", "1/0", "-1/3", "1/3/4"})
    EXPECT_TRUE(throws_error([&] { parse_shard(bad); }, {"--shard", bad})) << bad;
}

TEST(RunCodec, UnitsMergeIntoTheResultOfOneCallAndRoundTripExactly) {
  const Network net = memory_network({7, 3});
  const auto engine = make_cpu_engine();
  const ProfileConfig config;
  PlanOptions o;
  o.unit_samples = 3;
  const UnitPlan plan = make_plan(net, o);
  const NetworkResult whole_run = profile_network(net, *engine, config, ProfileOptions{});
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    LayerResult merged;
    for (std::size_t u = plan.layer_first_unit[l]; u < plan.layer_first_unit[l + 1]; ++u) {
      const Unit& unit = plan.units[u];
      const LayerResult r = engine->profile(net.layers[l].input(), SampleRange{unit.begin, unit.end}, config);
      const std::vector<std::uint64_t> words = encode_unit(unit, r);
      EXPECT_EQ(words.size(), kUnitHeaderWords + kWordsPerSample * unit.samples());
      const DecodedUnit d = decode_unit(words.data(), words.size(), plan, "test");
      EXPECT_EQ(d.unit, u);
      EXPECT_EQ(d.result, r) << plan.describe(unit);
      if (u == plan.layer_first_unit[l]) merged = d.result;
      else merged.merge(d.result);
    }
    EXPECT_EQ(merged, whole_run.layers[l].result) << net.layers[l].name;
  }
}

TEST(RunCodec, RefusesWordsThatAreNotAUnitOfThePlan) {
  const Network net = memory_network({4});
  const auto engine = make_cpu_engine();
  PlanOptions o;
  o.unit_samples = 2;
  const UnitPlan plan = make_plan(net, o);
  const Unit& unit = plan.units[1];
  const std::vector<std::uint64_t> good =
      encode_unit(unit, engine->profile(net.layers[0].input(), SampleRange{unit.begin, unit.end}, ProfileConfig{}));
  auto refused = [&](std::vector<std::uint64_t> words, const std::string& phrase) {
    return throws_error([&] { decode_unit(words.data(), words.size(), plan, "rec"); }, {"rec", phrase});
  };
  auto changed = [&](std::size_t at, std::uint64_t value) {
    std::vector<std::uint64_t> w = good;
    w[at] = value;
    return w;
  };
  EXPECT_TRUE(refused(changed(0, 2), "codec version 2"));
  EXPECT_TRUE(refused(changed(1, 9), "not in the plan"));
  EXPECT_TRUE(refused(changed(1, 0), "unit 0"));
  EXPECT_TRUE(refused(changed(3, 0), "samples [0, 4)"));
  EXPECT_TRUE(refused(changed(5, 12), "histograms of 12"));
  EXPECT_TRUE(refused(changed(kUnitHeaderWords, 3), "entry 0 is sample 3"));
  EXPECT_TRUE(refused(changed(kUnitHeaderWords + 1, 1), "MACs"));
  EXPECT_TRUE(refused(std::vector<std::uint64_t>(good.begin(), good.end() - 1), "do not hold"));
  EXPECT_TRUE(refused(std::vector<std::uint64_t>(good.begin(), good.begin() + 3), "fewer than"));
  // A result that does not hold the unit's samples cannot be encoded.
  LayerResult wrong;
  EXPECT_THROW(encode_unit(plan.units[0], wrong), std::logic_error);
}

}  // namespace
}  // namespace laconic::run
