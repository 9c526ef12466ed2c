// A layer's shape and parameters (MODEL.md §1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace laconic {

enum class LayerType : std::uint8_t { conv, fc };

std::string_view to_string(LayerType type);

// Padding on each side of the input. MODEL.md §1 pads symmetrically (ph, pw);
// TensorFlow's "same" padding can pad one side more than the other, so the
// sides are kept apart. Positions in the padding read as activation 0.
struct Padding {
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;
  friend bool operator==(const Padding& a, const Padding& b) {
    return a.top == b.top && a.bottom == b.bottom && a.left == b.left && a.right == b.right;
  }
};

// Shape of one layer for one sample. Activations are A[c][h][w] (the input
// before padding), weights W[k][c'][r][s] with c' the channel within k's group.
// An FC layer is C inputs and K filters with H = W = R = S = 1.
struct LayerShape {
  LayerType type = LayerType::conv;
  std::int64_t channels = 0;       // C
  std::int64_t height = 1;         // H
  std::int64_t width = 1;          // W
  std::int64_t filters = 0;        // K
  std::int64_t kernel_height = 1;  // R
  std::int64_t kernel_width = 1;   // S
  std::int64_t stride_h = 1, stride_w = 1;
  Padding padding;
  std::int64_t groups = 1;

  std::int64_t channels_per_group() const { return channels / groups; }
  std::int64_t filters_per_group() const { return filters / groups; }
  // Ho = floor((H + top + bottom - R) / stride_h) + 1, likewise Wo (§1).
  std::int64_t out_height() const;
  std::int64_t out_width() const;
  std::int64_t padded_height() const { return height + padding.top + padding.bottom; }
  std::int64_t padded_width() const { return width + padding.left + padding.right; }
  // Values per sample of the activation tensor (C·H·W) and of the weights.
  std::int64_t activations_per_sample() const { return channels * height * width; }
  std::int64_t weight_count() const {
    return filters * channels_per_group() * kernel_height * kernel_width;
  }
  // MACs = K · Ho · Wo · (C/g) · R · S per sample (§1).
  std::int64_t macs_per_sample() const;

  // Throws laconic::Error naming `layer_name` when the shape is not a layer:
  // non-positive sizes, groups that do not divide C and K, an FC layer with
  // spatial extent, a kernel larger than the padded input (no output); or
  // when it is too large to count exactly: a height, width, kernel extent,
  // stride or padding above 2^31 - 1, or an input (padded or not), weight
  // count or MACs per sample beyond 64 bits.
  void validate(std::string_view layer_name) const;

  std::string describe() const;  // e.g. "conv 64x56x56 -> 64 filters 3x3 s1 p1 g1"
};

}  // namespace laconic
