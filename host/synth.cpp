#include "laconic/synth.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "first_error.hpp"
#include "laconic/error.hpp"
#include "laconic/npy.hpp"
#include "laconic/npz.hpp"
#include "laconic/report.hpp"

namespace laconic {

namespace fs = std::filesystem;

namespace {

LayerShape conv(std::int64_t c, std::int64_t hw, std::int64_t k, std::int64_t kernel, std::int64_t stride,
                std::int64_t pad, std::int64_t groups = 1) {
  LayerShape s;
  s.type = LayerType::conv;
  s.channels = c;
  s.height = s.width = hw;
  s.filters = k;
  s.kernel_height = s.kernel_width = kernel;
  s.stride_h = s.stride_w = stride;
  s.padding = Padding{pad, pad, pad, pad};
  s.groups = groups;
  return s;
}

LayerShape fc(std::int64_t c, std::int64_t k) {
  LayerShape s;
  s.type = LayerType::fc;
  s.channels = c;
  s.filters = k;
  return s;
}

std::vector<SynthLayer> resnet50() {
  std::vector<SynthLayer> layers;
  layers.push_back({"conv1", conv(3, 224, 64, 7, 2, 3)});
  // torchvision's bottlenecks: the stride sits on the 3×3 convolution.
  struct Stage {
    const char* name;
    int blocks;
    std::int64_t mid, out, in_hw, stride;
  };
  std::int64_t in_channels = 64;
  for (const Stage& st : {Stage{"layer1", 3, 64, 256, 56, 1}, Stage{"layer2", 4, 128, 512, 56, 2},
                          Stage{"layer3", 6, 256, 1024, 28, 2}, Stage{"layer4", 3, 512, 2048, 14, 2}}) {
    std::int64_t hw = st.in_hw;
    for (int b = 0; b < st.blocks; ++b) {
      const std::string block = std::string(st.name) + "." + std::to_string(b) + ".";
      const std::int64_t stride = b == 0 ? st.stride : 1;
      layers.push_back({block + "conv1", conv(in_channels, hw, st.mid, 1, 1, 0)});
      layers.push_back({block + "conv2", conv(st.mid, hw, st.mid, 3, stride, 1)});
      const std::int64_t out_hw = (hw + 2 - 3) / stride + 1;
      layers.push_back({block + "conv3", conv(st.mid, out_hw, st.out, 1, 1, 0)});
      if (b == 0) layers.push_back({block + "downsample", conv(in_channels, hw, st.out, 1, stride, 0)});
      in_channels = st.out;
      hw = out_hw;
    }
  }
  layers.push_back({"fc", fc(2048, 1000)});
  return layers;
}

std::vector<SynthLayer> vgg16() {
  std::vector<SynthLayer> layers;
  struct Block {
    int convs;
    std::int64_t out, hw;
  };
  std::int64_t c = 3;
  int index = 0;
  for (const Block& b : {Block{2, 64, 224}, Block{2, 128, 112}, Block{3, 256, 56}, Block{3, 512, 28},
                         Block{3, 512, 14}}) {
    for (int i = 0; i < b.convs; ++i) {
      layers.push_back({"conv" + std::to_string(++index), conv(c, b.hw, b.out, 3, 1, 1)});
      c = b.out;
    }
  }
  layers.push_back({"fc6", fc(512 * 7 * 7, 4096)});
  layers.push_back({"fc7", fc(4096, 4096)});
  layers.push_back({"fc8", fc(4096, 1000)});
  return layers;
}

std::vector<SynthLayer> alexnet() {
  // Caffe's AlexNet (bvlc_alexnet), as DNNsim's users traced it.
  return {{"conv1", conv(3, 227, 96, 11, 4, 0)},     {"conv2", conv(96, 27, 256, 5, 1, 2, 2)},
          {"conv3", conv(256, 13, 384, 3, 1, 1)},    {"conv4", conv(384, 13, 384, 3, 1, 1, 2)},
          {"conv5", conv(384, 13, 256, 3, 1, 1, 2)}, {"fc6", fc(256 * 6 * 6, 4096)},
          {"fc7", fc(4096, 4096)},                   {"fc8", fc(4096, 1000)}};
}

std::vector<SynthLayer> tiny() {
  LayerShape wide = conv(16, 15, 20, 3, 1, 0);
  wide.height = 12;  // non-square input
  wide.kernel_width = 5;
  wide.padding = Padding{1, 1, 1, 1};
  return {{"conv1", conv(3, 32, 24, 3, 2, 1)},        {"conv2_dw", conv(24, 16, 24, 3, 1, 1, 24)},
          {"conv2_pw", conv(24, 16, 40, 1, 1, 0)},    {"conv3", conv(40, 16, 16, 3, 2, 1, 2)},
          {"conv4", wide},                            {"fc", fc(20 * 4 * 4, 10)}};
}

// splitmix64: a small generator whose output is the same on every platform,
// unlike the distributions of <random>.
struct Rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

std::int64_t draw_magnitude(Rng& rng, int bits) {
  const int exponent_bits = std::max(bits - 4, 1);
  const auto m = static_cast<std::int64_t>(std::floor(std::exp2(rng.uniform() * exponent_bits)));
  return std::max<std::int64_t>(m, 1);
}

// How the values of one synthetic tensor are drawn: the parametric default,
// or the empirical statistics of a real tensor.
class ValueModel {
 public:
  static ValueModel parametric(double zero_fraction, double negative_fraction, int bits) {
    ValueModel m;
    m.zero_fraction_ = zero_fraction;
    m.negative_fraction_ = negative_fraction;
    m.bits_ = bits;
    return m;
  }
  static ValueModel fitted(const TensorStats& stats, int bits) {
    if (stats.bits > bits)
      throw Error("synth --fit: the fitted traces are " + std::to_string(stats.bits) + "-bit; --bits must be at least that");
    ValueModel m;
    m.bits_ = bits;
    m.shift_ = bits - stats.bits;
    const std::uint64_t nonzero = stats.values - stats.zeros;
    m.zero_fraction_ = stats.values == 0 ? 1.0 : static_cast<double>(stats.zeros) / static_cast<double>(stats.values);
    m.negative_fraction_ = nonzero == 0 ? 0.0 : static_cast<double>(stats.negatives) / static_cast<double>(nonzero);
    std::uint64_t running = 0;
    for (const auto& [magnitude, count] : stats.magnitudes) {
      running += count;
      m.magnitudes_.push_back(magnitude);
      m.cumulative_.push_back(running);
    }
    if (m.magnitudes_.empty()) m.zero_fraction_ = 1.0;
    return m;
  }
  bool is_signed() const { return negative_fraction_ > 0; }
  std::int64_t draw(Rng& rng) const {
    if (rng.uniform() < zero_fraction_) return 0;
    std::int64_t magnitude;
    if (magnitudes_.empty()) {
      magnitude = draw_magnitude(rng, bits_);
    } else {
      const std::uint64_t pick = rng.next() % cumulative_.back();
      const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), pick);
      magnitude = static_cast<std::int64_t>(magnitudes_[static_cast<std::size_t>(it - cumulative_.begin())] << shift_);
    }
    return rng.uniform() < negative_fraction_ ? -magnitude : magnitude;
  }

