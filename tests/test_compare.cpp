// Tests of `laconic compare`: reading JSON reports back (every field checked,
// every malformed report refused with the file and field named), matching
// layers, the ratios B / A (zeros, infinities, layers in one report only),
// the three outputs, and the command itself (exit statuses, refusal of
// different networks, reports of real runs).

#include "laconic/compare.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_text;
using test::TempDir;
using test::throws_error;
using test::write_bytes;

const double kInf = std::numeric_limits<double>::infinity();

// A layer of a hand-made report: every count given.
struct LayerSpec {
  std::string name;
  std::string type;
  std::uint64_t samples, macs;
  Work work;
  Cycles cycles;
};

Work work_of(std::uint64_t baseline, std::uint64_t zero_skip, std::uint64_t stripes, std::uint64_t pragmatic,
             std::uint64_t laconic) {
  Work w;
  w.baseline = baseline;
  w.zero_skip = zero_skip;
  w.stripes = stripes;
  w.pragmatic = pragmatic;
  w.laconic = laconic;
  return w;
}

Cycles cycles_of(std::uint64_t baseline, std::uint64_t stripes, std::uint64_t pragmatic, std::uint64_t laconic) {
  Cycles c;
  c.baseline = baseline;
  c.stripes = stripes;
  c.pragmatic = pragmatic;
  c.laconic = laconic;
  return c;
}

json work_json(const Work& w) {
  return {{"baseline", w.baseline}, {"zero_skip", w.zero_skip}, {"stripes", w.stripes},
          {"pragmatic", w.pragmatic}, {"laconic", w.laconic}};
}

json cycles_json(const Cycles& c) {
  return {{"baseline", c.baseline}, {"stripes", c.stripes}, {"pragmatic", c.pragmatic}, {"laconic", c.laconic}};
}

// The "config" of a report of the dnnsim preset (MODEL.md §8).
json dnnsim_config(const std::string& encoding) {
  json c = json::parse(R"({"preset": "dnnsim", "encoding": "", "baseline_width": 16,
    "accelerators": {"baseline": {"tiles": 16, "rows": 16, "columns": 1, "lanes": 16},
                     "stripes": {"tiles": 16, "rows": 16, "columns": 16, "lanes": 16},
                     "pragmatic": {"tiles": 16, "rows": 16, "columns": 16, "lanes": 16, "column_registers": 1,
                                   "shifter_bits": 2},
                     "laconic": {"tiles": 16, "rows": 16, "columns": 16, "lanes": 16, "column_registers": 0}},
    "depthwise": "diagonal", "fold_first_layer": true, "sample_limit": null, "source": "hand-made"})");
  c["encoding"] = encoding;
  return c;
}

// A report as `laconic profile --json` writes it (schema 2), totals summed
// here; `laconic_lanes` other than 16 makes a custom configuration.
json make_report(const std::string& network, const std::vector<LayerSpec>& layers, const std::string& encoding = "booth",
                 std::int64_t laconic_lanes = 16) {
  json doc;
  doc["tool"] = "laconic";
  doc["schema"] = 2;
  doc["version"] = "0.2.0";
  doc["network"] = network;
  doc["engine"] = "cpu";
  doc["config"] = dnnsim_config(encoding);
  doc["config"]["accelerators"]["laconic"]["lanes"] = laconic_lanes;
  if (laconic_lanes != 16) doc["config"]["preset"] = nullptr;
  doc["layers"] = json::array();
  json all = {{"layers", 0}, {"macs", 0}, {"work", work_json(Work{})}, {"cycles", cycles_json(Cycles{})}};
  json conv = all;
  for (const auto& l : layers) {
    doc["layers"].push_back({{"name", l.name},
                             {"type", l.type},
                             {"samples", l.samples},
                             {"macs", l.macs},
                             {"work", work_json(l.work)},
                             {"cycles", cycles_json(l.cycles)},
                             {"terms", {{"activations", {{"mean", 1.0}, {"zero_fraction", 0.5}, {"histogram", {1, 1}}}},
                                        {"weights", {{"mean", 1.0}, {"zero_fraction", 0.5}, {"histogram", {1, 1}}}}}}});
    for (json* t : {&all, &conv}) {
      if (t == &conv && l.type != "conv") continue;
      json& s = *t;
      s["layers"] = s["layers"].get<std::uint64_t>() + 1;
      s["macs"] = s["macs"].get<std::uint64_t>() + l.macs;
      const json work = work_json(l.work), cycles = cycles_json(l.cycles);
      for (const auto& item : work.items())
        s["work"][item.key()] = s["work"][item.key()].get<std::uint64_t>() + item.value().get<std::uint64_t>();
      for (const auto& item : cycles.items())
        s["cycles"][item.key()] = s["cycles"][item.key()].get<std::uint64_t>() + item.value().get<std::uint64_t>();
    }
  }
  doc["totals"] = {{"all", all}, {"conv", conv}};
  return doc;
}

Report parse(const json& doc, const std::string& path = "r.json") { return parse_report(doc.dump(2), path); }

// Three layers with distinct counts; the fc layer is outside the conv totals.
std::vector<LayerSpec> three_layers() {
  return {{"conv1", "conv", 2, 1000, work_of(256000, 128000, 128000, 40000, 5000), cycles_of(10, 80, 40, 90)},
          {"conv2", "conv", 2, 3000, work_of(768000, 500000, 384000, 90000, 12000), cycles_of(30, 240, 120, 200)},
          {"fc", "fc", 2, 500, work_of(128000, 64000, 64000, 20000, 3000), cycles_of(8, 64, 32, 50)}};
}

// --------------------------------------------------------------------------
// Reading reports

