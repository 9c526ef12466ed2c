// Comparing two JSON reports of `laconic profile` (README "Comparing runs"):
// two encodings, two geometries or two networks side by side, per layer and
// in total, with ratios B / A. Counts stay the exact integers of the reports;
// only the ratios and the potential speedups derived from them are decimals.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/results.hpp"

namespace laconic {

// The fields of a JSON report that a comparison reads back. Other fields
// (term statistics, per_sample lists) are ignored.
struct ReportConfig {
  // The accelerators' settings, encoding and baseline width, as the report's
  // "config" gives them (its "preset" is checked against them).
  ProfileConfig settings;
  std::optional<std::uint64_t> sample_limit;  // null in the report: every sample
  std::string source;
  std::string precision_profile;  // null in the report: none
};

struct ReportLayer {
  std::string name;
  std::string type;  // "conv" or "fc"
  std::uint64_t samples = 0;
  Totals counts;  // layers = 1
};

struct Report {
  std::string path;  // where it was read from; named in every message
  int schema = 0;    // the report's "schema" (kReportSchema: compare reads no other)
  std::string version, network, engine;
  ReportConfig config;
  std::vector<ReportLayer> layers;
  Totals all, conv;  // the report's totals, checked against its layers
};

// Parses a JSON report of schema kReportSchema (report.hpp). Throws
// laconic::Error naming `path` and the problem: not JSON, not a laconic
// profile report, a report of another schema (laconic 0.1's, without a
// "schema" field: re-run laconic profile), a missing or mistyped field (named
// by its JSON path, e.g. layers[3].work.laconic), settings that are not valid
// or not those of the preset the report names, a duplicate layer name, or
// totals that are not the sums of the layers.
Report parse_report(const std::string& text, const std::string& path);
Report read_report(const std::string& path);  // reads the file, then parse_report

// The figures compared, in the order the outputs list them. Counts are the
// report's integers; potentials (baseline work / work) and speedups
// (baseline cycles / cycles) are derived from them as the profile does (§4,
// §5, §8); Laconic over Stripes is Stripes cycles / Laconic cycles, over
// Pragmatic likewise.
enum class Metric {
  macs,
  work_baseline, work_zero_skip, work_stripes, work_pragmatic, work_laconic,
  potential_zero_skip, potential_stripes, potential_pragmatic, potential_laconic,
  cycles_baseline, cycles_stripes, cycles_pragmatic, cycles_laconic,
  speedup_stripes, speedup_pragmatic, speedup_laconic,
  speedup_laconic_over_stripes, speedup_laconic_over_pragmatic,
};
const std::vector<Metric>& all_metrics();
const char* metric_name(Metric m);   // CSV column stem, e.g. "work_laconic"
const char* metric_label(Metric m);  // for people, e.g. "Laconic work"
bool metric_is_count(Metric m);
std::uint64_t metric_count(const Totals& t, Metric m);  // count metrics only
double metric_value(const Totals& t, Metric m);         // any metric; +inf for x/0 as speedup() gives

// b / a for non-negative a, b: +inf when only a is 0, NaN (printed n/a, JSON
// null) when both are 0 or both infinite, as IEEE division gives.
double ratio(double b, double a);

enum class Presence { both, only_a, only_b };
enum class MatchBy { name, position };

// One row: a layer (or a total) of A beside its match in B.
struct ComparedRow {
  std::string name_a, name_b;  // empty on the side it is missing from
  std::string type_a, type_b;
  Presence presence = Presence::both;
  std::uint64_t samples_a = 0, samples_b = 0;  // 0 for totals
  Totals a, b;                                 // zero on a missing side
  std::string label() const;  // the name, or "nameA / nameB" when they differ
  // B / A of a metric; NaN unless the row is in both.
  double ratio_of(Metric m) const;
};

// One way the two reports' configurations differ ("encoding", "booth", "naf";
// "laconic geometry (T x Rt x Ct x L)", "16 x 16 x 16 x 16", "16 x 16 x 8 x 16").
struct ConfigDifference {
  std::string field, a, b;
};

struct CompareOptions {
  MatchBy match = MatchBy::name;
  bool allow_different_networks = false;
};

struct Comparison {
  Report a, b;
  MatchBy match = MatchBy::name;
  std::vector<ConfigDifference> differences;
  // Matched by name: A's layers in order, then those only in B in B's order.
  // By position: A's i-th layer beside B's i-th; the longer report's extra
  // layers are rows of their own.
  std::vector<ComparedRow> layers;
  ComparedRow all, conv;  // each report's own totals
  ComparedRow common;     // sums over the layers present in both
  std::size_t layers_in_both() const;
};

// Throws laconic::Error when the networks differ and that is not allowed,
// naming both files and networks and the option that allows it.
Comparison compare_reports(const Report& a, const Report& b, const CompareOptions& options);

std::string comparison_markdown(const Comparison& c);
std::string comparison_json(const Comparison& c);
std::string comparison_csv(const Comparison& c);

}  // namespace laconic
