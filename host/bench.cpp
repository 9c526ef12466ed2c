// laconic_bench: times the engines on one network and prints one Markdown
// table: the terms pass alone (read, quantize, count terms: what every figure
// needs), then work, cycles (every accelerator's, MODEL.md §5, §8, §9) and
// all figures together, each with that pass included. Every engine runs in
// the same process on the same input, so ratios between them are meaningful
// on a noisy machine; absolute times are this machine's.
//
// Then what one image asks of the cuda engine's kernels, from the shapes
// (laconic/grid.hpp kernel_work). With the cuda engine among the engines, a
// device table gives the copy bandwidths and the terms kernel's bandwidth
// measured in the same run, and the cuda engine's images per second against
// those the host-to-device link allows.
//
//   laconic_bench NETWORK [--engines cuda,cpu,reference] [--samples N] [--repeat R]
//                 [--encoding E] [--preset dnnsim|equal] [--config FILE]
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "laconic/device.hpp"
#include "laconic/engine.hpp"
#include "laconic/grid.hpp"
#include "laconic/model.hpp"
#include "laconic/error.hpp"
#include "laconic/network.hpp"
#include "laconic/profile.hpp"
#include "laconic/run_config.hpp"

namespace {

struct Timing {
  double seconds = 0;
  laconic::NetworkResult result;
};

// The fastest of `repeat` runs.
Timing time_run(const laconic::Network& net, const laconic::Engine& engine, laconic::ProfileConfig config,
                const laconic::ProfileOptions& options, int repeat) {
  Timing best;
  best.seconds = 1e300;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto result = laconic::profile_network(net, engine, config, options);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s < best.seconds) {
      best.seconds = s;
      best.result = std::move(result);
    }
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("laconic_bench", "Time the engines on one network; print a Markdown table.");
  options.positional_help("NETWORK").show_positional_help();
  // clang-format off
  options.add_options()
    ("network", "Network manifest or DNNsim model directory", cxxopts::value<std::string>())
    ("engines", "Engines to time, comma-separated", cxxopts::value<std::string>()->default_value("cpu,reference"))
    ("samples", "Samples per layer (default: all)", cxxopts::value<std::int64_t>()->default_value("0"))
    ("repeat", "Runs per engine and metric; the fastest counts", cxxopts::value<int>()->default_value("1"))
    ("encoding", "binary, booth, naf or dnnsim-booth", cxxopts::value<std::string>()->default_value("booth"))
    ("preset", "Accelerator settings: dnnsim or equal (MODEL.md §8)", cxxopts::value<std::string>()->default_value("dnnsim"))
    ("config", "A configuration file applied over the preset (README)", cxxopts::value<std::string>())
    ("h,help", "Show this help");
  // clang-format on
  options.parse_positional({"network"});
  try {
    const auto r = options.parse(argc, argv);
    if (r.count("help") || r.count("network") == 0) {
      std::cout << options.help();
      return r.count("help") ? 0 : 2;
    }
    const laconic::Network net = laconic::load_network(r["network"].as<std::string>());
    laconic::ProfileOptions popts;
    popts.sample_limit = static_cast<std::uint64_t>(std::max<std::int64_t>(0, r["samples"].as<std::int64_t>()));
    const int repeat = std::max(1, r["repeat"].as<int>());
    laconic::ProfileConfig base = laconic::ProfileConfig::preset(laconic::parse_preset_setting(r["preset"].as<std::string>()));
    if (r.count("config")) base = laconic::read_profile_config(r["config"].as<std::string>(), base);
    const auto encoding = laconic::parse_encoding(r["encoding"].as<std::string>());
    if (!encoding) throw laconic::Error("unknown encoding");
    base.encoding = *encoding;

    std::vector<std::string> engines;
    {
      std::stringstream ss(r["engines"].as<std::string>());
      for (std::string e; std::getline(ss, e, ',');) engines.push_back(e);
    }
    struct Row {
      std::string engine, metric;
      double seconds;
      std::uint64_t macs, samples;
    };
    std::vector<Row> rows;
    std::map<std::string, double> seconds_of;  // engine/metric -> s
    std::map<std::string, laconic::NetworkResult> results_of;
    for (const auto& name : engines) {
      const auto kind = laconic::parse_engine_kind(name);
      if (!kind) throw laconic::Error("unknown engine " + name);
      const auto engine = laconic::make_engine(*kind);
      // "terms" is the pass every figure needs: read, quantize, count terms.
      for (const char* metric : {"terms", "work", "cycles", "all"}) {
        laconic::ProfileConfig config = base;
        config.compute_work = std::string(metric) == "work" || std::string(metric) == "all";
        config.compute_cycles = std::string(metric) == "cycles" || std::string(metric) == "all";
        std::cerr << "laconic_bench: " << name << " " << metric << "...\n";
        Timing t = time_run(net, *engine, config, popts, repeat);
        const auto totals = t.result.totals_all();
        std::uint64_t samples = t.result.layers.empty() ? 0 : t.result.layers.front().result.samples();
        rows.push_back({name, metric, t.seconds, totals.macs, samples});
        seconds_of[name + "/" + metric] = t.seconds;
        results_of[name + "/" + metric] = std::move(t.result);
      }
    }
    // The engines must agree; a fast wrong answer is no result.
    bool identical = true;
    for (const char* metric : {"terms", "work", "cycles", "all"})
      for (const auto& name : engines)
        if (!laconic::compare_results(results_of[engines.front() + "/" + metric], results_of[name + "/" + metric]).empty())
          identical = false;

    const auto preset = base.matching_preset();
    std::printf("network: %s (%zu layers), encoding %s, accelerators %s, %d thread(s)\n\n", net.name.c_str(),
                net.layers.size(), std::string(laconic::to_string(base.encoding)).c_str(),
                preset ? ("preset " + std::string(laconic::to_string(*preset))).c_str() : "a custom configuration",
                omp_get_max_threads());
    std::printf("| engine | metric | samples | MACs | seconds | images / s | ns / MAC | speedup vs %s |\n",
                engines.back().c_str());
    std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const auto& row : rows) {
      const double reference = seconds_of[engines.back() + "/" + row.metric];
      std::printf("| %s | %s | %llu | %llu | %.3f | %.1f | %.4f | %.1f |\n", row.engine.c_str(), row.metric.c_str(),
                  static_cast<unsigned long long>(row.samples), static_cast<unsigned long long>(row.macs), row.seconds,
                  static_cast<double>(row.samples) / row.seconds,
                  1e9 * row.seconds / static_cast<double>(std::max<std::uint64_t>(row.macs, 1)),
                  reference / row.seconds);
    }
    std::printf("\nengines agree on every count: %s\n", identical ? "yes" : "NO");