TEST(CompareParse, ReadsEveryField) {
  json doc = make_report("net", three_layers(), "naf", 8);
  doc["config"]["sample_limit"] = 2;
  const Report r = parse(doc, "dir/r.json");
  EXPECT_EQ(r.path, "dir/r.json");
  EXPECT_EQ(r.network, "net");
  EXPECT_EQ(r.schema, 2);
  EXPECT_EQ(r.version, "0.2.0");
  EXPECT_EQ(r.engine, "cpu");
  const ProfileConfig& c = r.config.settings;
  EXPECT_EQ(c.encoding, Encoding::naf);
  EXPECT_EQ(c.geometry(Accelerator::laconic), (Geometry{16, 16, 16, 8}));
  EXPECT_EQ(c.geometry(Accelerator::baseline), (Geometry{16, 16, 1, 16}));
  EXPECT_EQ(c.geometry(Accelerator::stripes), (Geometry{16, 16, 16, 16}));
  EXPECT_EQ(c.shifter_bits, 2);
  EXPECT_EQ(c.registers(Accelerator::pragmatic), 1);
  EXPECT_EQ(c.registers(Accelerator::laconic), 0);
  EXPECT_EQ(c.depthwise, DepthwiseMapping::diagonal);
  EXPECT_TRUE(c.fold_first_layer);
  EXPECT_EQ(c.baseline_width, 16);
  EXPECT_FALSE(c.matching_preset().has_value());
  // The dnnsim preset, and B = inf as null.
  json dnnsim = make_report("net", three_layers());
  EXPECT_EQ(parse(dnnsim).config.settings, ProfileConfig::preset(Preset::dnnsim));
  dnnsim["config"]["accelerators"]["pragmatic"]["shifter_bits"] = nullptr;
  dnnsim["config"]["preset"] = nullptr;
  EXPECT_EQ(parse(dnnsim).config.settings.shifter_bits, kShifterUnbounded);
  ASSERT_TRUE(r.config.sample_limit.has_value());
  EXPECT_EQ(*r.config.sample_limit, 2u);
  EXPECT_EQ(r.config.source, "hand-made");
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[1].name, "conv2");
  EXPECT_EQ(r.layers[1].counts.macs, 3000u);
  EXPECT_EQ(r.layers[1].counts.work, work_of(768000, 500000, 384000, 90000, 12000));
  EXPECT_EQ(r.layers[1].counts.cycles, cycles_of(30, 240, 120, 200));
  EXPECT_EQ(r.layers[2].type, "fc");
  EXPECT_EQ(r.all.layers, 3u);
  EXPECT_EQ(r.all.macs, 4500u);
  EXPECT_EQ(r.conv.layers, 2u);
  EXPECT_EQ(r.conv.cycles.laconic, 290u);
  EXPECT_FALSE(parse(make_report("net", three_layers())).config.sample_limit.has_value());
}

TEST(CompareParse, ExactCountsAbove2To53) {
  const std::uint64_t big = (std::uint64_t(1) << 60) + 1;  // not a double
  const Report r = parse(make_report("net", {{"l", "conv", 1, big, work_of(big, big, big, big, big), cycles_of(big, big, big, big)}}));
  EXPECT_EQ(r.layers[0].counts.macs, big);
  EXPECT_EQ(r.all.work.laconic, big);
}

TEST(CompareParse, RefusesWhatIsNotAReport) {
  EXPECT_TRUE(throws_error([] { parse_report("# markdown", "x.md"); }, {"x.md", "not valid JSON"}));
  EXPECT_TRUE(throws_error([] { parse_report("[1, 2]", "a.json"); }, {"a.json", "not a laconic profile report"}));
  EXPECT_TRUE(throws_error([] { parse_report(R"({"tool": "other"})", "a.json"); }, {"a.json", "\"tool\": \"laconic\""}));
  EXPECT_TRUE(throws_error([] { parse_report(R"({"tool": "laconic", "kind": "comparison"})", "c.json"); },
                           {"c.json", "output of laconic compare"}));
  EXPECT_TRUE(throws_error([] { read_report("/nonexistent/dir/r.json"); }, {"/nonexistent/dir/r.json", "cannot open"}));
}

