#include "schemas/codec.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "schemas/body_codec.h"
#include "tests/schemas/sample_events.h"

namespace palaver {
namespace {

namespace fs = std::filesystem;

// Golden samples: tests/golden/<type name>.v<version>.bin. Missing files are
// written only when PALAVER_WRITE_GOLDEN=1; existing files are never rewritten.
const fs::path kGoldenDir = fs::path(PALAVER_SOURCE_DIR) / "tests" / "golden";

bool WriteGoldenRequested() {
  const char* value = std::getenv("PALAVER_WRITE_GOLDEN");
  return value != nullptr && std::string(value) == "1";
}

fs::path GoldenPath(EventType type, uint16_t version) {
  return kGoldenDir / (std::string(EventTypeName(type)) + ".v" + std::to_string(version) + ".bin");
}

// Reads the golden file, creating it from `bytes` first when asked to.
std::optional<std::string> Golden(const fs::path& path, const std::string& bytes) {
  if (!fs::exists(path) && WriteGoldenRequested()) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

std::string MustEncode(const Event& event) {
  Result<std::string> bytes = EncodeEvent(event);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

std::vector<Event> AllSamples() {
  std::vector<Event> events = testing::SampleEvents();
  for (Event& event : testing::SampleSettingsChangedEvents()) events.push_back(std::move(event));
  return events;
}

// Every string inside a personal part, except very short ones (a country code
// like "PT" also appears inside the non-personal locale "pt-PT").
void CollectStrings(const auto& value, std::vector<std::string>& out) {
  using V = std::decay_t<decltype(value)>;
  if constexpr (std::is_same_v<V, std::string>) {
    if (value.size() > 3) out.push_back(value);
  } else if constexpr (HasFields<V>) {
    V::Fields(value, [&](std::string_view, const auto& field) { CollectStrings(field, out); });
  }
}

TEST(CodecTest, RoundTripsEveryEventType) {
  for (const Event& event : AllSamples()) {
    SCOPED_TRACE(EventTypeName(event.envelope.type));
    Result<Event> decoded = DecodeEvent(MustEncode(event));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, event);
  }
}

TEST(CodecTest, TypeAndVersionComeFromTheBody) {
  Event event = testing::SampleEvent(EventType::kMessagePosted);
  event.envelope.type = EventType::kCartUpdated;
  event.envelope.schema_version = 77;
  Result<Envelope> envelope = DecodeEnvelope(MustEncode(event));
  ASSERT_TRUE(envelope.ok());
  EXPECT_EQ(envelope->type, EventType::kMessagePosted);
  EXPECT_EQ(envelope->schema_version, 2);
}

TEST(CodecTest, PersonalFieldsAreOnlyInThePersonalBytes) {
  for (const Event& event : AllSamples()) {
    SCOPED_TRACE(EventTypeName(event.envelope.type));
    const std::string record = MustEncode(event);
    Result<FrameView> frame = DecodeFrame(record);
    ASSERT_TRUE(frame.ok());
    std::visit(
        [&](const auto& body) {
          if constexpr (HasPersonal<std::decay_t<decltype(body)>>) {
            std::vector<std::string> personal;
            CollectStrings(body.personal, personal);
            ASSERT_FALSE(personal.empty());
            for (const std::string& value : personal) {
              EXPECT_EQ(frame->body.find(value), std::string::npos) << value;
              EXPECT_NE(frame->personal.find(value), std::string::npos) << value;
            }
            EXPECT_EQ(PersonalSubject(event.body), body.customer_id);
          } else {
            EXPECT_TRUE(frame->personal.empty());
          }
        },
        event.body);
  }
}

TEST(CodecTest, UpcastsMessagePostedV1) {
  const testing::LegacyMessagePosted legacy = testing::SampleMessagePostedV1();
  const std::string bytes = EncodeFrame(MakeFrame(legacy.envelope, legacy.body));
  Result<Event> decoded = DecodeEvent(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, legacy.upcast);
  EXPECT_EQ(std::get<MessagePosted>(decoded->body).delivery_route, DeliveryRoute::kSms);
  EXPECT_EQ(decoded->envelope.schema_version, 2);
}

TEST(CodecTest, UpcastDerivesTheRouteFromTheChannel) {
  MessagePostedV1 v1;
  v1.channel = Channel::kWebChat;
  EXPECT_EQ(Upcast(v1).delivery_route, DeliveryRoute::kLiveChat);
  v1.channel = Channel::kEmail;
  EXPECT_EQ(Upcast(v1).delivery_route, DeliveryRoute::kEmail);
  v1.channel = Channel::kShopApp;
  EXPECT_EQ(Upcast(v1).delivery_route, DeliveryRoute::kShopApp);
  v1.kind = MessageKind::kSystem;
  EXPECT_EQ(Upcast(v1).delivery_route, DeliveryRoute::kInboxOnly);
}

TEST(CodecTest, GoldenSamplesDecode) {
  for (const Event& event : testing::SampleEvents()) {
    const fs::path path = GoldenPath(event.envelope.type, event.envelope.schema_version);
    SCOPED_TRACE(path.string());
    std::optional<std::string> golden = Golden(path, MustEncode(event));
    ASSERT_TRUE(golden) << "missing golden sample; create it once with PALAVER_WRITE_GOLDEN=1 "
                           "and commit it";
    Result<Event> decoded = DecodeEvent(*golden);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, event);
  }
}

// A changed layout without a new version would make this fail: the current
// version of every type must still encode to exactly its golden bytes.
TEST(CodecTest, CurrentVersionsEncodeToTheirGoldenBytes) {
  for (const Event& event : testing::SampleEvents()) {
    const fs::path path = GoldenPath(event.envelope.type, event.envelope.schema_version);
    std::optional<std::string> golden = Golden(path, MustEncode(event));
    ASSERT_TRUE(golden) << path;
    EXPECT_TRUE(*golden == MustEncode(event))
        << path << ": the layout changed; add a version instead (schemas/event_versions.h)";
  }
}

TEST(CodecTest, GoldenMessagePostedV1DecodesAndUpcasts) {
  const testing::LegacyMessagePosted legacy = testing::SampleMessagePostedV1();
  const fs::path path = GoldenPath(EventType::kMessagePosted, 1);
  std::optional<std::string> golden =
      Golden(path, EncodeFrame(MakeFrame(legacy.envelope, legacy.body)));
  ASSERT_TRUE(golden) << path;
  Result<Event> decoded = DecodeEvent(*golden);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, legacy.upcast);
}

// The index of each settings aspect is part of the binary layout: one golden
// sample per aspect, tests/golden/settings.changed.v1.<aspect>.bin.
TEST(CodecTest, GoldenSettingsAspectsDecode) {
  for (const Event& event : testing::SampleSettingsChangedEvents()) {
    const std::string_view aspect =
        std::visit([](const auto& a) { return std::decay_t<decltype(a)>::kName; },
                   std::get<SettingsChanged>(event.body).aspect);
    const fs::path path = kGoldenDir / ("settings.changed.v1." + std::string(aspect) + ".bin");
    std::optional<std::string> golden = Golden(path, MustEncode(event));
    ASSERT_TRUE(golden) << path;
    Result<Event> decoded = DecodeEvent(*golden);
    ASSERT_TRUE(decoded.ok()) << path << ": " << decoded.status().ToString();
    EXPECT_EQ(*decoded, event) << path;
    EXPECT_TRUE(*golden == MustEncode(event)) << path;
  }
}

TEST(CodecTest, RefusesOversizedEvents) {
  Event event = testing::SampleEvent(EventType::kMessagePosted);
  std::get<MessagePosted>(event.body).personal.text = std::string(kMaxEventBytes, 'a');
  Result<std::string> bytes = EncodeEvent(event);
  EXPECT_EQ(bytes.status().code(), ErrorCode::kTooLarge);
}

TEST(CodecTest, RefusesInvalidUtf8OnEncode) {
  Event event = testing::SampleEvent(EventType::kMessagePosted);
  std::get<MessagePosted>(event.body).personal.text = "caf\xc3";
  Result<std::string> bytes = EncodeEvent(event);
  EXPECT_EQ(bytes.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bytes.status().field(), "/body/personal/text");

  event = testing::SampleEvent(EventType::kCartUpdated);
  event.envelope.tenant = "\xff";
  EXPECT_EQ(EncodeEvent(event).status().field(), "/tenant");
}

TEST(CodecTest, RefusesUnknownEnumValuesOnEncode) {
  Event event = testing::SampleEvent(EventType::kCartUpdated);
  std::get<CartUpdated>(event.body).change = static_cast<CartChange>(42);
  Result<std::string> bytes = EncodeEvent(event);
  EXPECT_EQ(bytes.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bytes.status().field(), "/body/change");
}

TEST(CodecTest, UnknownEnumValueInTheLogIsCorruption) {
  Event event = testing::SampleEvent(EventType::kTopicsClassified);
  TopicsClassified body = std::get<TopicsClassified>(event.body);
  body.topics[1].topic = static_cast<Topic>(11);
  Result<Event> decoded = DecodeEvent(EncodeFrame(MakeFrame(event.envelope, body)));
  EXPECT_EQ(decoded.status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(decoded.status().field(), "/body/topics/1/topic");
  EXPECT_NE(decoded.status().message().find(
                "topics.classified event: field /body/topics/1/topic has the unknown value 11"),
            std::string::npos)
      << decoded.status().ToString();
}

TEST(CodecTest, BooleanOtherThanZeroOrOneIsCorruption) {
  Event event = testing::SampleEvent(EventType::kConversationStarted);
  const auto& body = std::get<ConversationStarted>(event.body);
  Frame frame = MakeFrame(event.envelope, body);
  // endianness byte, customer_id (8-byte length + bytes), channel, platform, then the bool.
  const size_t offset = 1 + 8 + body.customer_id.size() + 1 + 8 + body.platform.size();
  ASSERT_EQ(frame.body[offset], '\x01');
  frame.body[offset] = '\x07';
  EXPECT_EQ(DecodeEvent(EncodeFrame(frame)).status().code(), ErrorCode::kCorruption);
}

TEST(CodecTest, UnknownVersionIsUnsupported) {
  Event event = testing::SampleEvent(EventType::kCartUpdated);
  Frame frame = MakeFrame(event.envelope, std::get<CartUpdated>(event.body));
  frame.envelope.schema_version = 9;
  Result<Event> decoded = DecodeEvent(EncodeFrame(frame));
  EXPECT_EQ(decoded.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_NE(decoded.status().message().find("cart.updated schema version 9"), std::string::npos)
      << decoded.status().ToString();
}

TEST(CodecTest, PersonalBytesOnATypeWithoutPersonalFieldsAreCorruption) {
  Event event = testing::SampleEvent(EventType::kCartUpdated);
  Frame frame = MakeFrame(event.envelope, std::get<CartUpdated>(event.body));
  frame.personal = "x";
  EXPECT_EQ(DecodeEvent(EncodeFrame(frame)).status().code(), ErrorCode::kCorruption);
}

TEST(CodecTest, TruncatedRecordsAreCorruption) {
  for (const Event& event : testing::SampleEvents()) {
    const std::string bytes = MustEncode(event);
    for (size_t n = 0; n < bytes.size(); ++n) {
      Result<Event> decoded = DecodeEvent(std::string_view(bytes).substr(0, n));
      ASSERT_EQ(decoded.status().code(), ErrorCode::kCorruption)
          << EventTypeName(event.envelope.type) << " cut at " << n;
    }
  }
}

TEST(CodecTest, DamagedBodiesNeverCrash) {
  std::mt19937 rng(7);
  for (const Event& event : AllSamples()) {
    const std::string record = MustEncode(event);
    Result<FrameView> frame = DecodeFrame(record);
    ASSERT_TRUE(frame.ok());
    for (int i = 0; i < 200; ++i) {
      Frame damaged{frame->envelope, std::string(frame->body), std::string(frame->personal)};
      std::string& part =
          (i % 3 == 0 && !damaged.personal.empty()) ? damaged.personal : damaged.body;
      if (part.empty()) continue;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) part[rng() % part.size()] = static_cast<char>(rng());
      Result<Event> decoded = DecodeEvent(EncodeFrame(damaged));
      if (!decoded.ok()) {
        EXPECT_TRUE(decoded.status().code() == ErrorCode::kCorruption ||
                    decoded.status().code() == ErrorCode::kUnsupportedVersion)
            << decoded.status().ToString();
      }
    }
  }
}

TEST(CodecTest, HugeLengthInsideABodyIsCorruption) {
  Event event = testing::SampleEvent(EventType::kCartUpdated);
  Frame frame = MakeFrame(event.envelope, std::get<CartUpdated>(event.body));
  // The body starts with the endianness byte and customer_id's 8-byte length.
  frame.body.replace(1, 8, std::string("\x00\x00\x00\x00\x00\x00\x00\x40", 8));
  Result<Event> decoded = DecodeEvent(EncodeFrame(frame));
  EXPECT_EQ(decoded.status().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace palaver
