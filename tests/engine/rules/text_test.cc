#include "engine/rules/text.h"

#include <algorithm>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace palaver::rules {
namespace {

using ::testing::HasSubstr;

std::string Repeat(std::string_view piece, size_t times) {
  std::string out;
  for (size_t i = 0; i < times; ++i) out += piece;
  return out;
}

const std::string kGrinning = "\xF0\x9F\x98\x80";                            // U+1F600
const std::string kThumbsUpMediumSkin = "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD";  // U+1F44D U+1F3FD
// U+1F468 U+200D U+1F469 U+200D U+1F467: family, a ZWJ sequence
const std::string kFamily =
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";
const std::string kFlagDe = "\xF0\x9F\x87\xA9\xF0\x9F\x87\xAA";  // regional indicators D E
const std::string kHeartVs16 = "\xE2\x9D\xA4\xEF\xB8\x8F";       // U+2764 U+FE0F

TEST(TextTest, AcceptsPlainAndMultilingualText) {
  EXPECT_TRUE(ValidateMessageText("Hello, where is my order?").ok());
  EXPECT_TRUE(ValidateMessageText("Grüße aus Köln — ça va? 日本語 Ελληνικά").ok());
  EXPECT_TRUE(ValidateMessageText("  line one\nline two\t ").ok());
}

TEST(TextTest, AcceptsEmojiOfEveryKind) {
  for (const std::string& emoji : {kGrinning, kThumbsUpMediumSkin, kFamily, kFlagDe, kHeartVs16}) {
    EXPECT_TRUE(ValidateMessageText(emoji).ok()) << emoji;
    EXPECT_TRUE(ValidateMessageText("thanks " + emoji + emoji + "!").ok()) << emoji;
  }
  EXPECT_TRUE(ValidateMessageText("\xF4\x8F\xBF\xBF").ok());  // U+10FFFF, the last code point
}

TEST(TextTest, EmptyIsRefused) {
  const Status status = ValidateMessageText("");
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "the message is empty");
  EXPECT_EQ(status.field(), "text");
}

TEST(TextTest, OnlyWhitespaceIsRefused) {
  for (const std::string text : {" ", "\n\n", " \t\r\n ", "\xC2\xA0",  // NBSP
                                 "\xE3\x80\x80",                       // ideographic space
                                 "\xE2\x80\x8B\xE2\x80\x8D",           // ZWSP, ZWJ
                                 "\xEF\xBB\xBF "}) {                   // BOM
    const Status status = ValidateMessageText(text);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(status.message(), "the message contains only whitespace");
  }
  EXPECT_TRUE(ValidateMessageText(" . ").ok());
}

void ExpectInvalidUtf8At(const std::string& text, size_t offset, std::string_view what) {
  const Status status = ValidateMessageText(text);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(status.message(), HasSubstr("at byte offset " + std::to_string(offset) + " "));
  EXPECT_THAT(status.message(), HasSubstr(what));
  EXPECT_EQ(status.field(), "text");
}

TEST(TextTest, RefusesOverlongEncodings) {
  ExpectInvalidUtf8At("ab\xC0\xAF", 2, "overlong");  // '/' in 2 bytes
  ExpectInvalidUtf8At("\xC1\xBF", 0, "overlong");
  ExpectInvalidUtf8At("x\xE0\x80\xAF", 1, "overlong");     // '/' in 3 bytes
  ExpectInvalidUtf8At("\xF0\x82\x82\xAC", 0, "overlong");  // U+20AC in 4 bytes
}

TEST(TextTest, RefusesSurrogates) {
  ExpectInvalidUtf8At("hi \xED\xA0\x80", 3, "surrogate");  // U+D800
  ExpectInvalidUtf8At("\xED\xBF\xBF", 0, "surrogate");     // U+DFFF
  // CESU-8 style pair for U+1F600.
  ExpectInvalidUtf8At("\xED\xA0\xBD\xED\xB8\x80", 0, "surrogate");
}

TEST(TextTest, RefusesCodePointsAboveTheMaximum) {
  ExpectInvalidUtf8At("\xF4\x90\x80\x80", 0, "above U+10FFFF");  // U+110000
  ExpectInvalidUtf8At("ok\xF5\x80\x80\x80", 2, "above U+10FFFF");
  ExpectInvalidUtf8At("\xFF", 0, "above U+10FFFF");
}

TEST(TextTest, RefusesTruncatedSequencesAndStrayContinuations) {
  ExpectInvalidUtf8At("abc\xF0\x9F\x98", 3, "truncated");  // emoji missing its last byte
  ExpectInvalidUtf8At("\xE2\x82", 0, "truncated");
  ExpectInvalidUtf8At("\xC3 x", 0, "truncated");
  ExpectInvalidUtf8At("hello \x80", 6, "continuation byte");
  ExpectInvalidUtf8At(kGrinning + "\xBF", 4, "continuation byte");
}

TEST(TextTest, NamesTheOffendingByte) {
  const Status status = ValidateMessageText("ab\xC0\xAF");
  EXPECT_THAT(status.message(), HasSubstr("(byte 0xC0)"));
}