TEST(CompareParse, NamesTheMissingOrMistypedField) {
  struct Case {
    std::function<void(json&)> damage;
    std::vector<std::string> phrases;
  };
  const std::vector<Case> cases = {
      {[](json& d) { d.erase("network"); }, {"network is missing"}},
      {[](json& d) { d["engine"] = 3; }, {"engine is not a string"}},
      {[](json& d) { d["config"]["accelerators"]["laconic"].erase("lanes"); },
       {"config.accelerators.laconic.lanes is missing"}},
      {[](json& d) { d["config"]["accelerators"]["baseline"]["tiles"] = -1; },
       {"config.accelerators.baseline.tiles is not a non-negative integer", "-1"}},
      {[](json& d) { d["config"]["accelerators"].erase("pragmatic"); }, {"config.accelerators.pragmatic is missing"}},
      {[](json& d) { d["config"]["accelerators"]["pragmatic"]["shifter_bits"] = "inf"; },
       {"config.accelerators.pragmatic.shifter_bits is not a non-negative integer"}},
      {[](json& d) { d["config"]["accelerators"]["pragmatic"]["shifter_bits"] = 40; },
       {"config.accelerators.pragmatic.shifter_bits is 40, more than the 31 laconic allows"}},
      {[](json& d) { d["config"]["accelerators"]["laconic"].erase("column_registers"); },
       {"config.accelerators.laconic.column_registers is missing"}},
      {[](json& d) { d["config"]["accelerators"]["stripes"]["columns"] = 0; },
       {"config: geometry of stripes: columns must be a positive number, not 0"}},
      {[](json& d) { d["config"]["encoding"] = "csd"; }, {"config.encoding is 'csd'"}},
      {[](json& d) { d["config"]["depthwise"] = "diag"; }, {"config.depthwise is 'diag'"}},
      {[](json& d) { d["config"]["fold_first_layer"] = "on"; }, {"config.fold_first_layer is not true or false"}},
      {[](json& d) { d["config"]["preset"] = "equal"; },
       {"config.preset is equal but the accelerators' settings are those of the preset dnnsim"}},
      {[](json& d) { d["config"]["depthwise"] = "per-group"; },
       {"config.preset is dnnsim but the accelerators' settings are no preset's"}},
      {[](json& d) { d["config"].erase("preset"); }, {"config.preset is missing"}},
      {[](json& d) { d["config"]["sample_limit"] = "all"; }, {"config.sample_limit"}},
      {[](json& d) { d["layers"] = json::object(); }, {"layers is not a list"}},
      {[](json& d) { d["layers"][1]["work"].erase("laconic"); }, {"layers[1].work.laconic is missing"}},
      {[](json& d) { d["layers"][2]["cycles"]["stripes"] = 1.5; }, {"layers[2].cycles.stripes", "1.5"}},
      {[](json& d) { d["layers"][2]["cycles"].erase("pragmatic"); }, {"layers[2].cycles.pragmatic is missing"}},
      {[](json& d) { d["totals"]["conv"]["cycles"]["pragmatic"] = 7; }, {"totals.conv.cycles.pragmatic is 7", "sum to 160"}},
      {[](json& d) { d["layers"][0]["macs"] = "1000"; }, {"layers[0].macs is not a non-negative integer"}},
      {[](json& d) { d["layers"][0]["type"] = "pool"; }, {"layers[0].type is 'pool'"}},
      {[](json& d) { d["layers"][0] = 7; }, {"layers[0] is not an object"}},
      {[](json& d) { d["layers"][2]["name"] = "conv1"; }, {"layers[0] and layers[2] are both named 'conv1'"}},
      {[](json& d) { d.erase("totals"); }, {"totals is missing"}},
      {[](json& d) { d["totals"]["all"]["work"]["laconic"] = 1; }, {"totals.all.work.laconic is 1", "sum to 20000"}},
      {[](json& d) { d["totals"]["conv"]["macs"] = 4500; }, {"totals.conv.macs is 4500", "sum to 4000"}},
      {[](json& d) { d["totals"]["all"]["layers"] = 2; }, {"totals.all.layers is 2", "there are 3"}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    json doc = make_report("net", three_layers());
    cases[i].damage(doc);
    std::vector<std::string> phrases = cases[i].phrases;
    phrases.push_back("bad.json");
    EXPECT_TRUE(throws_error([&] { parse(doc, "bad.json"); }, phrases)) << "case " << i << ": " << phrases.front();
  }
}

TEST(CompareParse, RefusesReportsOfAnotherSchema) {
  json old = make_report("net", three_layers());
  old.erase("schema");  // as laconic 0.1 wrote them
  old["version"] = "0.1.0";
  EXPECT_TRUE(throws_error([&] { parse(old, "old.json"); },
                           {"old.json", "a report of laconic 0.1.0 (report schema 1", "no Pragmatic cycles",
                            "re-run laconic profile --json with laconic 0.2.0", "reads report schema 2"}));
  json newer = make_report("net", three_layers());
  newer["schema"] = 3;
  EXPECT_TRUE(throws_error([&] { parse(newer, "new.json"); }, {"new.json", "schema 3", "a newer laconic"}));
  json text = make_report("net", three_layers());
  text["schema"] = "2";
  EXPECT_TRUE(throws_error([&] { parse(text, "s.json"); }, {"s.json", "schema is not an integer"}));
}

TEST(CompareParse, SumsThatOverflowAreRefused) {
  const std::uint64_t half = std::numeric_limits<std::uint64_t>::max() / 2 + 1;
  json doc = make_report("net", {{"a", "conv", 1, 1, work_of(1, 1, 1, 1, 1), cycles_of(1, 1, 0, 1)},
                                 {"b", "conv", 1, 1, work_of(1, 1, 1, 1, 1), cycles_of(1, 1, 0, 1)}});
  doc["layers"][0]["macs"] = half;
  doc["layers"][1]["macs"] = half;
  EXPECT_TRUE(throws_error([&] { parse(doc, "o.json"); }, {"o.json", "overflow"}));
}

// --------------------------------------------------------------------------
// Arithmetic

TEST(CompareRatio, IeeeDivisionOfNonNegativeFigures) {
  EXPECT_DOUBLE_EQ(ratio(3, 2), 1.5);
  EXPECT_DOUBLE_EQ(ratio(0, 5), 0.0);
  EXPECT_EQ(ratio(5, 0), kInf);
  EXPECT_TRUE(std::isnan(ratio(0, 0)));
  EXPECT_EQ(ratio(kInf, 2), kInf);
  EXPECT_DOUBLE_EQ(ratio(2, kInf), 0.0);
  EXPECT_TRUE(std::isnan(ratio(kInf, kInf)));
  EXPECT_TRUE(std::isnan(ratio(std::nan(""), 1)));
}

TEST(CompareMetrics, PotentialsAndSpeedupsAreRatiosOfTheCounts) {
  Totals t;
  t.macs = 10;
  t.work = work_of(1600, 800, 400, 200, 25);
  t.cycles = cycles_of(100, 400, 200, 80);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::potential_zero_skip), 2.0);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::potential_stripes), 4.0);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::potential_pragmatic), 8.0);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::potential_laconic), 64.0);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::speedup_stripes), 0.25);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::speedup_laconic), 1.25);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::speedup_pragmatic), 0.5);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::speedup_laconic_over_stripes), 5.0);
  EXPECT_DOUBLE_EQ(metric_value(t, Metric::speedup_laconic_over_pragmatic), 2.5);
  EXPECT_EQ(metric_count(t, Metric::cycles_pragmatic), 200u);
  EXPECT_EQ(metric_count(t, Metric::work_pragmatic), 200u);
  EXPECT_EQ(metric_count(t, Metric::cycles_stripes), 400u);
  t.work.laconic = 0;
  EXPECT_EQ(metric_value(t, Metric::potential_laconic), kInf);
  EXPECT_THROW(metric_count(t, Metric::speedup_laconic), std::logic_error);
  // Every metric has a distinct name.
  std::set<std::string> names;
  for (Metric m : all_metrics()) names.insert(metric_name(m));
  EXPECT_EQ(names.size(), all_metrics().size());
}

