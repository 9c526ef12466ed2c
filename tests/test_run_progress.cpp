// The progress line (include/laconic/run/progress.hpp) on a clock of the
// test's own: what it says, `?` while a rate is unknown, redrawn in place at
// most ten times a second on a terminal, a plain line every few seconds
// elsewhere, notes that end the live line first, and nothing when off.
#include <gtest/gtest.h>

#include <sstream>

#include "laconic/run/progress.hpp"

namespace laconic::run {
namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(RunProgress, LineSaysUnitsImagesRatesElapsedAndEta) {
  std::ostringstream out;
  double now = 100;
  // 10 units, 8 images, 8000 MACs, a cost of 800 (100 per image).
  Progress p(ProgressMode::plain, out, {10, 8000, 800}, 8, [&] { return now; });
  p.start({0, 0, 0});
  EXPECT_EQ(p.line({0, 0, 0}, 100), "0/10 units, 0/8 images, ? images/s, ? MAC/s, elapsed 0:00, ETA ?");
  now = 110;
  // Half the cost done in 10 s (4 images), but most of the MACs: images and
  // the ETA follow the cost, the MAC rate the MACs.
  p.update({5, 6000, 400});
  EXPECT_EQ(out.str(), "laconic: 5/10 units, 4/8 images, 0.40 images/s, 600 MAC/s, elapsed 0:10, ETA 0:10\n");
  EXPECT_EQ(p.line({10, 8000, 800}, 120).substr(0, 25), "10/10 units, 8/8 images, ");
  EXPECT_NE(p.line({10, 8000, 800}, 120).find("ETA 0:00"), std::string::npos);
  EXPECT_EQ(clock_text(3725), "1:02:05");
  EXPECT_EQ(si_text(58.1e9), "58.1 G");
  EXPECT_EQ(si_text(999), "999 ");
}

TEST(RunProgress, ResumedUnitsCountAsDoneButNotTowardsTheRate) {
  std::ostringstream out;
  double now = 0;
  Progress p(ProgressMode::plain, out, {4, 4000, 400}, 4, [&] { return now; });
  p.start({2, 2000, 200});
  now = 10;
  p.update({3, 3000, 300});  // 1 image in 10 s since the start
  EXPECT_NE(out.str().find("3/4 units, 3/4 images, 0.10 images/s, 100 MAC/s"), std::string::npos) << out.str();
  p.finish({4, 4000, 400});
  EXPECT_NE(out.str().find("done: 4/4 units (2 from the checkpoint), 4 images in 0:10, 0.20 images/s"),
            std::string::npos)
      << out.str();
}

TEST(RunProgress, PlainLinesComeEveryFewSeconds) {
  std::ostringstream out;
  double now = 0;
  Progress p(ProgressMode::plain, out, {100, 100, 100}, 1, [&] { return now; });
  p.start({0, 0, 0});
  for (std::uint64_t i = 1; i <= 100; ++i) {
    now = static_cast<double>(i) * 0.5;  // an update every half second, for 50 s
    p.update({i, i, i});
  }
  EXPECT_EQ(count(out.str(), "\n"), 10u) << out.str();
  EXPECT_EQ(count(out.str(), "\r"), 0u);
}

TEST(RunProgress, LiveLineIsRedrawnInPlaceAtMostTenTimesASecond) {
  std::ostringstream out;
  double now = 0;
  Progress p(ProgressMode::live, out, {1000, 1000, 1000}, 10, [&] { return now; });
  p.start({0, 0, 0});
  for (std::uint64_t i = 1; i <= 1000; ++i) {
    now = static_cast<double>(i) * 0.001;  // 1000 updates in one second
    p.update({i, i, i});
  }
  const std::string text = out.str();
  // The first line at the start, then one every tenth of a second.
  EXPECT_EQ(text.substr(0, 26), "\rlaconic: 0/1000 units, 0/");
  EXPECT_GE(count(text, "\r"), 10u);
  EXPECT_LE(count(text, "\r"), 11u);
  EXPECT_EQ(count(text, "\n"), 0u) << "a live line is redrawn, never scrolled";
  // A note ends the live line first, then the line comes back.
  p.note("a note");
  EXPECT_NE(out.str().find("\r\x1b[Klaconic: a note\n"), std::string::npos);
  now = 2;
  p.update({1000, 1000, 1000});
  p.finish({1000, 1000, 1000});
  const std::string all = out.str();
  EXPECT_EQ(all.substr(all.size() - 1), "\n");
  EXPECT_NE(all.find("\r\x1b[Klaconic: done: 1000/1000 units"), std::string::npos);
}

TEST(RunProgress, OffSaysNothing) {
  std::ostringstream out;
  Progress p(ProgressMode::off, out, {10, 10, 10}, 1);
  p.start({0, 0, 0});
  p.update({5, 5, 5});
  p.note("hidden");
  p.finish({10, 10, 10});
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(progress_mode_for_stderr(true), ProgressMode::off);
}

}  // namespace
}  // namespace laconic::run