    // What one image asks of an engine, from the shapes alone: the values read
    // and narrowed on the host, the bytes of magnitudes the cuda engine moves
    // to the device, and the conv layers' steps of each accelerator at its own
    // geometry, with the depthwise mapping and the first-layer fold (§8).
    std::uint64_t image_values = 0, image_bytes = 0;
    std::array<std::uint64_t, laconic::kAcceleratorCount> image_steps{};
    for (const auto& layer : net.layers) {
      const auto values = static_cast<std::uint64_t>(layer.shape.activations_per_sample());
      image_values += values;
      image_bytes += values * static_cast<std::uint64_t>(laconic::grid::magnitude_bytes(layer.activation_precision));
      if (layer.shape.type != laconic::LayerType::conv) continue;
      const laconic::LayerShape counted = laconic::cycles_shape(layer.shape, base);
      const bool diagonal = laconic::maps_diagonally(layer.shape, base);
      for (laconic::Accelerator a : laconic::kAccelerators)
        image_steps[static_cast<std::size_t>(a)] += laconic::step_plan(counted, base.geometry(a), diagonal).steps();
    }
    std::printf("per image: %llu activations, %llu bytes of magnitudes to a device; conv steps (§8):",
                static_cast<unsigned long long>(image_values), static_cast<unsigned long long>(image_bytes));
    for (laconic::Accelerator a : laconic::kAccelerators)
      std::printf(" %s %llu", std::string(laconic::to_string(a)).c_str(),
                  static_cast<unsigned long long>(image_steps[static_cast<std::size_t>(a)]));
    std::printf("\n");