 private:
  double zero_fraction_ = 0, negative_fraction_ = 0;
  int bits_ = 16, shift_ = 0;
  std::vector<std::uint64_t> magnitudes_, cumulative_;
};

DType integer_dtype(int bits, bool is_signed) {
  if (bits <= 8) return is_signed ? DType::i1 : DType::u1;
  if (bits <= 16) return is_signed ? DType::i2 : DType::u2;
  return is_signed ? DType::i4 : DType::u4;
}

// Writes `values` as `dtype` (or float32 when `as_float`): a .npy file, or
// with `compress` an .npz whose one deflated array is named after the file.
void write_values(const std::string& path, const std::vector<std::int64_t>& values,
                  const std::vector<std::uint64_t>& shape, DType dtype, bool as_float, bool compress) {
  if (as_float) {
    // DNNsim reads its float traces as 16-bit signed integers.
    for (std::int64_t v : values)
      if (v < -32768 || v > 32767)
        throw Error("synth: value " + std::to_string(v) + " does not fit DNNsim's 16-bit traces; use a smaller --bits");
    std::vector<float> f(values.begin(), values.end());
    write_npy(path, DType::f4, shape, f.data());
    return;
  }
  std::vector<unsigned char> bytes(values.size() * item_size(dtype));
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::i1: { auto v = static_cast<std::int8_t>(values[i]); std::memcpy(&bytes[i], &v, 1); break; }
      case DType::u1: { auto v = static_cast<std::uint8_t>(values[i]); std::memcpy(&bytes[i], &v, 1); break; }
      case DType::i2: { auto v = static_cast<std::int16_t>(values[i]); std::memcpy(&bytes[2 * i], &v, 2); break; }
      case DType::u2: { auto v = static_cast<std::uint16_t>(values[i]); std::memcpy(&bytes[2 * i], &v, 2); break; }
      case DType::i4: { auto v = static_cast<std::int32_t>(values[i]); std::memcpy(&bytes[4 * i], &v, 4); break; }
      case DType::u4: { auto v = static_cast<std::uint32_t>(values[i]); std::memcpy(&bytes[4 * i], &v, 4); break; }
      default: throw Error("internal: write_values with a float dtype");
    }
  }
  if (compress) {
    const std::string name = fs::path(path).stem().string();
    write_npz(path, {NpzEntry{name, dtype, shape, bytes.data()}}, /*compress=*/true);
    return;
  }
  write_npy(path, dtype, shape, bytes.data());
}

