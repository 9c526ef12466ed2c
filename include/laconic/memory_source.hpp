// Values that live in memory in a numeric type of their own (a framework's
// tensor, a NumPy array), read as the integers of MODEL.md §2 without a copy:
// integers as they are (less a zero point), floats through fixed, linear or
// integral quantization, converted value by value as an engine reads them.
// Live profiling (host/python) reads a model's tensors through it; the cuda
// engine reads one whose values are in device memory on the device itself
// (laconic/grid.hpp, Backend::launch_resident).
//
// The per-value conversion is written once for the host and the device, and
// quantize.cpp's fixed and linear quantization of .npy traces use the same
// formulas, so a value quantized live equals the value laconic computes from
// a dumped float trace with the same settings, bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "laconic/host_device.hpp"
#include "laconic/quantize.hpp"
#include "laconic/tensor.hpp"

namespace laconic {

// The element types a MemorySource holds: NumPy's i1 … i8, f4, f8.
enum class ValueType : std::uint8_t { i8, u8, i16, u16, i32, u32, i64, f32, f64 };

std::string_view to_string(ValueType type);  // NumPy's names: "int8", ..., "float64"
std::size_t value_size(ValueType type);       // bytes per value
bool is_float(ValueType type);

// §2 linear quantization of a tensor whose range is min..max, to `bits`:
// signed (min < 0) maps max|x| to 2^(P−1) − 1, v = round(x · target / max|x|);
// unsigned maps min..max onto 0..2^P − 1, v = round((x − min) · target / (max
// − min)); an unsigned constant tensor maps 0 to 0 and any other value to
// 2^P − 1. Computed once per tensor, on the host.
struct LinearMap {
  bool is_signed = false;
  bool constant = false;   // unsigned, min == max
  bool tiny_span = false;  // target / span overflows (a span of denormals): divide first
  double offset = 0;       // min when unsigned, else 0
  double span = 1;         // max|x| or max − min
  double target = 0;       // 2^(P−1) − 1 or 2^P − 1
  double scale = 0;        // target / span
  double top = 0;          // 2^P − 1
};
LinearMap linear_map(double min, double max, int bits);

// The C math functions of host and device code.
namespace math {
#if defined(__CUDA_ARCH__)
LACONIC_HOST_DEVICE inline double round(double x) { return ::round(x); }
LACONIC_HOST_DEVICE inline double floor(double x) { return ::floor(x); }
LACONIC_HOST_DEVICE inline double ldexp(double x, int e) { return ::ldexp(x, e); }
LACONIC_HOST_DEVICE inline bool isfinite(double x) { return ::isfinite(x); }
#else
// C's round() (halves away from zero) without the library call and without a
// branch (the fractions of real data are random: a branch on them is
// mispredicted every other value). x − trunc(x) is exact for every double,
// so this is round() for every input, signed zeros included (trunc is one
// instruction with SSE4.1, part of x86-64-v2).
inline double round(double x) {
  const double whole = std::trunc(x);
  return whole + std::copysign(static_cast<double>(std::fabs(x - whole) >= 0.5), x);
}
inline double floor(double x) { return std::floor(x); }
inline double ldexp(double x, int e) { return std::ldexp(x, e); }
inline bool isfinite(double x) { return std::isfinite(x); }
#endif
}  // namespace math

// §2 fixed point with int_bits and frac_bits: the scale 2^frac and the clip
// 2^(int+frac) − 1, once per tensor. x · 2^frac is ldexp(x, frac) exactly:
// scaling by a power of two rounds nothing, and overflows to ±inf alike.
struct FixedPoint {
  double scale = 1;
  double limit = 0;
};
LACONIC_HOST_DEVICE inline FixedPoint fixed_point(int int_bits, int frac_bits) {
  return FixedPoint{math::ldexp(1.0, frac_bits), math::ldexp(1.0, int_bits + frac_bits) - 1.0};
}

// §2: round(x · 2^frac) (half away from zero), clipped to ±(2^(int+frac) − 1),
// or to 0..2^(int+frac) − 1 when not signed. A double holding an integer.
LACONIC_HOST_DEVICE inline double fixed_point_value(double x, const FixedPoint& f, bool is_signed) {
  const double v = math::round(x * f.scale);
  const double low = is_signed ? -f.limit : 0.0;
  return v < low ? low : v > f.limit ? f.limit : v;
}

// §2 linear: the integer (as a double) that `map` gives x. With `saturate`,
// a value beyond the map's range (new data against a calibrated range) is
// clipped to the quantized range instead of leaving it.
LACONIC_HOST_DEVICE inline double linear_value(double x, const LinearMap& map, bool saturate) {
  if (map.constant) return x == 0 ? 0.0 : map.top;
  const double v = math::round(map.tiny_span ? (x - map.offset) / map.span * map.target : (x - map.offset) * map.scale);
  if (!saturate) return v;
  const double low = map.is_signed ? -map.target : 0.0;
  const double high = map.is_signed ? map.target : map.top;
  return v < low ? low : v > high ? high : v;
}

// How a MemorySource's values become integers. Plain data, passed by value
// to the cuda engine's kernels.
struct ValueConversion {
  // none: integer values, v = x − zero_point; fixed, linear, integral: float
  // values, as for .npy traces (README "Network manifest"). Not dnnsim,
  // which decides per trace file (MemorySource refuses it).
  QuantizeMode mode = QuantizeMode::none;
  Precision precision;              // the declared width p (§2); v must fit it
  int int_bits = 0, frac_bits = 0;  // fixed
  FixedPoint fixed;                 // fixed: set from int_bits, frac_bits by MemorySource
  LinearMap linear;                 // linear
  bool saturate = false;            // linear: clip values outside the range (calibrated ranges)
  std::int64_t zero_point = 0;      // none: a quantized model's zero point, |z| < 2^32
};

enum class ConvertStatus : std::uint8_t {
  ok,
  not_finite,         // a float that is NaN or infinite
  not_integer,        // integral: a float with a fraction
  out_of_width,       // v outside the declared width
  negative_unsigned,  // fixed: a negative v for a tensor declared unsigned
};

// §2 for one value: writes v to *out, or says why it cannot.
template <class T>
LACONIC_HOST_DEVICE inline ConvertStatus convert_value(T raw, const ValueConversion& c, std::int64_t* out) {
  const int bits = c.precision.bits;
  const std::int64_t lowest = c.precision.is_signed ? -(std::int64_t{1} << (bits - 1)) : 0;
  const std::int64_t highest =
      c.precision.is_signed ? (std::int64_t{1} << (bits - 1)) - 1 : (std::int64_t{1} << bits) - 1;
  if constexpr (std::is_integral_v<T>) {
    const auto x = static_cast<std::int64_t>(raw);
    // Bounds and zero point are below 2^33 in magnitude: no overflow.
    if (x < lowest + c.zero_point || x > highest + c.zero_point) return ConvertStatus::out_of_width;
    *out = x - c.zero_point;
    return ConvertStatus::ok;
  } else {
    const auto x = static_cast<double>(raw);
    if (!math::isfinite(x)) return ConvertStatus::not_finite;
    double v = 0;
    if (c.mode == QuantizeMode::fixed) {
      v = fixed_point_value(x, c.fixed, true);
      if (!c.precision.is_signed && v < 0) return ConvertStatus::negative_unsigned;
      *out = static_cast<std::int64_t>(v);
      return ConvertStatus::ok;
    }
    if (c.mode == QuantizeMode::linear) {
      v = linear_value(x, c.linear, c.saturate);
      // Magnitudes within the width; the sign follows the data (§2).
      if (!(v >= -c.linear.top && v <= c.linear.top)) return ConvertStatus::out_of_width;
      *out = static_cast<std::int64_t>(v);
      return ConvertStatus::ok;
    }
    // integral
    if (x != math::floor(x)) return ConvertStatus::not_integer;
    if (x < static_cast<double>(lowest) || x > static_cast<double>(highest)) return ConvertStatus::out_of_width;
    *out = static_cast<std::int64_t>(x);
    return ConvertStatus::ok;
  }
}

// A tensor's values in memory it does not own: `count` values of `type`, C
// order, at `data`. `on_device` says the memory is a CUDA device's: then
// only the cuda engine reads it (on the device, grid.hpp), and read() is an
// error. The memory must stay valid and unchanged while the source is used.
class MemorySource final : public TensorSource {
 public:
  // `label` says what the tensor is in messages ("layer 'conv1'
  // activations"); `shape` (optional, product = count) names elements as
  // index tuples in them. Throws laconic::Error naming the label when the
  // conversion does not fit the type: a quantization for integer values, none
  // for floats, dnnsim, a precision outside 1..32 bits, a zero point of 2^32 or
  // more.
  MemorySource(const void* data, ValueType type, std::uint64_t count, ValueConversion conversion, bool on_device,
               std::string label, std::vector<std::uint64_t> shape = {});

  std::uint64_t size() const override { return count_; }
  void read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const override;
  std::string name() const override { return label_; }

  const void* data() const { return data_; }
  ValueType type() const { return type_; }
  const ValueConversion& conversion() const { return conversion_; }
  bool on_device() const { return on_device_; }

  // The message for element `index` whose value (value_size(type()) bytes at
  // `raw`, copied from wherever the memory is) failed with `status`.
  std::string conversion_error(std::uint64_t index, ConvertStatus status, const void* raw) const;

 private:
  const void* data_;
  ValueType type_;
  std::uint64_t count_;
  ValueConversion conversion_;
  bool on_device_;
  std::string label_;
  std::vector<std::uint64_t> shape_;
};

// Smallest and largest of `count` float values at `data` (host memory), for
// per-tensor linear quantization of a whole tensor. Throws laconic::Error
// naming `label` and the element at the first value that is not finite.
struct ValueRange {
  double min = 0, max = 0;  // 0, 0 for an empty tensor
};
ValueRange value_range(const void* data, ValueType type, std::uint64_t count, const std::string& label,
                       const std::vector<std::uint64_t>& shape = {});

}  // namespace laconic
