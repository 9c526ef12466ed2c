// Reports of a profile: Markdown for people, CSV and JSON for programs.
// Counts are printed as the integers they are; ratios as decimals, `inf`
// (JSON null) where the divisor is 0 (MODEL.md §4). Every report states each
// accelerator's geometry and options (MODEL.md §8, §9).
#pragma once

#include <string>

#include "laconic/config.hpp"
#include "laconic/file_io.hpp"
#include "laconic/profile.hpp"

namespace laconic {

// The layout version of the JSON report, its "schema" field (README "JSON
// report"): 1 was laconic 0.1 (no "schema" field, one geometry, no Pragmatic
// cycles); 2 gives each accelerator's configuration and Pragmatic cycles.
inline constexpr int kReportSchema = 2;

std::string markdown_report(const NetworkResult& result);

// One row per layer; with `per_sample`, also one row per layer and sample.
// Every row ends with the run's configuration (README "CSV report").
std::string csv_report(const NetworkResult& result, bool per_sample);

// The JSON document described in the README ("JSON report").
std::string json_report(const NetworkResult& result, bool per_sample);

// Writes the reports a run asked for, as `laconic profile` and `merge` do:
// the JSON and CSV reports to their files (both or neither, atomically;
// an empty path: not asked for); a path of "-" sends that report to stdout
// in place of the Markdown report, which otherwise goes to stdout.
void write_reports(const NetworkResult& result, bool per_sample, const std::string& json_path,
                   const std::string& csv_path);

// Checks that `path` can be written (its directory exists and is writable)
// before a long run starts; throws laconic::Error if not.
void check_writable(const std::string& path, const std::string& option);

std::string version_string();

// Text for people, shared by the profile and compare reports.
// Any text (a layer name from a file, a path) as one Markdown table cell or
// line: '|' and '\' escaped with '\', line breaks and other control
// characters written out as \n, \r, \t or \xHH, so that no name can end a
// row or a table.
std::string markdown_text(const std::string& text);
// Any text as one CSV field (RFC 4180): quoted, with '"' doubled, when it
// holds a comma, a quote, a line feed or a carriage return.
std::string csv_field(const std::string& text);
// A speedup or potential as the Markdown report and scripts/plot_profile.py
// both print it, so that a table and its figure agree: `inf` where the
// divisor was 0, three significant digits below 1 (0.125, 0.0567), two
// decimals from 1 on (1.37, 65.69).
std::string speedup_text(double v);
// A report's `engine`: the engines that computed its numbers, each named
// once, sorted, joined by '+' ("cpu+reference"). Each of `names` may itself
// be such a join (the engine of a partial report, of an MPI run).
std::string joined_engines(const std::vector<std::string>& names);
// "16 tiles × 16 rows × 1 column × 16 lanes".
std::string geometry_text(const Geometry& geometry);
// What the accelerator computes and its options (§8, §9): e.g. for Pragmatic
// "term-serial activations (booth terms), first-stage shifter B = 2,
// 1 column register".
std::string accelerator_options_text(const ProfileConfig& config, Accelerator accelerator);
// "preset `dnnsim` (...)", "preset `equal` (...)" or "a custom configuration (...)".
std::string preset_text(const ProfileConfig& config);
// "Baseline: bit-parallel (DaDianNao-like), 16 tiles × ... × 16 lanes, 16-bit operands."
std::string baseline_line(const ProfileConfig& config);

}  // namespace laconic
