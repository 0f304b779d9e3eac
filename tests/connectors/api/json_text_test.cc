// JSON text written without a tree must be byte for byte what nlohmann::json
// dumps for the same values: the inbox answer keeps its exact shape.
#include "connectors/api/json_text.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace palaver::testing {
namespace {

using Json = nlohmann::json;

std::string Dumped(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string Written(std::string_view text) {
  std::string out;
  api::internal::AppendJsonString(out, text);
  return out;
}

TEST(JsonTextTest, StringsAreEscapedExactlyAsADumpedTree) {
  const std::vector<std::string> samples = {
      "",
      "plain",
      "quote \" backslash \\ slash /",
      "new\nline\rtab\tback\bfeed\f",
      std::string("nul \0 one \x01 unit \x1f del \x7f", 24),
      "Hello Alice 😀 — Grüße, 你好",
      "invalid \xff byte",
      "truncated \xe2\x82",
      "overlong \xc0\xaf and surrogate \xed\xa0\x80",
      "\xf4\x90\x80\x80 beyond U+10FFFF",
  };
  for (const std::string& s : samples) EXPECT_EQ(Written(s), Dumped(Json(s))) << s;
  for (int c = 0; c < 256; ++c) {
    const std::string one(1, static_cast<char>(c));
    EXPECT_EQ(Written(one), Dumped(Json(one))) << "byte " << c;
  }
}

TEST(JsonTextTest, RandomBytesAreEscapedExactlyAsADumpedTree) {
  std::mt19937 random(20261122);
  // Mostly ASCII with some high bytes: both valid and invalid UTF-8.
  std::uniform_int_distribution<int> length(0, 40), kind(0, 9), byte(0, 255), ascii(0, 127);
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    for (int n = length(random); n > 0; --n)
      s.push_back(static_cast<char>(kind(random) < 7 ? ascii(random) : byte(random)));
    ASSERT_EQ(Written(s), Dumped(Json(s))) << ::testing::PrintToString(s);
  }
}

TEST(JsonTextTest, NumbersAndBooleansAreWrittenAsADumpedTree) {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{42}, int64_t{1795390325993047},
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    std::string out;
    api::internal::AppendJsonInt(out, v);
    EXPECT_EQ(out, Dumped(Json(v)));
  }
  std::string out;
  api::internal::AppendJsonBool(out, true);
  api::internal::AppendJsonBool(out, false);
  EXPECT_EQ(out, "truefalse");
}

}  // namespace
}  // namespace palaver::testing