    // The cuda engine's kernels per image, summed over the layers (work and
    // cycles): indices, the bytes each must read and write at least, and its
    // integer operations; "one thread per image" marks the recurrences.
    {
      struct Sum {
        std::uint64_t indices = 0, read = 0, written = 0, operations = 0;
        bool sequential = false;
      };
      std::map<std::string, Sum> kernels;
      std::vector<std::string> order;  // first seen first
      for (const auto& layer : net.layers) {
        const laconic::grid::LayerParams p = laconic::grid::make_params(layer.shape, base);
        for (const auto& k : laconic::grid::kernel_work(p, laconic::grid::magnitude_bytes(layer.activation_precision))) {
          if (kernels.count(k.kernel) == 0) order.push_back(k.kernel);
          Sum& sum = kernels[k.kernel];
          sum.indices += k.indices;
          sum.read += k.bytes_read;
          sum.written += k.bytes_written;
          sum.operations += k.operations;
          sum.sequential = k.sequential;
        }
      }
      std::uint64_t read = 0, written = 0, link = 0;
      std::printf("\ncuda engine, per image (from the shapes; encoding %s, the default accelerators):\n\n",
                  std::string(laconic::to_string(base.encoding)).c_str());
      std::printf("| kernel | indices | MB read | MB written | operations (M) | threads |\n");
      std::printf("| --- | ---: | ---: | ---: | ---: | --- |\n");
      // The copy of the results out comes last, as it runs.
      const auto results = std::find_if(order.begin(), order.end(),
                                        [](const std::string& n) { return n.find("device to host") != std::string::npos; });
      if (results != order.end()) std::rotate(results, results + 1, order.end());
      for (const std::string& name : order) {
        const Sum& k = kernels[name];
        const bool copy = name.find("host") != std::string::npos;
        std::printf("| %s | %llu | %.2f | %.2f | %.2f | %s |\n", name.c_str(), static_cast<unsigned long long>(k.indices),
                    static_cast<double>(k.read) / 1e6, static_cast<double>(k.written) / 1e6,
                    static_cast<double>(k.operations) / 1e6,
                    copy ? "(a copy)" : k.sequential ? "one per image" : "one per index");
        // The copies' device side: the copy in writes device memory, the
        // results' copy reads it.
        const bool copy_in = copy && name.find("host to device") != std::string::npos;
        const bool copy_out = copy && name.find("device to host") != std::string::npos;
        if (copy_in) link += k.read, written += k.written;
        else if (copy_out) link += k.written, read += k.read;
        else read += k.read, written += k.written;
      }
      std::printf("\nper image, at least: device memory %.2f MB read and %.2f MB written; link %.2f MB\n",
                  static_cast<double>(read) / 1e6, static_cast<double>(written) / 1e6, static_cast<double>(link) / 1e6);
    }

    if (std::find(engines.begin(), engines.end(), "cuda") != engines.end()) {
      // What bounds the cuda engine: the device's own copy bandwidth for the
      // terms pass, the host-to-device link for the whole profile.
      const auto bw = laconic::measure_device_bandwidth(std::uint64_t{1} << 28, 2, 5);
      const double gb = 1e9;
      std::printf("\ndevice: %s\n\n", bw.device.c_str());
      std::printf("| measurement | GB/s | note |\n| --- | ---: | --- |\n");
      std::printf("| device-to-device copy | %.1f | bytes read + written, 512 MiB |\n", bw.d2d_bytes_per_s / gb);
      std::printf("| terms kernel (16-bit magnitudes) | %.1f | %.0f%% of the copy; %.1f G values/s |\n",
                  bw.terms_bytes_per_s / gb, 100.0 * bw.terms_bytes_per_s / bw.d2d_bytes_per_s,
                  bw.terms_values_per_s / gb);
      std::printf("| host-to-device copy, pinned | %.1f | %.2f MB of activation magnitudes per image: "
                  "at most %.0f images/s over the link |\n",
                  bw.h2d_pinned_bytes_per_s / gb, static_cast<double>(image_bytes) / 1e6,
                  bw.h2d_pinned_bytes_per_s / static_cast<double>(std::max<std::uint64_t>(image_bytes, 1)));
      // End to end: the images per second of the whole profile against what
      // the link alone allows for this trace.
      const double link_images = bw.h2d_pinned_bytes_per_s / static_cast<double>(std::max<std::uint64_t>(image_bytes, 1));
      for (const char* metric : {"terms", "work", "cycles"}) {
        const std::string key = std::string("cuda/") + metric;
        const auto row = std::find_if(rows.begin(), rows.end(),
                                      [&](const Row& candidate) { return candidate.engine == "cuda" && candidate.metric == metric; });
        if (row == rows.end() || row->seconds <= 0) continue;
        const double images = static_cast<double>(row->samples) / row->seconds;
        std::printf("\ncuda end to end, %s: %.1f images/s, %.0f%% of the %.0f images/s the link allows", metric, images,
                    100.0 * images / link_images, link_images);
        if (seconds_of.count(std::string("cpu/") + metric))
          std::printf("; %.1fx the cpu engine", seconds_of[std::string("cpu/") + metric] / seconds_of[key]);
      }
      std::printf("\n");
    }
    return identical ? 0 : 3;
  } catch (const std::exception& e) {
    std::cerr << "laconic_bench: " << e.what() << "\n";
    return 1;
  }
}