TEST(Compare, MatchesByNameWithLayersInOneReportOnly) {
  // B: conv2 first, conv1 with other counts, fc missing, conv9 new.
  const auto a_layers = three_layers();
  std::vector<LayerSpec> b_layers = {
      {"conv2", "conv", 2, 3000, work_of(768000, 500000, 384000, 80000, 6000), cycles_of(30, 240, 120, 150)},
      {"conv1", "conv", 2, 1000, work_of(256000, 128000, 128000, 40000, 4000), cycles_of(10, 80, 40, 45)},
      {"conv9", "conv", 2, 700, work_of(179200, 89600, 89600, 30000, 2000), cycles_of(7, 56, 28, 21)}};
  const Comparison c = compare_reports(parse(make_report("net", a_layers), "a.json"),
                                       parse(make_report("net", b_layers), "b.json"), {});
  ASSERT_EQ(c.layers.size(), 4u);
  EXPECT_EQ(c.layers[0].label(), "conv1");
  EXPECT_EQ(c.layers[1].label(), "conv2");
  EXPECT_EQ(c.layers[2].label(), "fc");
  EXPECT_EQ(c.layers[3].label(), "conv9");
  EXPECT_EQ(c.layers[0].presence, Presence::both);
  EXPECT_EQ(c.layers[2].presence, Presence::only_a);
  EXPECT_EQ(c.layers[3].presence, Presence::only_b);
  EXPECT_EQ(c.layers_in_both(), 2u);

  EXPECT_DOUBLE_EQ(c.layers[0].ratio_of(Metric::work_laconic), 4000.0 / 5000.0);
  EXPECT_DOUBLE_EQ(c.layers[0].ratio_of(Metric::cycles_laconic), 45.0 / 90.0);
  EXPECT_DOUBLE_EQ(c.layers[1].ratio_of(Metric::work_pragmatic), 80000.0 / 90000.0);
  EXPECT_DOUBLE_EQ(c.layers[1].ratio_of(Metric::macs), 1.0);
  // Potential ratios are ratios of the two potentials: (768000/6000) / (768000/12000).
  EXPECT_DOUBLE_EQ(c.layers[1].ratio_of(Metric::potential_laconic), 2.0);
  EXPECT_DOUBLE_EQ(c.layers[1].ratio_of(Metric::speedup_laconic), (30.0 / 150) / (30.0 / 200));
  EXPECT_TRUE(std::isnan(c.layers[2].ratio_of(Metric::work_laconic)));
  EXPECT_TRUE(std::isnan(c.layers[3].ratio_of(Metric::work_laconic)));

  // Totals: each report's own, and over the layers in both.
  EXPECT_EQ(c.all.a.work.laconic, 20000u);
  EXPECT_EQ(c.all.b.work.laconic, 12000u);
  EXPECT_DOUBLE_EQ(c.all.ratio_of(Metric::work_laconic), 12000.0 / 20000.0);
  EXPECT_EQ(c.conv.a.layers, 2u);
  EXPECT_EQ(c.conv.b.layers, 3u);
  EXPECT_DOUBLE_EQ(c.conv.ratio_of(Metric::cycles_laconic), (150.0 + 45 + 21) / (90.0 + 200));
  EXPECT_EQ(c.common.a.layers, 2u);
  EXPECT_EQ(c.common.a.work.laconic, 17000u);
  EXPECT_EQ(c.common.b.work.laconic, 10000u);
  EXPECT_DOUBLE_EQ(c.common.ratio_of(Metric::work_laconic), 10000.0 / 17000.0);
  EXPECT_DOUBLE_EQ(c.common.ratio_of(Metric::potential_laconic), (1024000.0 / 10000) / (1024000.0 / 17000));

  bool listed = false;
  for (const auto& d : c.differences)
    if (d.field == "layers matched") {
      listed = true;
      EXPECT_EQ(d.a, "1 not in B");
      EXPECT_EQ(d.b, "1 not in A");
    }
  EXPECT_TRUE(listed);
}

TEST(Compare, DifferentNetworksAreRefusedUnlessAllowed) {
  const Report a = parse(make_report("alexnet", three_layers()), "a.json");
  const Report b = parse(make_report("vgg16", three_layers()), "b.json");
  EXPECT_TRUE(throws_error([&] { compare_reports(a, b, {}); },
                           {"a.json", "b.json", "alexnet", "vgg16", "--allow-different-networks"}));
  CompareOptions allow;
  allow.allow_different_networks = true;
  const Comparison c = compare_reports(a, b, allow);
  ASSERT_FALSE(c.differences.empty());
  EXPECT_EQ(c.differences[0].field, "network");
  EXPECT_EQ(c.differences[0].a, "alexnet");
  EXPECT_EQ(c.differences[0].b, "vgg16");
}

TEST(Compare, MatchesByPosition) {
  std::vector<LayerSpec> b_layers = three_layers();
  b_layers[0].name = "first";
  b_layers[1].name = "second";
  b_layers.pop_back();
  CompareOptions by_position;
  by_position.match = MatchBy::position;
  const Comparison c = compare_reports(parse(make_report("net", three_layers())), parse(make_report("net", b_layers)),
                                       by_position);
  ASSERT_EQ(c.layers.size(), 3u);
  EXPECT_EQ(c.layers[0].label(), "conv1 / first");
  EXPECT_EQ(c.layers[1].label(), "conv2 / second");
  EXPECT_DOUBLE_EQ(c.layers[1].ratio_of(Metric::work_laconic), 1.0);
  EXPECT_EQ(c.layers[2].presence, Presence::only_a);
  EXPECT_EQ(c.layers_in_both(), 2u);
  // By name, nothing but fc would match.
  const Comparison by_name = compare_reports(parse(make_report("net", three_layers())), parse(make_report("net", b_layers)), {});
  EXPECT_EQ(by_name.layers_in_both(), 0u);
  EXPECT_EQ(by_name.layers.size(), 5u);
  EXPECT_EQ(by_name.common.a.layers, 0u);
  EXPECT_TRUE(std::isnan(by_name.common.ratio_of(Metric::work_laconic)));
}