TEST(TextTest, CodePointLimitIsExact) {
  EXPECT_TRUE(ValidateMessageText(std::string(kMaxMessageChars, 'a')).ok());
  EXPECT_TRUE(ValidateMessageText(Repeat(kGrinning, kMaxMessageChars)).ok());
  const Status status = ValidateMessageText(Repeat("é", kMaxMessageChars + 1));
  EXPECT_EQ(status.code(), ErrorCode::kTooLarge);
  EXPECT_EQ(status.message(), "the message is 5001 characters; the limit is 5000 characters");
  EXPECT_EQ(status.field(), "text");
}

TEST(TextTest, ByteLimitIsCheckedBeforeDecoding) {
  // Over the byte limit and also invalid UTF-8: the size is what is reported.
  std::string huge(kMaxMessageBytes + 1, 'a');
  huge[0] = '\xFF';
  const Status status = ValidateMessageText(huge);
  EXPECT_EQ(status.code(), ErrorCode::kTooLarge);
  EXPECT_EQ(status.message(), "the message is 20001 bytes; the limit is 20000 bytes");
}

TEST(TextTest, CountsCodePoints) {
  EXPECT_EQ(CountCodePoints(""), 0u);
  EXPECT_EQ(CountCodePoints("abc"), 3u);
  EXPECT_EQ(CountCodePoints("Köln"), 4u);
  EXPECT_EQ(CountCodePoints(kGrinning), 1u);
  EXPECT_EQ(CountCodePoints(kThumbsUpMediumSkin), 2u);
  EXPECT_EQ(CountCodePoints(kFamily), 5u);
  EXPECT_EQ(CountCodePoints("a\xFF"
                            "b"),
            3u);
}

TEST(TextTest, PreviewKeepsShortTextWhole) {
  EXPECT_EQ(Preview("hello", 10), "hello");
  EXPECT_EQ(Preview("hello", 5), "hello");
  EXPECT_EQ(Preview("", 5), "");
  EXPECT_EQ(Preview("hello", 0), "");
}

TEST(TextTest, PreviewNeverCutsInsideASequence) {
  EXPECT_EQ(Preview("Köln ist schön", 2), "Kö");
  EXPECT_EQ(Preview("ab" + kGrinning + "cd", 3), "ab" + kGrinning);
  EXPECT_EQ(Preview("ab" + kGrinning + "cd", 2), "ab");
  EXPECT_EQ(Preview("日本語テキスト", 3), "日本語");
  const std::string text = "Grüße " + kGrinning + kFlagDe + " 日本";
  for (size_t n = 0; n < 14; ++n) {
    const std::string preview = Preview(text, n);
    EXPECT_EQ(text.compare(0, preview.size(), preview), 0) << n;  // a prefix
    EXPECT_TRUE(ValidateMessageText(preview + "x").ok()) << n;    // whole sequences
    EXPECT_EQ(CountCodePoints(preview), std::min(n, CountCodePoints(text))) << n;
  }
}

TEST(TextTest, PreviewDropsADanglingJoiner) {
  // Family = man ZWJ woman ZWJ girl; two code points would end on the joiner.
  EXPECT_EQ(Preview(kFamily, 2), "\xF0\x9F\x91\xA8");
  EXPECT_EQ(Preview(kFamily, 3), "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9");
  EXPECT_EQ(Preview(kFamily, 5), kFamily);
}

TEST(TextTest, PreviewReplacesMalformedBytes) {
  EXPECT_EQ(Preview("a\xFF"
                    "bc",
                    3),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(Preview("\xF0\x9F\x98", 10), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(TextTest, ProductNameShownWhenShorterThan41Characters) {
  EXPECT_TRUE(ShowProductNameInCartEvent("Blue T-shirt"));
  EXPECT_TRUE(ShowProductNameInCartEvent(std::string(40, 'x')));
  EXPECT_FALSE(ShowProductNameInCartEvent(std::string(41, 'x')));
  EXPECT_FALSE(ShowProductNameInCartEvent(""));
}

TEST(TextTest, ProductNameLengthCountsCodePointsNotBytes) {
  // 40 code points, 80 bytes: shown.
  const std::string forty_umlauts = Repeat("ü", 40);
  ASSERT_EQ(forty_umlauts.size(), 80u);
  EXPECT_TRUE(ShowProductNameInCartEvent(forty_umlauts));
  EXPECT_FALSE(ShowProductNameInCartEvent(forty_umlauts + "ü"));
  // 39 letters and one emoji: 43 bytes, 40 code points.
  EXPECT_TRUE(ShowProductNameInCartEvent(std::string(39, 'a') + kGrinning));
  EXPECT_FALSE(ShowProductNameInCartEvent(std::string(40, 'a') + kGrinning));
  EXPECT_TRUE(ShowProductNameInCartEvent("Tasse „Kaffee & Kuchen“ ☕"));
}

TEST(TextTest, ProductNameThatIsNotUtf8IsNotShown) {
  EXPECT_FALSE(ShowProductNameInCartEvent("Mug \xC0\xAF"));
}

}  // namespace
}  // namespace palaver::rules
