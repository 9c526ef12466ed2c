#include "laconic/report.hpp"

#include <algorithm>
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "laconic/error.hpp"
#include "laconic/run_config.hpp"
#include "report_json.hpp"

#ifndef LACONIC_VERSION
#define LACONIC_VERSION "unknown"
#endif

namespace laconic {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

std::string version_string() { return LACONIC_VERSION; }

namespace {

std::string fixed(double v, int decimals) {
  if (std::isinf(v)) return "inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Ratios in CSV: enough digits to recompute nothing, `inf` for x/0.
std::string ratio_text(double v) {
  if (std::isinf(v)) return "inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string percent(double fraction) { return fixed(100.0 * fraction, 1); }

}  // namespace

std::string markdown_text(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '|' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string joined_engines(const std::vector<std::string>& names) {
  std::vector<std::string> each;
  for (const std::string& joined : names) {
    std::size_t from = 0;
    for (;;) {
      const std::size_t plus = joined.find('+', from);
      const std::string name = joined.substr(from, plus == std::string::npos ? std::string::npos : plus - from);
      if (!name.empty() && std::find(each.begin(), each.end(), name) == each.end()) each.push_back(name);
      if (plus == std::string::npos) break;
      from = plus + 1;
    }
  }
  std::sort(each.begin(), each.end());
  std::string out;
  for (const std::string& name : each) out += (out.empty() ? "" : "+") + name;
  return out;
}

std::string speedup_text(double v) {
  if (std::isinf(v)) return "inf";
  char buf[64];
  if (v < 1) std::snprintf(buf, sizeof buf, "%.3g", v);
  else std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

namespace {

// Histogram length for a tensor: every term count its width allows (§3),
// longer only if a value needed more (it cannot, for valid traces).
std::size_t histogram_length(const TermStats& stats, Encoding encoding, const Precision& precision) {
  const int bound = max_terms(encoding, precision.bits);
  return static_cast<std::size_t>(std::max(bound, stats.max_terms_seen())) + 1;
}


struct MarkdownTable {
  std::vector<std::string> header;
  std::vector<bool> right;  // numeric columns align right
  std::vector<std::vector<std::string>> rows;
  std::string render() const {
    std::ostringstream out;
    out << "|";
    for (const auto& h : header) out << " " << h << " |";
    out << "\n|";
    for (std::size_t i = 0; i < header.size(); ++i) out << (right[i] ? " ---: |" : " --- |");
    out << "\n";
    for (const auto& row : rows) {
      out << "|";
      for (const auto& cell : row) out << " " << cell << " |";
      out << "\n";
    }
    return out.str();
  }
};

std::string samples_text(const NetworkResult& r) {
  std::uint64_t lo = UINT64_MAX, hi = 0;
  for (const auto& l : r.layers) {
    lo = std::min<std::uint64_t>(lo, l.result.samples());
    hi = std::max<std::uint64_t>(hi, l.result.samples());
  }
  if (r.layers.empty()) return "0 samples";
  return lo == hi ? std::to_string(lo) + " sample(s) per layer"
                  : std::to_string(lo) + " to " + std::to_string(hi) + " samples per layer";
}

}  // namespace

std::string geometry_text(const Geometry& g) {
  auto n = [](std::int64_t v, const char* one, const char* many) {
    return std::to_string(v) + " " + (v == 1 ? one : many);
  };
  return n(g.tiles, "tile", "tiles") + " × " + n(g.rows, "row", "rows") + " × " + n(g.columns, "column", "columns") +
         " × " + n(g.lanes, "lane", "lanes");
}

namespace {

std::string registers_text(int r) {
  if (r == 0) return "no column registers (lockstep)";
  return std::to_string(r) + (r == 1 ? " column register" : " column registers");
}

}  // namespace

std::string accelerator_options_text(const ProfileConfig& c, Accelerator a) {
  const std::string encoding(to_string(c.encoding));
  switch (a) {
    case Accelerator::baseline:
      return "bit-parallel (DaDianNao-like), " + std::to_string(c.baseline_width) + "-bit operands";
    case Accelerator::stripes: return "bit-serial activations at each layer's activation width";
    case Accelerator::pragmatic:
      return "term-serial activations (" + encoding + " terms), first-stage shifter B = " +
             shifter_bits_text(c.shifter_bits) + ", " + registers_text(c.registers(a));
    case Accelerator::laconic:
      return "terms of both operands (" + encoding + "), " + registers_text(c.registers(a));
  }
  return "";
}

std::string preset_text(const ProfileConfig& c) {
  const auto p = c.matching_preset();
  if (!p) return "a custom configuration (no preset matches every accelerator's settings)";
  if (*p == Preset::dnnsim) return "preset `dnnsim` (each accelerator at its own geometry, as DNNsim compares them)";
  return "preset `equal` (every accelerator at one geometry)";
}

std::string baseline_line(const ProfileConfig& c) {
  return "Baseline: bit-parallel (DaDianNao-like), " + geometry_text(c.geometry(Accelerator::baseline)) + ", " +
         std::to_string(c.baseline_width) + "-bit operands.";
}

std::string markdown_report(const NetworkResult& r) {
  const ProfileConfig& config = r.config;
  std::ostringstream out;
  out << "# laconic profile: " << markdown_text(r.network) << "\n\n";
  out << "Engine `" << r.engine << "`, encoding `" << to_string(config.encoding) << "`, " << samples_text(r) << ".";
  if (!r.source.empty()) out << " Traces: " << markdown_text(r.source) << ".";
  if (!r.precision_profile.empty()) out << " Precisions: " << markdown_text(r.precision_profile) << ".";
  out << "\n\n";

  // The accelerators (§8, §9).
  out << baseline_line(config) << " Speedups are baseline cycles / cycles.\n\nAccelerators: " << preset_text(config)
      << ".\n\n";
  MarkdownTable accelerators;
  accelerators.header = {"accelerator", "tiles T", "rows Rt", "columns Ct", "lanes L", "options"};
  accelerators.right = {false, true, true, true, true, false};
  for (Accelerator a : kAccelerators) {
    const Geometry& g = config.geometry(a);
    accelerators.rows.push_back({std::string(to_string(a)), std::to_string(g.tiles), std::to_string(g.rows),
                                 std::to_string(g.columns), std::to_string(g.lanes),
                                 accelerator_options_text(config, a)});
  }
  out << accelerators.render() << "\nDepthwise layers: `" << to_string(config.depthwise)
      << "` mapping; first-layer fold: " << (config.fold_first_layer ? "on" : "off") << " (MODEL.md §8).\n\n";

  const Totals conv = r.totals_conv(), all = r.totals_all();
  auto totals_label = [](const char* what, const Totals& t) {
    return std::string("**") + what + "** (" + std::to_string(t.layers) + ")";
  };

  // Work and potential speedups (§4).
  MarkdownTable work;
  work.header = {"layer", "type", "samples", "MACs", "baseline", "zero_skip", "stripes", "pragmatic", "laconic",
                 "zero_skip x", "stripes x", "pragmatic x", "laconic x"};
  work.right = {false, false, true, true, true, true, true, true, true, true, true, true, true};
  auto work_row = [&](const std::string& name, const std::string& type, const std::string& samples,
                      std::uint64_t macs, const Work& w) {
    return std::vector<std::string>{
        name, type, samples, std::to_string(macs), std::to_string(w.baseline), std::to_string(w.zero_skip),
        std::to_string(w.stripes), std::to_string(w.pragmatic), std::to_string(w.laconic),
        speedup_text(speedup(w.baseline, w.zero_skip)), speedup_text(speedup(w.baseline, w.stripes)),
        speedup_text(speedup(w.baseline, w.pragmatic)), speedup_text(speedup(w.baseline, w.laconic))};
  };
  for (const auto& l : r.layers)
    work.rows.push_back(work_row(markdown_text(l.result.name), std::string(to_string(l.result.type)),
                                 std::to_string(l.result.samples()), l.result.macs(), l.result.work()));
  work.rows.push_back(work_row(totals_label("conv layers", conv), "", "", conv.macs, conv.work));
  work.rows.push_back(work_row(totals_label("all layers", all), "", "", all.macs, all.work));
  out << "## Work and potential speedup over the bit-parallel baseline\n\n"
      << "Work in single-bit products (MODEL.md §4); `x` columns are baseline / work, ratios of sums.\n\n"
      << work.render() << "\n";

  // Terms (§3, §4).
  MarkdownTable terms_table;
  terms_table.header = {"layer", "activation precision", "act mean terms", "act zeros %", "act max terms",
                        "weight precision", "wgt mean terms", "wgt zeros %", "wgt max terms"};
  terms_table.right = {false, false, true, true, true, false, true, true, true};
  for (const auto& l : r.layers) {
    const auto& a = l.result.activation_terms;
    const auto& w = l.result.weight_terms;
    terms_table.rows.push_back({markdown_text(l.result.name), l.activation_quantization, fixed(a.mean(), 3),
                                percent(a.zero_fraction()), std::to_string(a.max_terms_seen()),
                                l.weight_quantization, fixed(w.mean(), 3), percent(w.zero_fraction()),
                                std::to_string(w.max_terms_seen())});
  }
  out << "## Terms per value (`" << to_string(config.encoding) << "` encoding)\n\n" << terms_table.render() << "\n";

  // Cycles (§5, §8, §9).
  MarkdownTable cycles;
  cycles.header = {"layer",        "baseline cycles",     "stripes cycles",         "pragmatic cycles",
                   "laconic cycles", "laconic cycles / sample", "stripes x",         "pragmatic x",
                   "laconic x",    "laconic over stripes x", "laconic over pragmatic x"};
  cycles.right = {false, true, true, true, true, true, true, true, true, true, true};
  auto cycles_row = [&](const std::string& name, const Cycles& c, std::uint64_t samples) {
    const double per_sample = samples == 0 ? 0.0 : static_cast<double>(c.laconic) / static_cast<double>(samples);
    return std::vector<std::string>{name,
                                    std::to_string(c.baseline),
                                    std::to_string(c.stripes),
                                    std::to_string(c.pragmatic),
                                    std::to_string(c.laconic),
                                    fixed(per_sample, 1),
                                    speedup_text(speedup(c.baseline, c.stripes)),
                                    speedup_text(speedup(c.baseline, c.pragmatic)),
                                    speedup_text(speedup(c.baseline, c.laconic)),
                                    speedup_text(speedup(c.stripes, c.laconic)),
                                    speedup_text(speedup(c.pragmatic, c.laconic))};
  };
  for (const auto& l : r.layers)
    cycles.rows.push_back(cycles_row(markdown_text(l.result.name), l.result.cycles(), l.result.samples()));
  // Per-sample means of the totals only make sense when every layer saw the
  // same samples; otherwise the column stays empty.
  auto same_samples = [&](bool conv_only) -> std::uint64_t {
    std::uint64_t n = 0;
    for (const auto& l : r.layers) {
      if (conv_only && l.result.type != LayerType::conv) continue;
      if (n == 0) n = l.result.samples();
      else if (n != l.result.samples()) return 0;
    }
    return n;
  };
  auto totals_cycles_row = [&](const char* what, const Totals& t, bool conv_only) {
    auto row = cycles_row(totals_label(what, t), t.cycles, same_samples(conv_only));
    if (same_samples(conv_only) == 0) row[5] = "";
    return row;
  };
  cycles.rows.push_back(totals_cycles_row("conv layers", conv, true));
  cycles.rows.push_back(totals_cycles_row("all layers", all, false));
  out << "## Cycles (MODEL.md §5, §8, §9)\n\n"
      << "Each accelerator at its own geometry (above). `x` columns are speedups, ratios of sums: baseline cycles / "
         "cycles; `laconic over stripes` is Stripes cycles / Laconic cycles, `laconic over pragmatic` Pragmatic "
         "cycles / Laconic cycles.\n\n"
      << cycles.render();
  return out.str();
}

namespace {

// The run's configuration as the CSV's last columns (README "CSV report").
const char* const kCsvConfigHeader =
    "preset,encoding,baseline_width,"
    "baseline_tiles,baseline_rows,baseline_columns,baseline_lanes,"
    "stripes_tiles,stripes_rows,stripes_columns,stripes_lanes,"
    "pragmatic_tiles,pragmatic_rows,pragmatic_columns,pragmatic_lanes,pragmatic_column_registers,"
    "pragmatic_shifter_bits,"
    "laconic_tiles,laconic_rows,laconic_columns,laconic_lanes,laconic_column_registers,"
    "depthwise,fold_first_layer,precision_profile";

std::string csv_config_fields(const ProfileConfig& c) {
  std::ostringstream row;
  const auto preset = c.matching_preset();
  row << (preset ? std::string(to_string(*preset)) : std::string()) << "," << to_string(c.encoding) << ","
      << c.baseline_width;
  for (Accelerator a : kAccelerators) {
    const Geometry& g = c.geometry(a);
    row << "," << g.tiles << "," << g.rows << "," << g.columns << "," << g.lanes;
    if (a == Accelerator::pragmatic) row << "," << c.registers(a) << "," << shifter_bits_text(c.shifter_bits);
    if (a == Accelerator::laconic) row << "," << c.registers(a);
  }
  row << "," << to_string(c.depthwise) << "," << (c.fold_first_layer ? "true" : "false");
  return row.str();
}

}  // namespace

std::string csv_report(const NetworkResult& r, bool per_sample) {
  std::ostringstream out;
  out << "network,layer,type,row,sample,samples,macs,"
         "work_baseline,work_zero_skip,work_stripes,work_pragmatic,work_laconic,"
         "potential_zero_skip,potential_stripes,potential_pragmatic,potential_laconic,"
         "cycles_baseline,cycles_stripes,cycles_pragmatic,cycles_laconic,"
         "speedup_stripes,speedup_pragmatic,speedup_laconic,"
         "speedup_laconic_over_stripes,speedup_laconic_over_pragmatic,"
         "activation_bits,weight_bits,activation_mean_terms,activation_zero_fraction,"
         "weight_mean_terms,weight_zero_fraction,"
      << kCsvConfigHeader << "\n";
  const std::string config = csv_config_fields(r.config) + "," + csv_field(r.precision_profile);
  auto counts = [&](std::uint64_t macs, const Work& w, const Cycles& c) {
    std::ostringstream row;
    row << macs << "," << w.baseline << "," << w.zero_skip << "," << w.stripes << "," << w.pragmatic << ","
        << w.laconic << "," << ratio_text(speedup(w.baseline, w.zero_skip)) << ","
        << ratio_text(speedup(w.baseline, w.stripes)) << "," << ratio_text(speedup(w.baseline, w.pragmatic)) << ","
        << ratio_text(speedup(w.baseline, w.laconic)) << "," << c.baseline << "," << c.stripes << "," << c.pragmatic
        << "," << c.laconic << "," << ratio_text(speedup(c.baseline, c.stripes)) << ","
        << ratio_text(speedup(c.baseline, c.pragmatic)) << "," << ratio_text(speedup(c.baseline, c.laconic)) << ","
        << ratio_text(speedup(c.stripes, c.laconic)) << "," << ratio_text(speedup(c.pragmatic, c.laconic));
    return row.str();
  };
  for (const auto& l : r.layers) {
    const LayerResult& res = l.result;
    const std::string prefix = csv_field(r.network) + "," + csv_field(res.name) + "," + std::string(to_string(res.type));
    out << prefix << ",layer,," << res.samples() << "," << counts(res.macs(), res.work(), res.cycles()) << ","
        << l.activation_precision.bits << "," << l.weight_precision.bits << ","
        << ratio_text(res.activation_terms.mean()) << "," << ratio_text(res.activation_terms.zero_fraction()) << ","
        << ratio_text(res.weight_terms.mean()) << "," << ratio_text(res.weight_terms.zero_fraction()) << ","
        << config << "\n";
    if (per_sample)
      for (const auto& s : res.per_sample)
        out << prefix << ",sample," << s.sample << ",1," << counts(s.macs, s.work, s.cycles) << ","
            << l.activation_precision.bits << "," << l.weight_precision.bits << ",,,,," << config << "\n";
  }
  return out.str();
}

ordered_json settings_json(const ProfileConfig& c) {
  const auto preset = c.matching_preset();
  ordered_json accelerators;
  for (Accelerator a : kAccelerators) {
    const Geometry& g = c.geometry(a);
    ordered_json entry{{"tiles", g.tiles}, {"rows", g.rows}, {"columns", g.columns}, {"lanes", g.lanes}};
    if (a == Accelerator::pragmatic || a == Accelerator::laconic) entry["column_registers"] = c.registers(a);
    if (a == Accelerator::pragmatic)
      entry["shifter_bits"] = c.shifter_bits == kShifterUnbounded ? ordered_json(nullptr) : ordered_json(c.shifter_bits);
    accelerators[std::string(to_string(a))] = std::move(entry);
  }
  return ordered_json{{"preset", preset ? ordered_json(std::string(to_string(*preset))) : ordered_json(nullptr)},
                      {"encoding", std::string(to_string(c.encoding))},
                      {"baseline_width", c.baseline_width},
                      {"accelerators", std::move(accelerators)},
                      {"depthwise", std::string(to_string(c.depthwise))},
                      {"fold_first_layer", c.fold_first_layer}};
}

namespace {

ordered_json work_json(const Work& w) {
  return ordered_json{{"baseline", w.baseline},   {"zero_skip", w.zero_skip}, {"stripes", w.stripes},
                      {"pragmatic", w.pragmatic}, {"laconic", w.laconic}};
}

ordered_json cycles_json(const Cycles& c) {
  return ordered_json{
      {"baseline", c.baseline}, {"stripes", c.stripes}, {"pragmatic", c.pragmatic}, {"laconic", c.laconic}};
}

ordered_json terms_json(const TermStats& s, Encoding encoding, const Precision& precision) {
  ordered_json histogram = ordered_json::array();
  const std::size_t n = histogram_length(s, encoding, precision);
  for (std::size_t t = 0; t < n; ++t) histogram.push_back(s.histogram[t]);
  return ordered_json{{"mean", s.mean()}, {"zero_fraction", s.zero_fraction()}, {"histogram", histogram}};
}

ordered_json totals_json(const Totals& t) {
  return ordered_json{{"layers", t.layers}, {"macs", t.macs}, {"work", work_json(t.work)}, {"cycles", cycles_json(t.cycles)}};
}

}  // namespace

std::string json_report(const NetworkResult& r, bool per_sample) {
  ordered_json doc;
  doc["tool"] = "laconic";
  doc["schema"] = kReportSchema;
  doc["version"] = version_string();
  doc["network"] = r.network;
  doc["engine"] = r.engine;
  ordered_json config = settings_json(r.config);
  config["sample_limit"] = r.sample_limit == 0 ? ordered_json(nullptr) : ordered_json(r.sample_limit);
  config["source"] = r.source;
  config["precision_profile"] = r.precision_profile.empty() ? ordered_json(nullptr) : ordered_json(r.precision_profile);
  doc["config"] = std::move(config);
  doc["layers"] = ordered_json::array();
  for (const auto& l : r.layers) {
    const LayerResult& res = l.result;
    ordered_json layer;
    layer["name"] = res.name;
    layer["type"] = std::string(to_string(res.type));
    layer["samples"] = res.samples();
    layer["macs"] = res.macs();
    layer["work"] = work_json(res.work());
    layer["cycles"] = cycles_json(res.cycles());
    layer["terms"] = ordered_json{
        {"activations", terms_json(res.activation_terms, r.config.encoding, l.activation_precision)},
        {"weights", terms_json(res.weight_terms, r.config.encoding, l.weight_precision)}};
    if (per_sample) {
      ordered_json samples = ordered_json::array();
      for (const auto& s : res.per_sample)
        samples.push_back(ordered_json{{"sample", s.sample}, {"macs", s.macs}, {"work", work_json(s.work)},
                                       {"cycles", cycles_json(s.cycles)}});
      layer["per_sample"] = std::move(samples);
    }
    doc["layers"].push_back(std::move(layer));
  }
  doc["totals"] = ordered_json{{"all", totals_json(r.totals_all())}, {"conv", totals_json(r.totals_conv())}};
  // Names come from file names and model.csv, which need not be UTF-8 (a
  // latin-1 layer name); JSON must be, so such bytes become U+FFFD rather
  // than an exception that loses the finished run.
  return doc.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

void write_reports(const NetworkResult& result, bool per_sample, const std::string& json_path,
                   const std::string& csv_path) {
  std::vector<std::pair<std::string, std::string>> files;
  std::string to_stdout;
  if (json_path == "-") to_stdout = json_report(result, per_sample);
  else if (!json_path.empty()) files.emplace_back(json_path, json_report(result, per_sample));
  if (csv_path == "-") to_stdout = csv_report(result, per_sample);
  else if (!csv_path.empty()) files.emplace_back(csv_path, csv_report(result, per_sample));
  write_files_atomically(files);
  std::cout << (json_path == "-" || csv_path == "-" ? to_stdout : markdown_report(result)) << std::flush;
}

void check_writable(const std::string& path, const std::string& option) {
  const fs::path p(resolve_symlinks(path));  // a link is written through to its target
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(option + " " + path + ": directory " + dir.string() + " does not exist");
  if (fs::is_directory(p, ec)) throw Error(option + " " + path + ": is a directory");
  // A report is renamed into place over the path: over /dev/stdout or a FIFO
  // that would replace the device or pipe itself (as root, in /dev).
  if (fs::exists(p, ec) && !fs::is_regular_file(p, ec))
    throw Error(option + " " + path +
                ": is not a regular file (reports are written to a file and renamed into place)");
  if (::access(dir.c_str(), W_OK) != 0)
    throw Error(option + " " + path + ": directory " + dir.string() + " is not writable");
}

}  // namespace laconic
