// The accelerators' settings of a run as users write them (README
// "Accelerators and their configuration"): a JSON configuration file for
// sweeps, and the values of the command-line options. One parser for the CLI
// and for scripts; the CLI only decides the order in which they apply.
//
// Order of precedence (each later step overrides what it sets):
//   1. the preset (`--preset`, default dnnsim; MODEL.md §8),
//   2. the configuration file (`--config FILE`; its own "preset" first),
//   3. the old `--tiles --rows --columns --lanes` (each sets that dimension of
//      every accelerator),
//   4. `--geometry ACCELERATOR=T,Rt,Ct,L` entries, in order,
//   5. `--shifter-bits`, `--column-registers`, `--depthwise`,
//      `--fold-first-layer`, `--encoding`, `--baseline-width`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "laconic/config.hpp"

namespace laconic {

// The keys a configuration file may hold, in the order the README lists them.
const std::vector<std::string>& profile_config_keys();

// Applies a configuration file's JSON text over `base` and returns the result,
// validated (ProfileConfig::validate). The document is an object with any of
//   "preset": "dnnsim" | "equal"       the preset's accelerator settings
//                                      (geometries, B, registers, depthwise
//                                      mapping, fold) replace base's first;
//                                      encoding and baseline width stay
//   "encoding": "binary" | "booth" | "naf" | "dnnsim-booth"
//   "baseline_width": 1..32
//   "geometry": {"all" | ACCELERATOR: [T, Rt, Ct, L] or
//                {"tiles", "rows", "columns", "lanes"} (any of them)}
//                                      "all" first, then each accelerator
//   "shifter_bits": 0..31 | "inf"      Pragmatic's first-stage shifter B (§9)
//   "column_registers": {"pragmatic" | "laconic" | "all": R}    (§8)
//   "depthwise": "per-group" | "diagonal"                        (§8)
//   "fold_first_layer": true | false                             (§8)
// JSON comments are allowed. `named_preset`, when given, receives the
// file's "preset" (nullopt when it has none). Throws laconic::Error naming
// `path` and the key: not JSON, not an object, an unknown key (with a
// suggestion), a value of the wrong type or out of range, baseline or Stripes
// column registers.
ProfileConfig parse_profile_config(const std::string& json_text, const std::string& path, const ProfileConfig& base,
                                   std::optional<Preset>* named_preset = nullptr);

// Reads the file at `path`, then parse_profile_config. Throws laconic::Error
// naming the file when it does not exist, is a directory or cannot be read.
ProfileConfig read_profile_config(const std::string& path, const ProfileConfig& base,
                                  std::optional<Preset>* named_preset = nullptr);

// Command-line values. Each throws laconic::Error saying what is wrong with
// `text` (without the option's name, which the caller adds).

// "ACCELERATOR=T,Rt,Ct,L" (ACCELERATOR one of baseline, stripes, pragmatic,
// laconic, or all): sets that accelerator's geometry (all: every one's).
void apply_geometry_setting(ProfileConfig& config, std::string_view text);

// "pragmatic=R", "laconic=R" or "all=R" (both): column registers (§8). The
// baseline and Stripes have none (refused with the reason).
void apply_column_registers_setting(ProfileConfig& config, std::string_view text);

// "0".."31" or "inf" (kShifterUnbounded): Pragmatic's first-stage shifter bits B (§9).
int parse_shifter_bits(std::string_view text);

// "on" or "off".
bool parse_on_off(std::string_view text);

// "per-group" or "diagonal".
DepthwiseMapping parse_depthwise_setting(std::string_view text);

// "dnnsim" or "equal".
Preset parse_preset_setting(std::string_view text);

// One of the encodings' names (binary, booth, naf, dnnsim-booth).
Encoding parse_encoding_setting(std::string_view text);

// "inf" for kShifterUnbounded, else the number.
std::string shifter_bits_text(int shifter_bits);

}  // namespace laconic
