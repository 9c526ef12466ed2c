// The host parts of the shared model arithmetic (laconic/model.hpp).
#include "laconic/model.hpp"

#include <algorithm>

namespace laconic {

namespace {
std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
}  // namespace

bool folds_first_layer(const LayerShape& shape, const ProfileConfig& config) {
  return config.fold_first_layer && shape.type == LayerType::conv && shape.channels == 3 && shape.groups == 1 &&
         shape.stride_h == shape.stride_w && shape.stride_h > 1;
}

LayerShape folded_shape(const LayerShape& shape) {
  const std::int64_t sigma = shape.stride_h;
  LayerShape folded;
  folded.type = LayerType::conv;
  folded.channels = 3 * sigma * sigma;
  folded.height = ceil_div(shape.padded_height(), sigma);
  folded.width = ceil_div(shape.padded_width(), sigma);
  folded.filters = shape.filters;
  folded.kernel_height = ceil_div(shape.kernel_height, sigma);
  folded.kernel_width = ceil_div(shape.kernel_width, sigma);
  folded.stride_h = folded.stride_w = 1;
  folded.padding = Padding{};
  folded.groups = 1;
  return folded;
}

LayerShape cycles_shape(const LayerShape& shape, const ProfileConfig& config) {
  return folds_first_layer(shape, config) ? folded_shape(shape) : shape;
}

bool maps_diagonally(const LayerShape& shape, const ProfileConfig& config) {
  return config.depthwise == DepthwiseMapping::diagonal && shape.type == LayerType::conv &&
         shape.channels_per_group() == 1 && shape.channels > 1;
}

StepPlan step_plan(const LayerShape& shape, const Geometry& geometry, bool diagonal) {
  StepPlan plan;
  plan.diagonal = diagonal;
  plan.columns = geometry.columns;
  plan.windows = shape.out_height() * shape.out_width();
  plan.window_sets = ceil_div(plan.windows, geometry.columns);
  plan.kernel_offsets = shape.kernel_height * shape.kernel_width;
  plan.filters = shape.filters;
  plan.channels_per_group = shape.channels_per_group();
  plan.filters_per_channel = shape.filters_per_group();
  if (diagonal) {
    const std::int64_t width = std::min(geometry.lanes, geometry.rows);  // L' = Rt' = min(L, Rt)
    plan.groups = ceil_div(shape.filters, width);
    plan.group_lanes = plan.lanes = plan.group_filters = plan.set_size = width;
  } else {
    plan.groups = shape.groups;
    plan.group_lanes = shape.channels_per_group();
    plan.lanes = geometry.lanes;
    plan.group_filters = shape.filters_per_group();
    plan.set_size = geometry.filters_in_flight();
  }
  plan.filter_sets = ceil_div(plan.group_filters, plan.set_size);
  plan.channel_blocks = ceil_div(plan.group_lanes, plan.lanes);
  return plan;
}

FcBlocks fc_blocks(const LayerShape& shape, const Geometry& geometry) {
  return FcBlocks{ceil_div(shape.filters, geometry.filters_in_flight()), ceil_div(shape.channels, geometry.lanes)};
}

Cycles data_independent_cycles(const LayerShape& shape, const ProfileConfig& config, int activation_bits) {
  const auto p_a = static_cast<std::uint64_t>(activation_bits);
  const Geometry& baseline = config.geometry(Accelerator::baseline);
  const Geometry& stripes = config.geometry(Accelerator::stripes);
  Cycles cycles;
  if (shape.type == LayerType::fc) {
    auto recurrence = [&](const Geometry& g, std::uint64_t cost) {
      std::vector<std::uint64_t> busy(static_cast<std::size_t>(g.columns));
      return fc_recurrence(fc_blocks(shape, g).blocks(), g.columns, busy.data(), [&](std::uint64_t) { return cost; });
    };
    cycles.baseline = recurrence(baseline, 1);
    cycles.stripes = recurrence(stripes, p_a);
    return cycles;
  }
  const LayerShape counted = cycles_shape(shape, config);
  const bool diagonal = maps_diagonally(shape, config);
  cycles.baseline = step_plan(counted, baseline, diagonal).steps();
  cycles.stripes = step_plan(counted, stripes, diagonal).steps() * p_a;
  return cycles;
}

}  // namespace laconic
