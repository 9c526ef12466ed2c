// laconic._core: the C++ library as a Python extension (pybind11). This file
// only converts: NumPy arrays (by the buffer they already have) and DLPack
// tensors (by their DLTensor, host or CUDA memory) become MemorySources,
// Python options become ConfigOptions, laconic::Error becomes laconic.Error
// (a ValueError), and the GIL is released while an engine works. What a
// session does is in session.hpp; the Python package (laconic/__init__.py,
// laconic/torch.py) checks arguments and gives them their Python form.
#include <dlpack/dlpack.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "laconic/device.hpp"
#include "laconic/error.hpp"
#include "laconic/file_io.hpp"
#include "laconic/report.hpp"
#include "session.hpp"

namespace py = pybind11;
using laconic::Error;
using laconic::LayerShape;
using laconic::NetworkResult;
using laconic::ValueType;
using laconic::live::Session;
using laconic::live::TensorArgument;

namespace {

// A tensor where laconic cannot read it (another device): Python's BufferError.
class BufferError : public Error {
 public:
  using Error::Error;
};

// ---------------------------------------------------------------------------
// Tensors.

// A DLPack tensor taken from its capsule: renamed "used_dltensor" at once (so
// that the capsule no longer frees it) and handed back to its producer's
// deleter when the call is done, with the GIL held.
class DLPackTensor {
 public:
  explicit DLPackTensor(const py::capsule& capsule) {
    if (std::string(capsule.name() == nullptr ? "" : capsule.name()) != "dltensor")
      throw Error("a DLPack capsule must be named \"dltensor\" (one not yet consumed), not \"" +
                  std::string(capsule.name() == nullptr ? "" : capsule.name()) + "\"");
    managed_ = capsule.get_pointer<DLManagedTensor>();
    if (PyCapsule_SetName(capsule.ptr(), "used_dltensor") != 0) throw py::error_already_set();
  }
  ~DLPackTensor() {
    if (managed_ != nullptr && managed_->deleter != nullptr) managed_->deleter(managed_);
  }
  DLPackTensor(const DLPackTensor&) = delete;
  DLPackTensor& operator=(const DLPackTensor&) = delete;
  const DLTensor& tensor() const { return managed_->dl_tensor; }

