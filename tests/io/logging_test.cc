// The process log's parts that decide what a reader gets: level filtering, option parsing and
// the JSON line (a message with quotes, backslashes or control bytes stays one valid object).
#include "io/logging.h"

#include <gtest/gtest.h>

namespace sluice::logging {
namespace {

TEST(Logging, ParsesLevelsAndFormats) {
  Level l{};
  EXPECT_TRUE(parse_level("debug", &l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_TRUE(parse_level("warning", &l));
  EXPECT_EQ(l, Level::kWarn);
  EXPECT_TRUE(parse_level("off", &l));
  EXPECT_EQ(l, Level::kOff);
  EXPECT_FALSE(parse_level("loud", &l));
  Format f{};
  EXPECT_TRUE(parse_format("json", &f));
  EXPECT_EQ(f, Format::kJson);
  EXPECT_FALSE(parse_format("xml", &f));
}

TEST(Logging, LevelFilters) {
  configure(Level::kWarn, Format::kText);
  EXPECT_FALSE(enabled(Level::kInfo));
  EXPECT_TRUE(enabled(Level::kWarn));
  EXPECT_TRUE(enabled(Level::kError));
  configure(Level::kOff, Format::kText);
  EXPECT_FALSE(enabled(Level::kError));
  configure(Level::kInfo, Format::kText);
  EXPECT_TRUE(enabled(Level::kInfo));
  EXPECT_FALSE(enabled(Level::kDebug));
}

TEST(Logging, JsonLineEscapesTheMessage) {
  EXPECT_EQ(json_line("2026-12-02T10:00:00.000001Z", "warn", "topic \"a\\b\"\nnext\x01"),
            R"({"ts":"2026-12-02T10:00:00.000001Z","level":"warn","msg":"topic \"a\\b\"\nnext\u0001"})");
}

TEST(Logging, TextLineCannotForgeAnEntry) {
  // A client id with a newline and a fake entry, a carriage return and an escape sequence.
  EXPECT_EQ(text_line("client 'x\n2026-12-02T10:00:00.000000Z error forged\r\x1b[2J' joined"),
            "client 'x\n    2026-12-02T10:00:00.000000Z error forged\\x0d\\x1b[2J' joined");
  EXPECT_EQ(text_line("plain\ttext"), "plain\ttext");
}

}  // namespace
}  // namespace sluice::logging