TEST(Compare, SaysWhatDiffersInTheConfiguration) {
  const Comparison same = compare_reports(parse(make_report("net", three_layers())), parse(make_report("net", three_layers())), {});
  EXPECT_TRUE(same.differences.empty());
  for (Metric m : all_metrics()) EXPECT_DOUBLE_EQ(same.all.ratio_of(m), 1.0) << metric_name(m);

  json b = make_report("net", three_layers(), "naf", 8);
  b["engine"] = "reference";
  b["config"]["baseline_width"] = 8;
  b["config"]["sample_limit"] = 1;
  for (auto& l : b["layers"]) l["samples"] = 1;
  const Comparison c = compare_reports(parse(make_report("net", three_layers())), parse(b), {});
  std::vector<std::string> fields;
  for (const auto& d : c.differences) fields.push_back(d.field);
  const std::vector<std::string> expected = {"engine",
                                             "encoding",
                                             "preset",
                                             "laconic geometry (T x Rt x Ct x L)",
                                             "baseline width (bits)",
                                             "samples per layer",
                                             "sample limit"};
  EXPECT_EQ(fields, expected);
  EXPECT_EQ(c.differences[2].a, "dnnsim");
  EXPECT_EQ(c.differences[2].b, "custom");
  EXPECT_EQ(c.differences[3].a, "16 x 16 x 16 x 16");
  EXPECT_EQ(c.differences[3].b, "16 x 16 x 16 x 8");
  EXPECT_EQ(c.differences[5].a, "2");
  EXPECT_EQ(c.differences[5].b, "1");
  EXPECT_EQ(c.differences[6].a, "all");
}