void make_directory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw Error(dir.string() + ": cannot create the directory (" + ec.message() + ")");
}

// Writes one layer's weights and activation files; fills its manifest entry
// (or, in DNNsim's layout, its model.csv line).
void write_layer(const SynthOptions& o, const std::vector<SynthLayer>& layers, std::size_t index,
                 const fs::path& trace_dir, nlohmann::ordered_json& entry, std::string& csv_line) {
  const SynthLayer& layer = layers[index];
  const std::uint64_t per_file = o.samples_per_file == 0 ? o.samples : o.samples_per_file;
  const LayerShape& sh = layer.shape;
  ValueModel act_model = ValueModel::parametric(o.activation_zero_fraction, 0.0, o.bits);
  ValueModel weight_model = ValueModel::parametric(o.weight_zero_fraction, 0.5, o.bits);
  if (!o.fitted.empty()) {
    // Weights from the fitted layer at the same relative depth. The
    // synthetic architectures feed every layer but the first post-ReLU
    // values, so their activations come from the fitted layers whose
    // inputs have no negative value (again by relative depth), and the
    // first layer's from the fitted first layer (the image).
    const std::size_t n = layers.size();
    auto at_depth = [&](std::size_t m) { return n == 1 ? 0 : (index * (m - 1) * 2 + (n - 1)) / (2 * (n - 1)); };
    weight_model = ValueModel::fitted(o.fitted[at_depth(o.fitted.size())].weights, o.bits);
    std::vector<const TensorStats*> post_relu;
    for (std::size_t j = 1; j < o.fitted.size(); ++j)
      if (o.fitted[j].activations.negatives == 0) post_relu.push_back(&o.fitted[j].activations);
    if (index == 0 || post_relu.empty())
      act_model = ValueModel::fitted(o.fitted[index == 0 ? 0 : at_depth(o.fitted.size())].activations, o.bits);
    else
      act_model = ValueModel::fitted(*post_relu[at_depth(post_relu.size())], o.bits);
  }
  const DType act_dtype = integer_dtype(o.bits, act_model.is_signed());
  const DType weight_dtype = integer_dtype(o.bits, true);
  Rng weight_rng{o.seed * 0x100000001B3ULL + 2 * index + 1};
  std::vector<std::int64_t> weights(static_cast<std::size_t>(sh.weight_count()));
  for (auto& w : weights) w = weight_model.draw(weight_rng);
  const std::string extension = o.compress ? ".npz" : ".npy";
  const std::string weight_name = o.dnnsim_layout ? "wgt-" + layer.name + ".npy" : layer.name + ".weights" + extension;
  std::vector<std::uint64_t> weight_shape;
  if (sh.type == LayerType::conv)
    weight_shape = {static_cast<std::uint64_t>(sh.filters), static_cast<std::uint64_t>(sh.channels_per_group()),
                    static_cast<std::uint64_t>(sh.kernel_height), static_cast<std::uint64_t>(sh.kernel_width)};
  else
    weight_shape = {static_cast<std::uint64_t>(sh.filters), static_cast<std::uint64_t>(sh.channels)};
  write_values((trace_dir / weight_name).string(), weights, weight_shape, weight_dtype, o.dnnsim_layout, o.compress);

  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  const auto per_sample = static_cast<std::uint64_t>(sh.activations_per_sample());
  for (std::uint64_t first = 0, file = 0; first < o.samples; first += per_file, ++file) {
    const std::uint64_t n = std::min(per_file, o.samples - first);
    Rng act_rng{o.seed * 0x100000001B3ULL + 2 * index + 2 + (file << 32)};
    std::vector<std::int64_t> acts(n * per_sample);
    for (auto& a : acts) a = act_model.draw(act_rng);
    std::vector<std::uint64_t> shape{n, static_cast<std::uint64_t>(sh.channels)};
    if (sh.type == LayerType::conv) {
      shape.push_back(static_cast<std::uint64_t>(sh.height));
      shape.push_back(static_cast<std::uint64_t>(sh.width));
    }
    const std::string name = o.dnnsim_layout ? "act-" + layer.name + "-" + std::to_string(file) + ".npy"
                                              : layer.name + ".act." + std::to_string(file) + extension;
    write_values((trace_dir / name).string(), acts, shape, act_dtype, o.dnnsim_layout, o.compress);
    files.push_back(name);
  }

  if (o.dnnsim_layout) {
    csv_line = layer.name + "," + std::string(to_string(sh.type)) + "," + std::to_string(sh.stride_h) + "," +
               std::to_string(sh.padding.top) + "\n";
    return;
  }
  entry["name"] = layer.name;
  entry["type"] = std::string(to_string(sh.type));
  if (sh.type == LayerType::conv) {
    entry["stride"] = sh.stride_h == sh.stride_w ? nlohmann::ordered_json(sh.stride_h)
                                                 : nlohmann::ordered_json{sh.stride_h, sh.stride_w};
    const Padding& p = sh.padding;
    if (p.top == p.bottom && p.left == p.right)
      entry["padding"] = p.top == p.left ? nlohmann::ordered_json(p.top) : nlohmann::ordered_json{p.top, p.left};
    else
      entry["padding"] = {{"top", p.top}, {"bottom", p.bottom}, {"left", p.left}, {"right", p.right}};
    if (sh.groups != 1) entry["groups"] = sh.groups;
  }
  entry["activations"] = {{"files", files}, {"bits", o.bits}, {"signed", act_model.is_signed()}};
  entry["weights"] = {{"file", weight_name}, {"bits", o.bits}};
}


}  // namespace

