#include "laconic/layer.hpp"

#include <initializer_list>
#include <sstream>
#include <utility>

#include "laconic/error.hpp"

namespace laconic {

std::string_view to_string(LayerType type) { return type == LayerType::conv ? "conv" : "fc"; }

// §1: Ho = floor((H + 2ph - R) / σh) + 1, here with the two sides apart.
// Floor division, so a kernel larger than the padded input gives Ho <= 0.
static std::int64_t output_extent(std::int64_t padded, std::int64_t kernel, std::int64_t stride) {
  const std::int64_t span = padded - kernel;
  if (span < 0) return 0;
  return span / stride + 1;
}

std::int64_t LayerShape::out_height() const {
  return output_extent(padded_height(), kernel_height, stride_h);
}

std::int64_t LayerShape::out_width() const {
  return output_extent(padded_width(), kernel_width, stride_w);
}

std::int64_t LayerShape::macs_per_sample() const {
  return filters * out_height() * out_width() * channels_per_group() * kernel_height * kernel_width;
}

void LayerShape::validate(std::string_view layer_name) const {
  const std::string where = "layer '" + std::string(layer_name) + "': ";
  auto fail = [&](const std::string& what) { throw Error(where + what + " (" + describe() + ")"); };
  if (channels <= 0) fail("the number of input channels must be positive");
  if (filters <= 0) fail("the number of filters must be positive");
  if (height <= 0 || width <= 0) fail("the input height and width must be positive");
  if (kernel_height <= 0 || kernel_width <= 0) fail("the kernel height and width must be positive");
  if (stride_h <= 0 || stride_w <= 0) fail("the stride must be positive");
  if (padding.top < 0 || padding.bottom < 0 || padding.left < 0 || padding.right < 0)
    fail("the padding must not be negative");
  if (groups <= 0) fail("groups must be positive");
  // Sizes come from file headers and manifests. Every product the engines
  // form from them must fit in 64 bits: a wrapped count is a wrong number
  // that looks right, and a wrapped index reads the wrong memory.
  constexpr std::int64_t kMaxExtent = (std::int64_t{1} << 31) - 1;
  for (const auto& [value, what] : {std::pair{height, "the input height"}, std::pair{width, "the input width"},
                                    std::pair{kernel_height, "the kernel height"},
                                    std::pair{kernel_width, "the kernel width"}, std::pair{stride_h, "the stride"},
                                    std::pair{stride_w, "the stride"}, std::pair{padding.top, "the padding"},
                                    std::pair{padding.bottom, "the padding"}, std::pair{padding.left, "the padding"},
                                    std::pair{padding.right, "the padding"}})
    if (value > kMaxExtent)
      fail(std::string(what) + " must be at most 2^31 - 1, not " + std::to_string(value));
  auto fits = [](std::initializer_list<std::int64_t> factors) {
    std::int64_t product = 1;
    for (std::int64_t f : factors)
      if (__builtin_mul_overflow(product, f, &product)) return false;
    return true;
  };
  if (!fits({channels, height, width}) || !fits({channels, padded_height(), padded_width()}))
    fail("the input is too large: its padded size does not fit in 64 bits");
  if (!fits({filters, channels / groups, kernel_height, kernel_width}))
    fail("the weights are too many: their count does not fit in 64 bits");
  if (!fits({filters, out_height(), out_width(), channels / groups, kernel_height, kernel_width}))
    fail("the layer is too large: its MACs per sample do not fit in 64 bits");
  if (channels % groups != 0)
    fail("groups (" + std::to_string(groups) + ") must divide the input channels (" +
         std::to_string(channels) + ")");
  if (filters % groups != 0)
    fail("groups (" + std::to_string(groups) + ") must divide the filters (" +
         std::to_string(filters) + ")");
  if (type == LayerType::fc) {
    if (height != 1 || width != 1 || kernel_height != 1 || kernel_width != 1 || groups != 1 ||
        stride_h != 1 || stride_w != 1 || !(padding == Padding{}))
      fail("an fc layer has no spatial extent, stride, padding or groups");
  }
  if (kernel_height > padded_height() || kernel_width > padded_width())
    fail("the kernel is larger than the padded input, so the layer has no output");
}

std::string LayerShape::describe() const {
  std::ostringstream out;
  if (type == LayerType::fc) {
    out << "fc " << channels << " -> " << filters;
    return out.str();
  }
  out << "conv " << channels << "x" << height << "x" << width << " -> " << filters << " filters "
      << kernel_height << "x" << kernel_width << " stride " << stride_h;
  if (stride_w != stride_h) out << "x" << stride_w;
  out << " pad ";
  if (padding.top == padding.bottom && padding.left == padding.right) {
    out << padding.top;
    if (padding.left != padding.top) out << "x" << padding.left;
  } else {
    out << padding.top << "/" << padding.bottom << "/" << padding.left << "/" << padding.right;
  }
  out << " groups " << groups;
  return out.str();
}

}  // namespace laconic
