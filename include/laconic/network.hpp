// A network to profile: its layers with their shapes and traces, read from a
// network manifest (JSON, documented in the README) or from a DNNsim model
// directory (MODEL.md §7, §7a). Traces are .npy files or arrays in .npz
// archives (npz.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "laconic/engine.hpp"
#include "laconic/layer.hpp"
#include "laconic/quantize.hpp"
#include "laconic/tensor.hpp"

namespace laconic {

struct NetworkLayer {
  std::string name;
  LayerShape shape;
  Precision activation_precision;  // p_a (§2)
  Precision weight_precision;      // p_w
  std::shared_ptr<const TensorSource> activations;
  std::shared_ptr<const TensorSource> weights;
  std::string activation_quantization;  // e.g. "none", "fixed 4.12", for reports
  std::string weight_quantization;

  std::uint64_t samples() const;
  LayerInput input() const;
};

struct Network {
  std::string name;
  std::string description;
  std::string source;  // where the traces come from, as the manifest says
  std::string path;    // the manifest file or model directory it was read from
  std::string format;  // "manifest" or "dnnsim"
  // The per-layer precision profile the widths come from (§7a), for the
  // report's configuration: "precision.txt: <path>" when a DNNsim
  // precision.txt gave every layer's p_a and p_w (a DNNsim directory's own,
  // or a manifest's "precision_profile"); empty when none did.
  std::string precision_profile;
  std::vector<NetworkLayer> layers;
};

// A .json path is a manifest; a directory with a model.csv (or the model.csv
// itself) is a DNNsim model directory. Throws laconic::Error with the file
// and layer at fault, and says which path to use for a DNNsim root or traces
// directory, a .npy trace or an .npz archive.
Network load_network(const std::string& path);

Network load_manifest(const std::string& manifest_path);

// DNNsim layout: `model_dir`/model.csv, traces in `traces_dir`, by default
// the sibling <model_dir>/../../net_traces/<name of model_dir>; the
// precision profile `model_dir`/precision.txt when it exists (§7a).
Network load_dnnsim(const std::string& model_dir, const std::string& traces_dir = "");

// Keeps the named layers (in network order); throws on a name not in it.
void select_layers(Network& network, const std::vector<std::string>& names);

}  // namespace laconic
