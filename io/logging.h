#pragma once
// The process's log: one line per notable event, on stderr, through spdlog (Debian libspdlog).
// Levels (debug, info, warn, error; --log-level) and two formats: text, "TIME LEVEL message", or
// one JSON object a line ({"ts":…,"level":…,"msg":…}; --log-format json) for log shippers.
// Messages are formatted with fmt at the call site, only when their level is enabled. Safe from
// any thread; not for the per-message hot path (a notable event is not a message).
#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>

namespace sluice::logging {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };
enum class Format : int { kText, kJson };

// Before the first line; lines logged earlier use the defaults (info, text).
void configure(Level level, Format format);
bool parse_level(std::string_view text, Level* out);
bool parse_format(std::string_view text, Format* out);
bool enabled(Level level) noexcept;
void write(Level level, std::string_view message);

// What the JSON format makes of a message (exposed for tests).
std::string json_line(std::string_view time, std::string_view level, std::string_view message);
// What the text format makes of a message: messages carry client-chosen strings (client ids,
// group and topic names), so control characters are shown as \xNN and a newline starts an
// indented continuation line: no client can forge a log entry (exposed for tests).
std::string text_line(std::string_view message);

template <class... Args>
void log(Level level, fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(level)) write(level, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  log(Level::kDebug, f, std::forward<Args>(args)...);
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  log(Level::kInfo, f, std::forward<Args>(args)...);
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  log(Level::kWarn, f, std::forward<Args>(args)...);
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  log(Level::kError, f, std::forward<Args>(args)...);
}

}  // namespace sluice::logging