// Every accelerator's geometry and every option is named when it differs
// (MODEL.md §8, §9).
TEST(Compare, SaysWhichAcceleratorsSettingsDiffer) {
  json b = make_report("net", three_layers());
  json& acc = b["config"]["accelerators"];
  acc["baseline"]["columns"] = 16;
  acc["stripes"]["rows"] = 8;
  acc["pragmatic"]["tiles"] = 4;
  acc["pragmatic"]["shifter_bits"] = nullptr;
  acc["pragmatic"]["column_registers"] = 0;
  acc["laconic"]["column_registers"] = 2;
  b["config"]["depthwise"] = "per-group";
  b["config"]["fold_first_layer"] = false;
  b["config"]["preset"] = nullptr;
  const Comparison c = compare_reports(parse(make_report("net", three_layers())), parse(b), {});
  std::vector<std::array<std::string, 3>> got;
  for (const auto& d : c.differences) got.push_back({d.field, d.a, d.b});
  const std::vector<std::array<std::string, 3>> expected = {
      {"preset", "dnnsim", "custom"},
      {"baseline geometry (T x Rt x Ct x L)", "16 x 16 x 1 x 16", "16 x 16 x 16 x 16"},
      {"stripes geometry (T x Rt x Ct x L)", "16 x 16 x 16 x 16", "16 x 8 x 16 x 16"},
      {"pragmatic geometry (T x Rt x Ct x L)", "16 x 16 x 16 x 16", "4 x 16 x 16 x 16"},
      {"pragmatic shifter bits B", "2", "inf"},
      {"pragmatic column registers", "1", "0"},
      {"laconic column registers", "0", "2"},
      {"depthwise mapping", "diagonal", "per-group"},
      {"first-layer fold", "on", "off"}};
  EXPECT_EQ(got, expected);
  // The Markdown lists them, both sides in bold; the JSON gives both configurations in full.
  const std::string md = comparison_markdown(c);
  EXPECT_NE(md.find("What differs: preset, baseline geometry (T x Rt x Ct x L), stripes geometry (T x Rt x Ct x L), "
                    "pragmatic geometry (T x Rt x Ct x L), pragmatic shifter bits B, pragmatic column registers, "
                    "laconic column registers, depthwise mapping, first-layer fold."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| pragmatic shifter bits B | **2** | **inf** |"), std::string::npos) << md;
  EXPECT_NE(md.find("| laconic geometry (T x Rt x Ct x L) | 16 x 16 x 16 x 16 | 16 x 16 x 16 x 16 |"), std::string::npos)
      << md;
  const json doc = json::parse(comparison_json(c));
  EXPECT_EQ(doc["schema"], 2);
  EXPECT_EQ(doc["a"]["config"]["preset"], "dnnsim");
  EXPECT_TRUE(doc["b"]["config"]["preset"].is_null());
  EXPECT_TRUE(doc["b"]["config"]["accelerators"]["pragmatic"]["shifter_bits"].is_null());
  EXPECT_EQ(doc["b"]["config"]["accelerators"], b["config"]["accelerators"]);
  EXPECT_EQ(doc["a"]["config"]["depthwise"], "diagonal");
  EXPECT_EQ(doc["b"]["config"]["fold_first_layer"], false);
}

// Splits a CSV row without quoted fields.
std::vector<std::string> fields_of(const std::string& row) {
  std::vector<std::string> out;
  std::stringstream ss(row);
  for (std::string f; std::getline(ss, f, ',');) out.push_back(f);
  if (!row.empty() && row.back() == ',') out.push_back("");
  return out;
}

// The rows of a CSV text, and the index of a column by its header name.
struct Csv {
  explicit Csv(const std::string& text) {
    std::stringstream lines(text);
    for (std::string line; std::getline(lines, line);) rows.push_back(fields_of(line));
  }
  std::size_t column(const std::string& name) const {
    for (std::size_t i = 0; i < rows.at(0).size(); ++i)
      if (rows[0][i] == name) return i;
    ADD_FAILURE() << "no column " << name;
    return 0;
  }
  const std::string& at(std::size_t row, const std::string& name) const { return rows.at(row).at(column(name)); }
  std::vector<std::vector<std::string>> rows;
};

TEST(Compare, ZerosGiveInfAndNotAvailable) {
  // Layer z: no Laconic work in A nor in B; layer y: none in A only.
  std::vector<LayerSpec> a = {{"z", "conv", 1, 10, work_of(2560, 0, 1280, 0, 0), cycles_of(1, 8, 4, 1)},
                              {"y", "conv", 1, 10, work_of(2560, 0, 1280, 0, 0), cycles_of(1, 8, 4, 1)}};
  std::vector<LayerSpec> b = a;
  b[1].work.laconic = 7;
  const Comparison c = compare_reports(parse(make_report("net", a)), parse(make_report("net", b)), {});
  EXPECT_TRUE(std::isnan(c.layers[0].ratio_of(Metric::work_laconic)));
  EXPECT_EQ(c.layers[1].ratio_of(Metric::work_laconic), kInf);
  // Potentials: inf in both (n/a), inf in A against 2560/7 in B (0).
  EXPECT_TRUE(std::isnan(c.layers[0].ratio_of(Metric::potential_laconic)));
  EXPECT_DOUBLE_EQ(c.layers[1].ratio_of(Metric::potential_laconic), 0.0);

  const json doc = json::parse(comparison_json(c));
  EXPECT_TRUE(doc["layers"][0]["ratio"]["work"]["laconic"].is_null());
  EXPECT_TRUE(doc["layers"][1]["ratio"]["work"]["laconic"].is_null());
  EXPECT_TRUE(doc["layers"][0]["a"]["potential"]["laconic"].is_null());
  EXPECT_DOUBLE_EQ(doc["layers"][1]["b"]["potential"]["laconic"].get<double>(), 2560.0 / 7);

  const Csv csv(comparison_csv(c));
  EXPECT_EQ(csv.at(1, "layer"), "z");
  EXPECT_EQ(csv.at(1, "work_laconic_a"), "0");
  EXPECT_EQ(csv.at(1, "work_laconic_ratio"), "nan");
  EXPECT_EQ(csv.at(1, "potential_laconic_a"), "inf");
  EXPECT_EQ(csv.at(1, "potential_laconic_ratio"), "nan");
  EXPECT_EQ(csv.at(2, "work_laconic_b"), "7");
  EXPECT_EQ(csv.at(2, "work_laconic_ratio"), "inf");
  EXPECT_EQ(csv.at(2, "potential_laconic_ratio"), "0");

  const std::string md = comparison_markdown(c);
  EXPECT_NE(md.find("| z | conv | 0 | 0 | n/a | inf | inf |"), std::string::npos) << md;
  EXPECT_NE(md.find("| y | conv | 0 | 7 | inf | inf | 365.71 |"), std::string::npos) << md;
}

TEST(Compare, OutputsCarryTheSameNumbers) {
  const std::uint64_t big = (std::uint64_t(1) << 60) + 3;
  std::vector<LayerSpec> a = three_layers();
  a[0].work.baseline = big;
  std::vector<LayerSpec> b = three_layers();
  b[0].work.baseline = big;
  b[0].work.laconic = 2500;
  b[0].cycles.pragmatic = 20;
  b.pop_back();
  const Comparison c = compare_reports(parse(make_report("net", a), "a.json"), parse(make_report("net", b), "b.json"), {});

  const json doc = json::parse(comparison_json(c));
  EXPECT_EQ(doc["tool"], "laconic");
  EXPECT_EQ(doc["schema"], 2);
  // Pragmatic's cycles and every speedup, on each side and as B / A.
  const json& conv1 = doc["layers"][0];
  EXPECT_EQ(conv1["a"]["cycles"], json::parse(R"({"baseline": 10, "stripes": 80, "pragmatic": 40, "laconic": 90})"));
  EXPECT_EQ(conv1["b"]["cycles"]["pragmatic"], 20);
  EXPECT_DOUBLE_EQ(conv1["ratio"]["cycles"]["pragmatic"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(conv1["a"]["speedup"]["pragmatic"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(conv1["b"]["speedup"]["pragmatic"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(conv1["a"]["speedup"]["laconic_over_stripes"].get<double>(), 80.0 / 90);
  EXPECT_DOUBLE_EQ(conv1["b"]["speedup"]["laconic_over_pragmatic"].get<double>(), 20.0 / 90);
  EXPECT_DOUBLE_EQ(conv1["ratio"]["speedup"]["laconic_over_pragmatic"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(doc["totals"]["all"]["ratio"]["cycles"]["pragmatic"].get<double>(), (20.0 + 120) / (40 + 120 + 32));
  EXPECT_EQ(doc["kind"], "comparison");
  EXPECT_EQ(doc["match"], "name");
  EXPECT_EQ(doc["a"]["path"], "a.json");
  EXPECT_EQ(doc["b"]["config"]["encoding"], "booth");
  ASSERT_EQ(doc["layers"].size(), 3u);
  EXPECT_EQ(doc["layers"][0]["a"]["work"]["baseline"].get<std::uint64_t>(), big);  // exact, not a double
  EXPECT_EQ(doc["layers"][0]["b"]["work"]["laconic"].get<std::uint64_t>(), 2500u);
  EXPECT_DOUBLE_EQ(doc["layers"][0]["ratio"]["work"]["laconic"].get<double>(), 0.5);
  EXPECT_EQ(doc["layers"][2]["in"], "a");
  EXPECT_TRUE(doc["layers"][2]["b"].is_null());
  EXPECT_TRUE(doc["layers"][2]["ratio"].is_null());
  EXPECT_EQ(doc["totals"]["all"]["a"]["layers"], 3);
  EXPECT_EQ(doc["totals"]["common"]["b"]["layers"], 2);
  EXPECT_DOUBLE_EQ(doc["totals"]["conv"]["ratio"]["work"]["laconic"].get<double>(), (2500.0 + 12000) / (5000 + 12000));

  // CSV: one row per layer and three totals, every row as long as the header.
  const Csv csv(comparison_csv(c));
  ASSERT_EQ(csv.rows.size(), 1u + 3 + 3);
  for (const auto& row : csv.rows) EXPECT_EQ(row.size(), csv.rows[0].size());
  EXPECT_EQ(csv.at(1, "layer"), "conv1");
  EXPECT_EQ(csv.at(1, "work_baseline_a"), std::to_string(big));
  EXPECT_EQ(csv.at(1, "work_laconic_ratio"), "0.5");
  EXPECT_EQ(csv.at(3, "in"), "a");
  EXPECT_EQ(csv.at(3, "work_laconic_b"), "");
  EXPECT_EQ(csv.at(3, "work_laconic_ratio"), "");
  EXPECT_EQ(csv.at(4, "row"), "total");
  EXPECT_EQ(csv.at(4, "layer"), "all");
  EXPECT_EQ(csv.at(6, "layer"), "common");
  EXPECT_EQ(csv.at(6, "layers_b"), "2");
  EXPECT_EQ(csv.at(1, "cycles_pragmatic_a"), "40");
  EXPECT_EQ(csv.at(1, "cycles_pragmatic_ratio"), "0.5");
  EXPECT_EQ(csv.at(1, "speedup_pragmatic_b"), "0.5");
  EXPECT_EQ(csv.at(1, "speedup_laconic_over_pragmatic_ratio"), "0.5");

  const std::string md = comparison_markdown(c);
  EXPECT_NE(md.find("What differs: layers"), std::string::npos) << md;
  EXPECT_NE(md.find("| conv1 | conv | 5000 | 2500 | 0.500 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| fc | fc | 3000 | - | - |"), std::string::npos) << md;
  EXPECT_NE(md.find("| conv1 | 10 | 10 | 1.000 | 80 | 80 | 1.000 | 40 | 20 | 0.500 | 90 | 90 | 1.000 |"),
            std::string::npos)
      << md;
  // Speedups as laconic profile prints them (speedup_text).
  EXPECT_NE(md.find("| 0.25 | 0.5 | 0.111 | 0.111 | 0.889 | 0.889 | 0.444 | 0.222 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| A Pragmatic cycles | B Pragmatic cycles | B / A |"), std::string::npos) << md;
  EXPECT_NE(md.find("| A Laconic over Pragmatic (x) | B Laconic over Pragmatic (x) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| fc | 8 | - | - | 64 | - | - | 32 | - | - | 50 | - | - |"), std::string::npos) << md;
  EXPECT_NE(md.find("| Pragmatic cycles | 192 | 140 | 0.729 |"), std::string::npos) << md;
  EXPECT_NE(md.find("layers in both"), std::string::npos) << md;
}

// --------------------------------------------------------------------------
// The command

// The built CLI, run as a user runs it (tests/cli_util.hpp).
using CommandRun = test::CliResult;
using test::contains;
inline CommandRun run_laconic(const std::vector<std::string>& args, const TempDir& scratch) {
  return test::run_cli(args, scratch);
}

class CompareCli : public testing::Test {
 protected:
  // Reports of the bundled tiny network under booth and naf, and under the
  // equal preset, made once on the cpu engine.
  static void SetUpTestSuite() {
    data_ = new TempDir;
    const std::string manifest = test::source_dir() + "/datasets/tiny/manifest.json";
    const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
        {"booth", {"--encoding", "booth"}}, {"naf", {"--encoding", "naf"}}, {"equal", {"--preset", "equal"}}};
    for (const auto& [name, options] : runs) {
      std::vector<std::string> args = {"profile", manifest, "--engine", "cpu", "-q", "--json", data_->file(name + ".json")};
      args.insert(args.end(), options.begin(), options.end());
      const CommandRun r = run_laconic(args, *data_);
      ASSERT_EQ(r.status, 0) << r.describe();
    }
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  std::string report(const std::string& name) const { return data_->file(name + ".json"); }
  CommandRun compare(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"compare"};
    full.insert(full.end(), args.begin(), args.end());
    return run_laconic(full, scratch_);
  }
  static TempDir* data_;
  TempDir scratch_;
};
TempDir* CompareCli::data_ = nullptr;

TEST_F(CompareCli, HelpExplainsTheOptions) {
  const CommandRun r = compare({"--help"});
  EXPECT_EQ(r.status, 0) << r.describe();
  for (const std::string phrase : {"A.json B.json", "--match", "--allow-different-networks", "--json", "--csv", "B / A",
                                   "Exit status"})
    EXPECT_TRUE(contains(r.out, phrase)) << phrase << r.describe();
  const CommandRun main_help = run_laconic({"--help"}, scratch_);
  EXPECT_TRUE(contains(main_help.out, "laconic compare")) << main_help.describe();
}

TEST_F(CompareCli, UsageErrorsExitWithStatus2) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {report("booth")},
      {report("booth"), report("naf"), report("naf")},
      {report("booth"), report("naf"), "--match", "size"},
      {report("booth"), report("naf"), "--frobnicate"},
  };
  for (const auto& args : cases) {
    const CommandRun r = compare(args);
    EXPECT_EQ(r.status, 2) << r.describe();
    EXPECT_FALSE(r.err.empty()) << r.describe();
    EXPECT_TRUE(r.out.empty()) << r.describe();
  }
}

TEST_F(CompareCli, BadReportsExitWithStatus1NamingTheFile) {
  const std::string missing = scratch_.file("missing.json");
  const CommandRun r1 = compare({report("booth"), missing});
  EXPECT_EQ(r1.status, 1) << r1.describe();
  EXPECT_TRUE(contains(r1.err, missing)) << r1.describe();

  const std::string markdown = scratch_.file("report.md");
  write_bytes(markdown, "# laconic profile: tiny\n");
  const CommandRun r2 = compare({markdown, report("naf")});
  EXPECT_EQ(r2.status, 1) << r2.describe();
  EXPECT_TRUE(contains(r2.err, markdown) && contains(r2.err, "not a laconic profile report")) << r2.describe();

  json damaged = json::parse(read_text(report("naf")));
  damaged["layers"][0]["cycles"].erase("laconic");
  const std::string damaged_path = scratch_.file("damaged.json");
  write_bytes(damaged_path, damaged.dump());
  const CommandRun r3 = compare({report("booth"), damaged_path});
  EXPECT_EQ(r3.status, 1) << r3.describe();
  EXPECT_TRUE(contains(r3.err, "layers[0].cycles.laconic is missing")) << r3.describe();

  // A report of laconic 0.1 (no "schema", one geometry, no Pragmatic cycles).
  json old = json::parse(read_text(report("naf")));
  old.erase("schema");
  old["version"] = "0.1.0";
  const std::string old_path = scratch_.file("old.json");
  write_bytes(old_path, old.dump());
  const CommandRun r4 = compare({old_path, report("naf"), "--json", scratch_.file("c.json")});
  EXPECT_EQ(r4.status, 1) << r4.describe();
  EXPECT_TRUE(contains(r4.err, old_path + ": a report of laconic 0.1.0 (report schema 1") &&
              contains(r4.err, "re-run laconic profile --json"))
      << r4.describe();
  EXPECT_TRUE(r4.out.empty()) << r4.describe();
  EXPECT_FALSE(fs::exists(scratch_.file("c.json")));
}

TEST_F(CompareCli, DifferentNetworksNeedTheOption) {
  json other = json::parse(read_text(report("naf")));
  other["network"] = "another-net";
  const std::string other_path = scratch_.file("other.json");
  write_bytes(other_path, other.dump());
  const std::string json_out = scratch_.file("c.json");
  const CommandRun refused = compare({report("booth"), other_path, "--json", json_out});
  EXPECT_EQ(refused.status, 1) << refused.describe();
  EXPECT_TRUE(contains(refused.err, "--allow-different-networks") && contains(refused.err, "another-net"))
      << refused.describe();
  EXPECT_FALSE(fs::exists(json_out));
  const CommandRun allowed = compare({report("booth"), other_path, "--allow-different-networks", "--json", json_out});
  EXPECT_EQ(allowed.status, 0) << allowed.describe();
  EXPECT_TRUE(contains(allowed.out, "vs another-net")) << allowed.describe();
  EXPECT_TRUE(fs::exists(json_out));
}

TEST_F(CompareCli, RatiosOfTwoEncodingsAreThoseOfTheReports) {
  const std::string json_out = scratch_.file("c.json"), csv_out = scratch_.file("c.csv");
  const CommandRun r = compare({report("booth"), report("naf"), "--json", json_out, "--csv", csv_out});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "What differs: encoding.")) << r.describe();
  EXPECT_TRUE(r.err.empty()) << r.describe();

  const json a = json::parse(read_text(report("booth")));
  const json b = json::parse(read_text(report("naf")));
  const json c = json::parse(read_text(json_out));
  ASSERT_EQ(c["layers"].size(), a["layers"].size());
  for (std::size_t i = 0; i < a["layers"].size(); ++i) {
    const json& row = c["layers"][i];
    EXPECT_EQ(row["name"], a["layers"][i]["name"]);
    EXPECT_EQ(row["a"]["cycles"], a["layers"][i]["cycles"]);
    EXPECT_EQ(row["b"]["work"], b["layers"][i]["work"]);
    const double expected = b["layers"][i]["work"]["laconic"].get<double>() / a["layers"][i]["work"]["laconic"].get<double>();
    EXPECT_DOUBLE_EQ(row["ratio"]["work"]["laconic"].get<double>(), expected) << row["name"];
  }
  for (const char* which : {"all", "conv"}) {
    EXPECT_EQ(c["totals"][which]["a"]["work"], a["totals"][which]["work"]);
    const double expected = b["totals"][which]["cycles"]["laconic"].get<double>() /
                            a["totals"][which]["cycles"]["laconic"].get<double>();
    EXPECT_DOUBLE_EQ(c["totals"][which]["ratio"]["cycles"]["laconic"].get<double>(), expected);
  }
  EXPECT_TRUE(contains(read_text(csv_out), "total,all,both,"));
  for (std::size_t i = 0; i < a["layers"].size(); ++i) {
    const json& row = c["layers"][i];
    const double expected = b["layers"][i]["cycles"]["pragmatic"].get<double>() / a["layers"][i]["cycles"]["pragmatic"].get<double>();
    EXPECT_DOUBLE_EQ(row["ratio"]["cycles"]["pragmatic"].get<double>(), expected) << row["name"];
  }

  // A report against itself: every ratio 1, and the same bytes each time.
  const CommandRun self = compare({report("booth"), report("booth"), "--json", json_out});
  ASSERT_EQ(self.status, 0) << self.describe();
  EXPECT_TRUE(contains(self.out, "The two configurations are the same.")) << self.describe();
  const std::string first = read_text(json_out);
  // Named: a range-for over a member of a temporary reads freed memory (ASan).
  const json self_doc = json::parse(first);
  for (const auto& row : self_doc["layers"]) EXPECT_EQ(row["ratio"]["cycles"]["laconic"], 1.0);
  EXPECT_EQ(compare({report("booth"), report("booth"), "--json", json_out}).status, 0);
  EXPECT_EQ(read_text(json_out), first);
}

// The two presets of MODEL.md §8 side by side: what differs is said, and the
// baseline's cycles change with its geometry.
TEST_F(CompareCli, TwoPresets) {
  const std::string json_out = scratch_.file("c.json");
  const CommandRun r = compare({report("equal"), report("booth"), "--json", json_out});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "What differs: preset, baseline geometry (T x Rt x Ct x L), pragmatic column registers, "
                              "depthwise mapping, first-layer fold."))
      << r.describe();
  EXPECT_TRUE(contains(r.out, "| baseline geometry (T x Rt x Ct x L) | **16 x 16 x 16 x 16** | **16 x 16 x 1 x 16** |"))
      << r.describe();
  const json c = json::parse(read_text(json_out));
  EXPECT_EQ(c["a"]["config"]["preset"], "equal");
  EXPECT_EQ(c["b"]["config"]["preset"], "dnnsim");
  // One column per window set instead of sixteen: more baseline cycles, none fewer.
  for (const json& row : c["layers"]) {
    EXPECT_GE(row["b"]["cycles"]["baseline"].get<std::uint64_t>(), row["a"]["cycles"]["baseline"].get<std::uint64_t>())
        << row["name"];
    EXPECT_GT(row["b"]["cycles"]["pragmatic"].get<std::uint64_t>(), 0u) << row["name"];
  }
}

TEST_F(CompareCli, OutputInAMissingDirectoryFailsFirst) {
  const CommandRun r = compare({report("booth"), report("naf"), "--csv", scratch_.file("no/such/dir/c.csv")});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "--csv")) << r.describe();
  EXPECT_TRUE(r.out.empty()) << r.describe();
}

}  // namespace
}  // namespace laconic