std::vector<FittedLayer> fit_statistics(const Network& network, std::uint64_t max_samples) {
  std::vector<FittedLayer> fitted;
  auto tally = [](const TensorSource& source, std::uint64_t count, int bits) {
    TensorStats stats;
    stats.bits = bits;
    std::vector<std::int64_t> chunk;
    for (std::uint64_t first = 0; first < count; first += chunk.size()) {
      chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(count - first, 1 << 16)));
      source.read(first, chunk.size(), chunk.data());
      for (std::int64_t v : chunk) {
        ++stats.values;
        if (v == 0) ++stats.zeros;
        else ++stats.magnitudes[v < 0 ? static_cast<std::uint64_t>(-v) : static_cast<std::uint64_t>(v)];
        if (v < 0) ++stats.negatives;
      }
    }
    return stats;
  };
  for (const NetworkLayer& layer : network.layers) {
    FittedLayer f;
    f.name = layer.name;
    std::uint64_t samples = layer.samples();
    if (max_samples != 0) samples = std::min(samples, max_samples);
    f.activations = tally(*layer.activations, samples * static_cast<std::uint64_t>(layer.shape.activations_per_sample()),
                          layer.activation_precision.bits);
    f.weights = tally(*layer.weights, layer.weights->size(), layer.weight_precision.bits);
    fitted.push_back(std::move(f));
  }
  return fitted;
}

