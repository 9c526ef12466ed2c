// Tests of the accelerators' settings as users write them
// (include/laconic/run_config.hpp): the configuration file's parser and the
// command-line values, called as a program that drives laconic calls them.
// The CLI's own tests (test_cli.cpp, test_bad_input.cpp) check the same
// through the binary; these check the library's contract.

#include "laconic/run_config.hpp"

#include <gtest/gtest.h>

#include <string>

#include "test_util.hpp"

namespace laconic {
namespace {

using test::read_text;
using test::TempDir;
using test::throws_error;
using test::write_bytes;

ProfileConfig parse(const std::string& text, const ProfileConfig& base = ProfileConfig{},
                    std::optional<Preset>* named = nullptr) {
  return parse_profile_config(text, "c.json", base, named);
}

TEST(RunConfig, AnEmptyFileKeepsTheBase) {
  ProfileConfig base = ProfileConfig::preset(Preset::equal);
  base.encoding = Encoding::naf;
  base.baseline_width = 8;
  std::optional<Preset> named = Preset::dnnsim;
  EXPECT_EQ(parse("{}", base, &named), base);
  EXPECT_FALSE(named.has_value());
  EXPECT_EQ(parse("// nothing but a comment\n{}", base), base);
}

TEST(RunConfig, APresetReplacesTheAcceleratorsButNotTheEncodingOrWidth) {
  ProfileConfig base = ProfileConfig::preset(Preset::equal);
  base.encoding = Encoding::binary;
  base.baseline_width = 12;
  base.geometry(Accelerator::laconic).lanes = 4;
  std::optional<Preset> named;
  const ProfileConfig c = parse(R"({"preset": "dnnsim"})", base, &named);
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(*named, Preset::dnnsim);
  EXPECT_EQ(c.matching_preset(), Preset::dnnsim);
  EXPECT_EQ(c.encoding, Encoding::binary);
  EXPECT_EQ(c.baseline_width, 12);
  // The file's other keys apply after its preset, whatever their order in the file.
  const ProfileConfig d = parse(R"({"shifter_bits": 5, "preset": "equal"})");
  EXPECT_EQ(d.shifter_bits, 5);
  EXPECT_EQ(d.depthwise, DepthwiseMapping::per_group);
}

TEST(RunConfig, GeometriesAllFirstThenEachAccelerator) {
  const ProfileConfig c = parse(R"({"geometry": {
      "laconic": {"columns": 8}, "all": [2, 3, 4, 5], "baseline": [1, 1, 1, 1], "stripes": {"lanes": 9}}})");
  EXPECT_EQ(c.geometry(Accelerator::baseline), (Geometry{1, 1, 1, 1}));
  EXPECT_EQ(c.geometry(Accelerator::stripes), (Geometry{2, 3, 4, 9}));
  EXPECT_EQ(c.geometry(Accelerator::pragmatic), (Geometry{2, 3, 4, 5}));
  EXPECT_EQ(c.geometry(Accelerator::laconic), (Geometry{2, 3, 8, 5}));
  // A partial "all" changes that dimension of each accelerator's own geometry.
  const ProfileConfig d = parse(R"({"geometry": {"all": {"rows": 7}}})");
  EXPECT_EQ(d.geometry(Accelerator::baseline), (Geometry{16, 7, 1, 16}));
  EXPECT_EQ(d.geometry(Accelerator::laconic), (Geometry{16, 7, 16, 16}));
}

TEST(RunConfig, EveryOtherSetting) {
  const ProfileConfig c = parse(R"({"encoding": "dnnsim-booth", "baseline_width": 8, "shifter_bits": "inf",
      "column_registers": {"all": 3, "laconic": 1, "baseline": 0}, "depthwise": "per-group",
      "fold_first_layer": false})");
  EXPECT_EQ(c.encoding, Encoding::dnnsim_booth);
  EXPECT_EQ(c.baseline_width, 8);
  EXPECT_EQ(c.shifter_bits, kShifterUnbounded);
  EXPECT_EQ(c.registers(Accelerator::pragmatic), 3);
  EXPECT_EQ(c.registers(Accelerator::laconic), 1);
  EXPECT_EQ(c.registers(Accelerator::baseline), 0);
  EXPECT_EQ(c.depthwise, DepthwiseMapping::per_group);
  EXPECT_FALSE(c.fold_first_layer);
  EXPECT_EQ(parse(R"({"shifter_bits": 0})").shifter_bits, 0);
  EXPECT_EQ(parse(R"({"shifter_bits": 31.0})").shifter_bits, 31);
}