 private:
  DLManagedTensor* managed_ = nullptr;
};

ValueType value_type(char kind, std::size_t bytes, const std::string& what, const std::string& dtype_name) {
  if (kind == 'i' && bytes == 1) return ValueType::i8;
  if (kind == 'u' && bytes == 1) return ValueType::u8;
  if (kind == 'i' && bytes == 2) return ValueType::i16;
  if (kind == 'u' && bytes == 2) return ValueType::u16;
  if (kind == 'i' && bytes == 4) return ValueType::i32;
  if (kind == 'u' && bytes == 4) return ValueType::u32;
  if (kind == 'i' && bytes == 8) return ValueType::i64;
  if (kind == 'f' && bytes == 4) return ValueType::f32;
  if (kind == 'f' && bytes == 8) return ValueType::f64;
  throw Error(what + " are " + dtype_name +
              "; laconic reads int8, uint8, int16, uint16, int32, uint32, int64, float32 and float64");
}

// What `object` (a NumPy array or a DLPack capsule) holds, without a copy.
// The array or the DLPackTensor stays alive in `keep`/`dlpack` meanwhile.
// A DLPack tensor on the CPU counts as device memory for the emulated
// engine (whose device is the host), so that tests reach its resident path.
TensorArgument tensor_argument(const py::handle& object, const std::string& what, bool emulated,
                               std::optional<DLPackTensor>& dlpack) {
  TensorArgument t;
  if (py::isinstance<py::capsule>(object)) {
    dlpack.emplace(py::reinterpret_borrow<py::capsule>(object));
    const DLTensor& d = dlpack->tensor();
    if (d.device.device_type == kDLCUDA) {
      t.on_device = true;
    } else if (d.device.device_type == kDLCPU || d.device.device_type == kDLCUDAHost) {
      t.on_device = emulated;
    } else {
      throw Error(what + " are on a device of DLPack type " + std::to_string(d.device.device_type) +
                  "; laconic reads host memory and CUDA devices");
    }
    if (d.device.device_type == kDLCUDA && d.device.device_id != 0)
      throw BufferError(what + " are on CUDA device " + std::to_string(d.device.device_id) +
                        "; the cuda engine runs on device 0");
    if (d.dtype.lanes != 1) throw Error(what + " have vector elements (DLPack lanes " + std::to_string(d.dtype.lanes) + ")");
    const char kind = d.dtype.code == kDLInt ? 'i' : d.dtype.code == kDLUInt ? 'u' : d.dtype.code == kDLFloat ? 'f' : '?';
    t.type = value_type(kind, d.dtype.bits / 8u, what,
                        "DLPack type code " + std::to_string(d.dtype.code) + " of " + std::to_string(d.dtype.bits) + " bits");
    std::int64_t expected = 1;
    for (int i = d.ndim - 1; i >= 0; --i) {
      if (d.strides != nullptr && d.shape[i] != 1 && d.strides[i] != expected)
        throw Error(what + " are not contiguous in C order; make them so first");
      expected *= d.shape[i];
    }
    for (int i = 0; i < d.ndim; ++i) t.shape.push_back(static_cast<std::uint64_t>(d.shape[i]));
    t.data = static_cast<const unsigned char*>(d.data) + d.byte_offset;
    return t;
  }
  if (!py::isinstance<py::array>(object))
    throw Error(what + " must be a NumPy array or a DLPack capsule, not " +
                std::string(py::str(py::type::handle_of(object).attr("__name__"))));
  const auto array = py::reinterpret_borrow<py::array>(object);
  const py::dtype dtype = array.dtype();
  if (!(array.flags() & py::array::c_style)) throw Error(what + " are not contiguous in C order; make them so first");
  if (dtype.byteorder() == '>') throw Error(what + " are big-endian");
  t.type = value_type(dtype.kind(), static_cast<std::size_t>(dtype.itemsize()), what, dtype.attr("name").cast<std::string>());
  for (py::ssize_t i = 0; i < array.ndim(); ++i) t.shape.push_back(static_cast<std::uint64_t>(array.shape(i)));
  t.data = array.data();
  return t;
}

template <class T>
std::optional<T> get(const py::dict& spec, const char* key) {
  if (!spec.contains(key) || spec[key].is_none()) return std::nullopt;
  return spec[key].cast<T>();
}

// A quantization as the Python package describes it: {"mode": "none" |
// "fixed" | "linear" | "integral", "bits", "signed", "int_bits",
// "frac_bits", "min", "max" (linear: a calibrated range), "zero_point"}.
void apply_spec(TensorArgument& t, const py::dict& spec, const std::string& what) {
  laconic::ValueConversion& c = t.conversion;
  const std::string mode = get<std::string>(spec, "mode").value_or("none");
  if (mode == "none") c.mode = laconic::QuantizeMode::none;
  else if (mode == "fixed") c.mode = laconic::QuantizeMode::fixed;
  else if (mode == "linear") c.mode = laconic::QuantizeMode::linear;
  else if (mode == "integral") c.mode = laconic::QuantizeMode::integral;
  else throw Error(what + ": quantization '" + mode + "' is not one of none, fixed, linear, integral");
  c.int_bits = get<int>(spec, "int_bits").value_or(0);
  c.frac_bits = get<int>(spec, "frac_bits").value_or(0);
  c.zero_point = get<std::int64_t>(spec, "zero_point").value_or(0);
  const auto bits = get<int>(spec, "bits");
  const auto is_signed = get<bool>(spec, "signed");
  if (c.mode == laconic::QuantizeMode::fixed) {
    c.precision = laconic::Precision{c.int_bits + c.frac_bits, is_signed.value_or(true)};
  } else if (c.mode == laconic::QuantizeMode::none) {
    // Integers default to their type's width and signedness, as .npy traces.
    const bool type_signed = t.type == ValueType::i8 || t.type == ValueType::i16 || t.type == ValueType::i32 ||
                             t.type == ValueType::i64;
    const int type_bits = std::min(32, static_cast<int>(laconic::value_size(t.type) * 8));
    c.precision = laconic::Precision{bits.value_or(type_bits), is_signed.value_or(type_signed)};
  } else if (c.mode == laconic::QuantizeMode::linear) {
    if (!bits) throw Error(what + ": linear quantization needs bits");
    c.precision = laconic::Precision{*bits, true};
    const auto lo = get<double>(spec, "min");
    const auto hi = get<double>(spec, "max");
    if (lo.has_value() != hi.has_value()) throw Error(what + ": a linear range needs both min and max");
    if (lo) {
      if (!(std::isfinite(*lo) && std::isfinite(*hi) && *lo <= *hi))
        throw Error(what + ": the linear range " + std::to_string(*lo) + ".." + std::to_string(*hi) +
                    " is not a finite range");
      if (*bits < 1 || *bits > 32) throw Error(what + ": linear bits must be between 1 and 32, not " + std::to_string(*bits));
      c.linear = laconic::linear_map(*lo, *hi, *bits);
      c.saturate = true;
    } else {
      t.linear_own_range = true;
    }
  } else {
    c.precision = laconic::Precision{bits.value_or(16), is_signed.value_or(true)};
  }
  if (c.precision.bits < 1 || c.precision.bits > 32)
    throw Error(what + ": the declared width must be between 1 and 32 bits, not " + std::to_string(c.precision.bits));
}

// ---------------------------------------------------------------------------
// Reports.

struct Report {
  NetworkResult result;
};

void write_report(const std::string& path, const std::string& text, const char* what) {
  laconic::check_writable(path, what);
  laconic::write_file_atomically(path, text);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "laconic's C++ library: engines, live sessions and reports (use the laconic package)";
  // Tried in reverse order of registration: the derived class first.
  py::register_local_exception<Error>(m, "Error", PyExc_ValueError);
  py::register_local_exception<BufferError>(m, "BufferError", PyExc_BufferError);

  m.def("version", &laconic::version_string, "laconic's version");
  m.def("device", [] { return laconic::probe_devices().describe(); },
        "The CUDA device the cuda engine would use, in words (or why there is none)");
  m.def("cuda_built", [] { return laconic::probe_devices().status != laconic::DeviceProbe::Status::not_built; },
        "Whether this build has the cuda engine");

  py::class_<LayerShape>(m, "LayerShape", "A layer's shape and parameters (MODEL.md §1)")
      .def(py::init([](const std::string& type, std::int64_t channels, std::int64_t filters, std::int64_t height,
                       std::int64_t width, std::int64_t kernel_height, std::int64_t kernel_width, std::int64_t stride_h,
                       std::int64_t stride_w, std::int64_t pad_top, std::int64_t pad_bottom, std::int64_t pad_left,
                       std::int64_t pad_right, std::int64_t groups) {
             LayerShape s;
             if (type == "conv") s.type = laconic::LayerType::conv;
             else if (type == "fc") s.type = laconic::LayerType::fc;
             else throw Error("a layer's type is conv or fc, not '" + type + "'");
             s.channels = channels;
             s.filters = filters;
             s.height = height;
             s.width = width;
             s.kernel_height = kernel_height;
             s.kernel_width = kernel_width;
             s.stride_h = stride_h;
             s.stride_w = stride_w;
             s.padding = laconic::Padding{pad_top, pad_bottom, pad_left, pad_right};
             s.groups = groups;
             return s;
           }),
           py::kw_only(), py::arg("type"), py::arg("channels"), py::arg("filters"), py::arg("height") = 1,
           py::arg("width") = 1, py::arg("kernel_height") = 1, py::arg("kernel_width") = 1, py::arg("stride_h") = 1,
           py::arg("stride_w") = 1, py::arg("pad_top") = 0, py::arg("pad_bottom") = 0, py::arg("pad_left") = 0,
           py::arg("pad_right") = 0, py::arg("groups") = 1)
      .def_property_readonly("type", [](const LayerShape& s) { return std::string(laconic::to_string(s.type)); })
      .def_readonly("channels", &LayerShape::channels)
      .def_readonly("filters", &LayerShape::filters)
      .def_readonly("height", &LayerShape::height)
      .def_readonly("width", &LayerShape::width)
      .def_readonly("kernel_height", &LayerShape::kernel_height)
      .def_readonly("kernel_width", &LayerShape::kernel_width)
      .def_readonly("stride_h", &LayerShape::stride_h)
      .def_readonly("stride_w", &LayerShape::stride_w)
      .def_readonly("groups", &LayerShape::groups)
      .def_property_readonly("padding",
                             [](const LayerShape& s) {
                               return py::make_tuple(s.padding.top, s.padding.bottom, s.padding.left, s.padding.right);
                             })
      .def("validate", &LayerShape::validate, py::arg("layer_name"),
           "Raises laconic.Error naming the layer when the shape is not a layer")
      .def("macs_per_sample", &LayerShape::macs_per_sample)
      .def("out_height", &LayerShape::out_height)
      .def("out_width", &LayerShape::out_width)
      .def("describe", &LayerShape::describe)
      .def("__repr__", [](const LayerShape& s) { return "<LayerShape " + s.describe() + ">"; });

  py::class_<Report>(m, "Report", "A profile: the reports of `laconic profile`, rendered by the same writers")
      .def("json", [](const Report& r, bool per_sample) { return laconic::json_report(r.result, per_sample); },
           py::arg("per_sample") = false, "The JSON report (README \"JSON report\")")
      .def("csv", [](const Report& r, bool per_sample) { return laconic::csv_report(r.result, per_sample); },
           py::arg("per_sample") = false, "The CSV report")
      .def("markdown", [](const Report& r) { return laconic::markdown_report(r.result); }, "The Markdown report")
      .def("write_json",
           [](const Report& r, const std::string& path, bool per_sample) {
             write_report(path, laconic::json_report(r.result, per_sample), "json");
           },
           py::arg("path"), py::arg("per_sample") = false)
      .def("write_csv",
           [](const Report& r, const std::string& path, bool per_sample) {
             write_report(path, laconic::csv_report(r.result, per_sample), "csv");
           },
           py::arg("path"), py::arg("per_sample") = false)
      .def("write_markdown",
           [](const Report& r, const std::string& path) {
             write_report(path, laconic::markdown_report(r.result), "markdown");
           },
           py::arg("path"))
      .def_property_readonly("network", [](const Report& r) { return r.result.network; })
      .def_property_readonly("engine", [](const Report& r) { return r.result.engine; })
      .def_property_readonly("source", [](const Report& r) { return r.result.source; })
      .def_property_readonly("layers",
                             [](const Report& r) {
                               std::vector<std::pair<std::string, std::uint64_t>> layers;
                               for (const auto& l : r.result.layers) layers.emplace_back(l.result.name, l.result.samples());
                               return layers;
                             });

  py::class_<Session>(m, "Session", "A live profiling session (laconic.Session wraps it)")
      .def(py::init([](const std::string& network, const std::string& engine, std::uint64_t device_memory, int threads,
                       std::uint64_t samples, std::optional<std::string> preset, std::optional<std::string> config_file,
                       std::optional<std::string> config_json, std::optional<std::int64_t> tiles,
                       std::optional<std::int64_t> rows, std::optional<std::int64_t> columns,
                       std::optional<std::int64_t> lanes, std::vector<std::string> geometry,
                       std::optional<std::string> shifter_bits, std::vector<std::string> column_registers,
                       std::optional<std::string> depthwise, std::optional<std::string> fold_first_layer,
                       std::optional<std::string> encoding, std::optional<std::int64_t> baseline_width) {
             laconic::live::ConfigOptions o;
             o.preset = preset;
             o.config_file = config_file;
             o.config_json = config_json;
             o.dimensions = {tiles, rows, columns, lanes};
             o.geometry = std::move(geometry);
             o.shifter_bits = shifter_bits;
             o.column_registers = std::move(column_registers);
             o.depthwise = depthwise;
             o.fold_first_layer = fold_first_layer;
             o.encoding = encoding;
             o.baseline_width = baseline_width;
             laconic::live::SessionOptions options;
             options.network = network;
             options.engine = engine;
             options.device_memory = device_memory;
             options.threads = threads;
             options.sample_limit = samples;
             return std::make_unique<Session>(options, laconic::live::make_config(o));
           }),
           py::kw_only(), py::arg("network"), py::arg("engine"), py::arg("device_memory"), py::arg("threads"),
           py::arg("samples"), py::arg("preset"), py::arg("config_file"), py::arg("config_json"), py::arg("tiles"),
           py::arg("rows"), py::arg("columns"), py::arg("lanes"), py::arg("geometry"), py::arg("shifter_bits"),
           py::arg("column_registers"), py::arg("depthwise"), py::arg("fold_first_layer"), py::arg("encoding"),
           py::arg("baseline_width"))
      .def(
          "add",
          [](Session& s, const std::string& name, const LayerShape& shape, const py::object& activations,
             const py::dict& activation_spec, const py::object& weights, const py::dict& weight_spec) {
            std::optional<DLPackTensor> activation_dlpack, weight_dlpack;
            TensorArgument a = tensor_argument(activations, "layer '" + name + "' activations", s.emulated(),
                                               activation_dlpack);
            apply_spec(a, activation_spec, "layer '" + name + "' activations");
            std::optional<TensorArgument> w;
            if (!weights.is_none()) {
              w = tensor_argument(weights, "layer '" + name + "' weights", false, weight_dlpack);
              apply_spec(*w, weight_spec, "layer '" + name + "' weights");
            }
            {
              py::gil_scoped_release release;
              s.add(name, shape, a, w ? &*w : nullptr);
            }
            // The DLPack tensors go back to their producers here, with the GIL.
          },
          py::arg("name"), py::arg("shape"), py::arg("activations"), py::arg("activation_spec"), py::arg("weights"),
          py::arg("weight_spec"))
      .def("begin_pass", &Session::begin_pass)
      .def("commit_pass", &Session::commit_pass)
      .def("discard_pass", &Session::discard_pass)
      .def_property_readonly("in_pass", &Session::in_pass)
      .def("layer_names", &Session::layer_names)
      .def("pass_layers", &Session::pass_layers)
      .def("samples", &Session::samples, py::arg("name"))
      .def_property_readonly("engine", &Session::engine_name)
      .def_property_readonly("emulated", &Session::emulated)
      .def_property_readonly("note", &Session::note, "What the engine choice has to say (a fallback), or ''")
      .def("report", [](const Session& s, const std::string& source) { return Report{s.result(source)}; },
           py::arg("source"));
}
