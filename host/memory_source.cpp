#include "laconic/memory_source.hpp"

#include <cstring>
#include <limits>
#include <sstream>

#include "laconic/error.hpp"

namespace laconic {

std::string_view to_string(ValueType type) {
  switch (type) {
    case ValueType::i8: return "int8";
    case ValueType::u8: return "uint8";
    case ValueType::i16: return "int16";
    case ValueType::u16: return "uint16";
    case ValueType::i32: return "int32";
    case ValueType::u32: return "uint32";
    case ValueType::i64: return "int64";
    case ValueType::f32: return "float32";
    case ValueType::f64: return "float64";
  }
  return "?";
}

std::size_t value_size(ValueType type) {
  switch (type) {
    case ValueType::i8:
    case ValueType::u8: return 1;
    case ValueType::i16:
    case ValueType::u16: return 2;
    case ValueType::i32:
    case ValueType::u32:
    case ValueType::f32: return 4;
    case ValueType::i64:
    case ValueType::f64: return 8;
  }
  return 1;
}

bool is_float(ValueType type) { return type == ValueType::f32 || type == ValueType::f64; }

LinearMap linear_map(double min, double max, int bits) {
  LinearMap m;
  m.is_signed = min < 0;
  m.top = std::ldexp(1.0, bits) - 1.0;
  if (m.is_signed) {
    m.span = std::max(-min, max);
    m.target = std::ldexp(1.0, bits - 1) - 1.0;
  } else if (max > min) {
    m.span = max - min;
    m.target = m.top;
    m.offset = min;
  } else {
    m.constant = true;
  }
  m.scale = m.target / m.span;
  // A span of denormals (0 and 5e-324) overflows the scale to infinity, and
  // inf · 0 is NaN: divide first for those.
  m.tiny_span = !std::isfinite(m.scale);
  return m;
}

namespace {

// Calls f(T{}) with T the C++ type of `type`.
template <class F>
decltype(auto) with_type(ValueType type, F&& f) {
  switch (type) {
    case ValueType::i8: return f(std::int8_t{});
    case ValueType::u8: return f(std::uint8_t{});
    case ValueType::i16: return f(std::int16_t{});
    case ValueType::u16: return f(std::uint16_t{});
    case ValueType::i32: return f(std::int32_t{});
    case ValueType::u32: return f(std::uint32_t{});
    case ValueType::i64: return f(std::int64_t{});
    case ValueType::f32: return f(float{});
    case ValueType::f64: return f(double{});
  }
  return f(std::uint8_t{});
}

std::string element_text(std::uint64_t flat, const std::vector<std::uint64_t>& shape) {
  if (shape.empty()) return std::to_string(flat);
  std::vector<std::uint64_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] == 0 ? 0 : flat % shape[d];
    flat = shape[d] == 0 ? 0 : flat / shape[d];
  }
  return shape_to_string(index);
}

template <class T>
std::string value_text(T v) {
  std::ostringstream out;
  out.precision(17);
  out << +v;
  return out.str();
}

std::string precision_text(const Precision& p) {
  return std::to_string(p.bits) + "-bit " + (p.is_signed ? "signed" : "unsigned") + " range " +
         std::to_string(p.min_value()) + ".." + std::to_string(p.max_value());
}

}  // namespace

