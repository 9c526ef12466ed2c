#include "laconic/run/progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace laconic::run {

namespace {

constexpr double kSmoothing = 0.3;  // tqdm's default

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

ProgressMode progress_mode_for_stderr(bool quiet) {
  if (quiet) return ProgressMode::off;
  const char* term = std::getenv("TERM");
  const bool smart = ::isatty(STDERR_FILENO) == 1 && term != nullptr && *term != '\0' && std::strcmp(term, "dumb") != 0;
  return smart ? ProgressMode::live : ProgressMode::plain;
}

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[64];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

std::string si_text(double value) {
  static const char* const prefixes[] = {"", "k", "M", "G", "T", "P", "E"};
  int p = 0;
  while (std::fabs(value) >= 999.5 && p < 6) {
    value /= 1000;
    ++p;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, value >= 99.95 ? "%.0f %s" : value >= 9.995 ? "%.1f %s" : "%.2f %s", value, prefixes[p]);
  return buf;
}

Progress::Progress(ProgressMode mode, std::ostream& out, ProgressCounts total, std::uint64_t images,
                   std::function<double()> now)
    : mode_(mode), out_(out), total_(total), images_total_(images),
      now_(now ? std::move(now) : std::function<double()>(steady_seconds)) {}

void Progress::start(ProgressCounts resumed) {
  std::lock_guard<std::mutex> lock(mutex_);
  start_ = now_();
  last_draw_ = start_;
  resumed_ = last_ = resumed;
  started_ = true;
  // On a terminal the line shows from the start (rates still unknown).
  if (mode_ == ProgressMode::live) draw(resumed, start_);
}

double Progress::rate(double ema) const {
  if (ema_updates_ == 0) return 0;
  return ema / (1 - std::pow(1 - kSmoothing, ema_updates_));
}

double Progress::images_of(std::uint64_t cost) const {
  if (total_.cost == 0) return 0;
  return static_cast<double>(images_total_) * static_cast<double>(cost) / static_cast<double>(total_.cost);
}

namespace {

std::string rate_text(double per_second) {
  char buf[64];
  std::snprintf(buf, sizeof buf, per_second >= 100 ? "%.0f" : per_second >= 10 ? "%.1f" : "%.2f", per_second);
  return buf;
}

// "1 image", "2 images".
std::string images_text(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " image" : " images"); }

}  // namespace

std::string Progress::line(ProgressCounts done, double now) {
  const double elapsed = now - start_;
  const double cost_rate = rate(ema_cost_), mac_rate = rate(ema_macs_);
  const bool finished = done.units >= total_.units;
  const std::uint64_t images_done =
      finished ? images_total_ : std::min(images_total_, static_cast<std::uint64_t>(images_of(done.cost)));
  std::string text = std::to_string(done.units) + "/" + std::to_string(total_.units) + " units, " +
                     std::to_string(images_done) + "/" + std::to_string(images_total_) + " images, ";
  text += (cost_rate > 0 ? rate_text(images_of(1) * cost_rate) : std::string("?")) + " images/s, ";
  text += (mac_rate > 0 ? si_text(mac_rate) : std::string("? ")) + "MAC/s, ";
  text += "elapsed " + clock_text(elapsed) + ", ETA ";
  if (finished) text += "0:00";
  else if (cost_rate > 0) text += clock_text(static_cast<double>(total_.cost - std::min(done.cost, total_.cost)) / cost_rate);
  else text += "?";
  return text;
}

void Progress::draw(ProgressCounts done, double now) {
  // The rates over the time since the last redraw.
  const double dt = now - last_draw_;
  if (dt > 0 && done.macs >= last_.macs && done.cost >= last_.cost) {
    ema_macs_ = kSmoothing * static_cast<double>(done.macs - last_.macs) / dt + (1 - kSmoothing) * ema_macs_;
    ema_cost_ = kSmoothing * static_cast<double>(done.cost - last_.cost) / dt + (1 - kSmoothing) * ema_cost_;
    ++ema_updates_;
  }
  last_draw_ = now;
  last_ = done;
  const std::string text = line(done, now);
  if (mode_ == ProgressMode::live) {
    out_ << "\rlaconic: " << text << "\x1b[K" << std::flush;
    live_shown_ = true;
  } else {
    out_ << "laconic: " << text << "\n" << std::flush;
  }
}

void Progress::update(ProgressCounts done) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mode_ == ProgressMode::off || !started_) return;
  const double now = now_();
  const double interval = mode_ == ProgressMode::live ? kLiveInterval : kPlainInterval;
  if (now - last_draw_ < interval) return;
  draw(done, now);
}

void Progress::note(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mode_ == ProgressMode::off) return;
  if (live_shown_) {
    out_ << "\r\x1b[K";
    live_shown_ = false;
  }
  out_ << "laconic: " << line << "\n" << std::flush;
}

void Progress::abandon() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (live_shown_) out_ << "\r\x1b[K" << std::flush;
  live_shown_ = false;
  started_ = false;
}

void Progress::finish(ProgressCounts done) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mode_ == ProgressMode::off || !started_) return;
  const double now = now_();
  const double elapsed = now - start_;
  if (live_shown_) {
    out_ << "\r\x1b[K";
    live_shown_ = false;
  }
  const std::uint64_t macs = done.macs - std::min(done.macs, resumed_.macs);
  const std::uint64_t cost = done.cost - std::min(done.cost, resumed_.cost);
  std::string text = "done: " + std::to_string(done.units) + "/" + std::to_string(total_.units) + " units";
  if (resumed_.units > 0) text += " (" + std::to_string(resumed_.units) + " from the checkpoint)";
  text += ", " + images_text(images_total_) + " in " + clock_text(elapsed);
  if (elapsed > 0 && cost > 0)
    text += ", " + rate_text(images_of(cost) / elapsed) + " images/s, " + si_text(static_cast<double>(macs) / elapsed) + "MAC/s";
  out_ << "laconic: " << text << "\n" << std::flush;
}

}  // namespace laconic::run