TEST(RunConfig, ErrorsNameTheFileAndTheKey) {
  EXPECT_TRUE(throws_error([] { parse(R"({"geometry": {"pragmatic": [16, 16, 16, 0]}})"); },
                           {"c.json: geometry.pragmatic[3]: lanes L must be a positive number, not 0"}));
  EXPECT_TRUE(throws_error([] { parse(R"({"geometry": {"all": {"tiles": 1048577}}})"); },
                           {"c.json: geometry.all.tiles: tiles T is implausibly large: 1048577"}));
  EXPECT_TRUE(throws_error([] { parse(R"({"shifter-bits": 2})"); },
                           {"c.json: unknown key 'shifter-bits' (did you mean 'shifter_bits'?)"}));
  EXPECT_TRUE(throws_error([] { parse(R"({"column_registers": {"stripes": 1}})"); },
                           {"c.json: column_registers.stripes: column registers of stripes: only pragmatic and laconic"}));
  EXPECT_TRUE(throws_error([] { parse(R"({"shifter_bits": 2.5})"); }, {"c.json: shifter_bits: must be an integer, not 2.5"}));
  EXPECT_TRUE(throws_error([] { parse(R"({"baseline_width": 99999999999999999999})"); }, {"c.json: baseline_width"}));
  EXPECT_TRUE(throws_error([] { parse(R"({"fold_first_layer": 1})"); }, {"c.json: fold_first_layer: must be true or false"}));
  EXPECT_TRUE(throws_error([] { parse("{\"preset\": \"dnnsim\"} trailing"); }, {"c.json: not valid JSON"}));
  EXPECT_TRUE(throws_error([] { parse("null"); }, {"c.json: a configuration file is a JSON object"}));
}

TEST(RunConfig, ReadsAFile) {
  TempDir dir;
  write_bytes(dir.file("c.json"), R"({"geometry": {"laconic": [1, 2, 3, 4]}})");
  EXPECT_EQ(read_profile_config(dir.file("c.json"), ProfileConfig{}).geometry(Accelerator::laconic),
            (Geometry{1, 2, 3, 4}));
  EXPECT_TRUE(throws_error([&] { read_profile_config(dir.file("none.json"), ProfileConfig{}); },
                           {dir.file("none.json"), "no such configuration file"}));
  EXPECT_TRUE(throws_error([&] { read_profile_config(dir.path().string(), ProfileConfig{}); },
                           {"is a directory, not a configuration file"}));
}

TEST(RunConfig, CommandLineValues) {
  ProfileConfig c;
  apply_geometry_setting(c, "all=2,3,4,5");
  apply_geometry_setting(c, "baseline=1,2,1,2");
  EXPECT_EQ(c.geometry(Accelerator::baseline), (Geometry{1, 2, 1, 2}));
  EXPECT_EQ(c.geometry(Accelerator::laconic), (Geometry{2, 3, 4, 5}));
  apply_column_registers_setting(c, "all=4");
  apply_column_registers_setting(c, "laconic=0");
  EXPECT_EQ(c.registers(Accelerator::pragmatic), 4);
  EXPECT_EQ(c.registers(Accelerator::laconic), 0);
  EXPECT_EQ(c.registers(Accelerator::baseline), 0);
  EXPECT_EQ(parse_shifter_bits("inf"), kShifterUnbounded);
  EXPECT_EQ(parse_shifter_bits("31"), 31);
  EXPECT_TRUE(parse_on_off("on"));
  EXPECT_FALSE(parse_on_off("off"));
  EXPECT_EQ(parse_depthwise_setting("diagonal"), DepthwiseMapping::diagonal);
  EXPECT_EQ(parse_preset_setting("equal"), Preset::equal);
  EXPECT_EQ(parse_encoding_setting("dnnsim-booth"), Encoding::dnnsim_booth);
  EXPECT_EQ(shifter_bits_text(kShifterUnbounded), "inf");
  EXPECT_EQ(shifter_bits_text(2), "2");
  // A refused value leaves the configuration as it was.
  const ProfileConfig before = c;
  EXPECT_TRUE(throws_error([&] { apply_geometry_setting(c, "laconic=1,2,0,4"); }, {"columns Ct must be a positive"}));
  EXPECT_TRUE(throws_error([&] { apply_column_registers_setting(c, "all=-1"); }, {"must be between 0 and 1048576"}));
  EXPECT_TRUE(throws_error([&] { apply_column_registers_setting(c, "stripes=1"); }, {"only pragmatic and laconic"}));
  EXPECT_EQ(c, before);
  EXPECT_TRUE(throws_error([] { parse_shifter_bits("1e1"); }, {"not '1e1'"}));
  EXPECT_TRUE(throws_error([] { parse_shifter_bits(""); }, {"not ''"}));
  EXPECT_TRUE(throws_error([] { parse_on_off("ON"); }, {"must be on or off, not 'ON'"}));
}

// The README's example configuration file is one this parser reads.
TEST(RunConfig, TheReadmeExampleParses) {
  const std::string readme = read_text(test::source_dir() + "/README.md");
  const std::string start = "```json\n// One point of a sweep";
  const auto at = readme.find(start);
  ASSERT_NE(at, std::string::npos) << "README.md lacks the configuration file example";
  const auto end = readme.find("```", at + 7);
  const std::string example = readme.substr(at + 8, end - at - 8);
  const ProfileConfig c = parse(example);
  EXPECT_EQ(c.encoding, Encoding::dnnsim_booth);
  EXPECT_EQ(c.geometry(Accelerator::laconic).columns, 8);
  EXPECT_EQ(c.shifter_bits, 3);
  // Every key the parser accepts is documented.
  for (const std::string& key : profile_config_keys())
    EXPECT_NE(readme.find("| `" + key + "` |"), std::string::npos) << key;
}

}  // namespace
}  // namespace laconic