std::vector<std::string> synthetic_architectures() { return {"tiny", "alexnet", "vgg16", "resnet50"}; }

std::vector<SynthLayer> synthetic_architecture(const std::string& name) {
  if (name == "tiny") return tiny();
  if (name == "alexnet") return alexnet();
  if (name == "vgg16") return vgg16();
  if (name == "resnet50") return resnet50();
  std::string known;
  for (const auto& a : synthetic_architectures()) known += " " + a;
  throw Error("no synthetic architecture '" + name + "' (known:" + known + ")");
}

std::string write_synthetic_network(const SynthOptions& o) {
  const auto layers = synthetic_architecture(o.architecture);
  if (o.out_dir.empty()) throw Error("synth: an output directory is needed");
  if (o.samples == 0) throw Error("synth: --samples must be at least 1");
  if (o.bits < 2 || o.bits > 32) throw Error("synth: --bits must be between 2 and 32");
  if (o.dnnsim_layout && o.bits > 16) throw Error("synth: DNNsim traces hold 16-bit values; use --bits 16 or less");
  if (o.dnnsim_layout && o.compress)
    throw Error("synth: DNNsim reads .npy traces only; --compress writes .npz archives for a manifest");
  if (!(o.activation_zero_fraction >= 0 && o.activation_zero_fraction <= 1) ||
      !(o.weight_zero_fraction >= 0 && o.weight_zero_fraction <= 1))
    throw Error("synth: zero fractions must be between 0 and 1");
  if (o.dnnsim_layout)
    for (const auto& layer : layers) {
      // model.csv has one stride and one padding for both axes.
      const LayerShape& sh = layer.shape;
      const std::int64_t p = sh.padding.top;
      if (sh.stride_h != sh.stride_w || !(sh.padding == Padding{p, p, p, p}))
        throw Error("synth: layer '" + layer.name + "' has a stride or padding that DNNsim's model.csv cannot express");
    }
  // The name says "synthetic", so that every report and report row made from
  // these traces does too.
  const std::string net = o.architecture + "-synthetic";

  const fs::path root(o.out_dir);
  const fs::path model_dir = root / "models" / net;
  const fs::path trace_dir = o.dnnsim_layout ? root / "net_traces" / net : root;
  make_directory(trace_dir);
  if (o.dnnsim_layout) make_directory(model_dir);

  nlohmann::ordered_json manifest;
  manifest["network"] = net;
  std::string values_text = "activation zero fraction " + std::to_string(o.activation_zero_fraction);
  if (!o.fitted.empty())
    values_text = "per-layer zero fraction and magnitude distribution fitted to " + o.fitted_from +
                  ", matched by relative depth";
  manifest["source"] = "synthetic: laconic synth " + o.architecture + " (seed " + std::to_string(o.seed) + ", " +
                       std::to_string(o.bits) + "-bit, " + values_text + "); not real activations";
  manifest["layers"] = nlohmann::ordered_json::array();
  std::string model_csv;

  // Layers are independent (each tensor, and each activation file, has a
  // random stream of its own), so they are written in parallel and the
  // output does not depend on the thread count.
  std::vector<nlohmann::ordered_json> entries(layers.size());
  std::vector<std::string> csv_lines(layers.size());
  FirstError error;
  const auto count = static_cast<std::int64_t>(layers.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t i = 0; i < count; ++i) {
    const auto index = static_cast<std::size_t>(i);
    try {
      write_layer(o, layers, index, trace_dir, entries[index], csv_lines[index]);
    } catch (...) {
      error.record(i);
    }
  }
  error.rethrow();
  for (std::size_t index = 0; index < layers.size(); ++index) {
    model_csv += csv_lines[index];
    if (!o.dnnsim_layout) manifest["layers"].push_back(entries[index]);
  }

  if (o.dnnsim_layout) {
    write_file_atomically((model_dir / "model.csv").string(), model_csv);
    return model_dir.string();
  }
  const std::string manifest_path = (root / "manifest.json").string();
  write_file_atomically(manifest_path, manifest.dump(2) + "\n");
  return manifest_path;
}

}  // namespace laconic