MemorySource::MemorySource(const void* data, ValueType type, std::uint64_t count, ValueConversion conversion,
                           bool on_device, std::string label, std::vector<std::uint64_t> shape)
    : data_(data),
      type_(type),
      count_(count),
      conversion_(conversion),
      on_device_(on_device),
      label_(std::move(label)),
      shape_(std::move(shape)) {
  const ValueConversion& c = conversion_;
  // A DNNsim precision profile decides per tensor file (§7a, integral or
  // fixed point after scanning the whole file): not a per-value conversion.
  if (c.mode == QuantizeMode::dnnsim)
    throw Error(label_ + ": dnnsim quantization applies to trace files with a DNNsim precision profile; say fixed "
                "or integral for values in memory");
  if (c.precision.bits < 1 || c.precision.bits > 32)
    throw Error(label_ + ": a precision of " + std::to_string(c.precision.bits) + " bits is outside 1..32");
  if (is_float(type_) && c.mode == QuantizeMode::none)
    throw Error(label_ + " holds " + std::string(to_string(type_)) +
                " floats: say how to quantize them (fixed, linear or integral)");
  if (!is_float(type_) && c.mode != QuantizeMode::none && c.mode != QuantizeMode::integral)
    throw Error(label_ + ": " + std::string(to_string(c.mode)) + " quantization applies to floats; these are " +
                std::string(to_string(type_)) + " integers");
  if (c.zero_point <= -(std::int64_t{1} << 32) || c.zero_point >= (std::int64_t{1} << 32))
    throw Error(label_ + ": zero point " + std::to_string(c.zero_point) + " is outside ±2^32");
  if (c.mode == QuantizeMode::fixed && (c.int_bits < 0 || c.frac_bits < 0 || c.int_bits + c.frac_bits != c.precision.bits))
    throw Error(label_ + ": fixed point " + std::to_string(c.int_bits) + "." + std::to_string(c.frac_bits) +
                " does not have the declared " + std::to_string(c.precision.bits) + " bits");
  if (data_ == nullptr && count_ != 0) throw Error(label_ + ": no data");
  if (c.mode == QuantizeMode::fixed) conversion_.fixed = fixed_point(c.int_bits, c.frac_bits);
}

std::string MemorySource::conversion_error(std::uint64_t index, ConvertStatus status, const void* raw) const {
  const std::string value = with_type(type_, [&](auto tag) {
    decltype(tag) v;
    std::memcpy(&v, raw, sizeof v);
    return value_text(v);
  });
  const ValueConversion& c = conversion_;
  std::string what;
  switch (status) {
    case ConvertStatus::ok: what = "is valid"; break;
    case ConvertStatus::not_finite: what = "is not a finite number"; break;
    case ConvertStatus::not_integer: what = "is not an integer"; break;
    case ConvertStatus::negative_unsigned: what = "is negative but the tensor is declared unsigned"; break;
    case ConvertStatus::out_of_width:
      if (c.mode == QuantizeMode::linear)
        what = "does not fit " + std::to_string(c.precision.bits) + " bits under the linear quantization";
      else if (c.zero_point != 0)
        what = "less the zero point " + std::to_string(c.zero_point) + " is outside the declared " +
               precision_text(c.precision);
      else
        what = "is outside the declared " + precision_text(c.precision);
      break;
  }
  return label_ + ": element " + element_text(index, shape_) + " = " + value + " " + what;
}

void MemorySource::read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const {
  if (on_device_)
    throw Error(label_ + ": the values are in a CUDA device's memory, which only the cuda engine reads");
  if (first > count_ || count > count_ - first)
    throw Error(label_ + ": read of elements " + std::to_string(first) + "+" + std::to_string(count) +
                " past the end (" + std::to_string(count_) + " values)");
  with_type(type_, [&](auto tag) {
    using T = decltype(tag);
    const T* values = static_cast<const T*>(data_) + first;
    for (std::uint64_t i = 0; i < count; ++i) {
      const ConvertStatus status = convert_value(values[i], conversion_, &out[i]);
      if (status != ConvertStatus::ok) throw Error(conversion_error(first + i, status, &values[i]));
    }
  });
}

ValueRange value_range(const void* data, ValueType type, std::uint64_t count, const std::string& label,
                       const std::vector<std::uint64_t>& shape) {
  ValueRange r{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  with_type(type, [&](auto tag) {
    using T = decltype(tag);
    const T* values = static_cast<const T*>(data);
    for (std::uint64_t i = 0; i < count; ++i) {
      const auto x = static_cast<double>(values[i]);
      if (!std::isfinite(x))
        throw Error(label + ": element " + element_text(i, shape) + " is " + value_text(values[i]) +
                    "; it must be finite to be quantized");
      r.min = std::min(r.min, x);
      r.max = std::max(r.max, x);
    }
  });
  if (count == 0) r = ValueRange{};
  return r;
}

}  // namespace laconic
