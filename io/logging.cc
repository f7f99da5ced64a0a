#include "io/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>

namespace sluice::logging {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kText)};

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    case Level::kOff: return "off";
  }
  return "info";
}

// stderr, unbuffered per line (spdlog's mutex sink: lines from shards never interleave).
spdlog::logger& logger() {
  // Never destroyed: threads still log while the process exits (static destructors and atexit
  // handlers run in an order no one controls), so the logger must outlive them all.
  static spdlog::logger* const l = [] {
    auto* made = new spdlog::logger("sluiced", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    made->set_level(spdlog::level::trace);  // filtered by enabled() before formatting
    made->flush_on(spdlog::level::trace);
    return made;
  }();
  return *l;
}

// Called with the logger created (configure() and the first line both get here).
void apply_pattern() {
  // Text: ISO-8601 UTC time with microseconds, level, message. JSON lines are built whole by
  // json_line() (the message needs escaping), so spdlog prints them as they are.
  if (static_cast<Format>(g_format.load()) == Format::kJson) logger().set_pattern("%v", spdlog::pattern_time_type::utc);
  else logger().set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
}

std::once_flag g_pattern_once;

std::string utc_now_iso8601() {
  const auto now = std::chrono::system_clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:06d}Z", buf, us % 1'000'000);
}

}  // namespace

void configure(Level level, Format format) {
  g_level.store(static_cast<int>(level));
  g_format.store(static_cast<int>(format));
  std::call_once(g_pattern_once, [] {});  // the first write() must not apply it again
  apply_pattern();
}

bool parse_level(std::string_view text, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff})
    if (text == level_name(l)) {
      *out = l;
      return true;
    }
  if (text == "warning") {
    *out = Level::kWarn;
    return true;
  }
  return false;
}

bool parse_format(std::string_view text, Format* out) {
  if (text == "text") *out = Format::kText;
  else if (text == "json") *out = Format::kJson;
  else return false;
  return true;
}

bool enabled(Level level) noexcept { return level != Level::kOff && static_cast<int>(level) >= g_level.load(); }

std::string json_line(std::string_view time, std::string_view level, std::string_view message) {
  std::string out = R"({"ts":")";
  out.append(time);
  out += R"(","level":")";
  out.append(level);
  out += R"(","msg":")";
  for (char c : message) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else out += c;
    }
  }
  out += "\"}";
  return out;
}

std::string text_line(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    const auto u = static_cast<unsigned char>(c);
    const bool control = (u < 0x20 && c != '\t') || u == 0x7f;
    if (c == '\n') out += "\n    ";  // a continuation line never looks like a new entry
    else if (control) out += fmt::format("\\x{:02x}", static_cast<unsigned>(u));
    else out += c;
  }
  return out;
}

void write(Level level, std::string_view message) {
  std::call_once(g_pattern_once, [] { apply_pattern(); });
  if (static_cast<Format>(g_format.load()) == Format::kJson) {
    logger().log(to_spdlog(level), "{}", json_line(utc_now_iso8601(), level_name(level), message));
    return;
  }
  logger().log(to_spdlog(level), "{}", text_line(message));
}

}  // namespace sluice::logging
