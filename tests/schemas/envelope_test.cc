#include "schemas/envelope.h"

#include <set>

#include <gtest/gtest.h>

namespace palaver {
namespace {

TEST(EnvelopeTest, EveryEventTypeHasAUniqueNameThatRoundTrips) {
  std::set<std::string_view> names;
  for (int value = 1; value <= 28; ++value) {
    const auto type = static_cast<EventType>(value);
    const std::string_view name = EventTypeName(type);
    ASSERT_FALSE(name.empty()) << value;
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(EventTypeFromName(name), type);
  }
}

TEST(EnvelopeTest, UnknownTypesHaveNoName) {
  EXPECT_TRUE(EventTypeName(static_cast<EventType>(0)).empty());
  EXPECT_TRUE(EventTypeName(static_cast<EventType>(29)).empty());
  EXPECT_EQ(EventTypeFromName("conversation.exploded"), std::nullopt);
  EXPECT_EQ(EventTypeFromName(""), std::nullopt);
}

TEST(EnvelopeTest, ActorKindNamesRoundTrip) {
  for (int value = 1; value <= 5; ++value) {
    const auto kind = static_cast<ActorKind>(value);
    ASSERT_FALSE(ActorKindName(kind).empty());
    EXPECT_EQ(ActorKindFromName(ActorKindName(kind)), kind);
  }
  EXPECT_TRUE(ActorKindName(static_cast<ActorKind>(6)).empty());
  EXPECT_EQ(ActorKindFromName("wizard"), std::nullopt);
}

}  // namespace
}  // namespace palaver
