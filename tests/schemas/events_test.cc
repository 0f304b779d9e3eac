#include "schemas/events.h"

#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/schemas/sample_events.h"

namespace palaver {
namespace {

TEST(EventsTest, SampleEventsCoverEveryTypeInOrder) {
  const std::vector<Event> events = testing::SampleEvents();
  ASSERT_EQ(events.size(), 28u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(TypeOf(events[i].body)), i + 1);
    EXPECT_EQ(events[i].envelope.type, TypeOf(events[i].body));
  }
}

TEST(EventsTest, CurrentVersions) {
  EXPECT_EQ(CurrentVersion(EventType::kMessagePosted), 2);
  EXPECT_EQ(CurrentVersion(EventType::kCartUpdated), 1);
  EXPECT_EQ(CurrentVersion(static_cast<EventType>(99)), 0);
}

TEST(EventsTest, PersonalSubjectIsTheCustomerOfBodiesWithPersonalFields) {
  EXPECT_EQ(PersonalSubject(testing::SampleEvent(EventType::kMessagePosted).body), "cust-881");
  EXPECT_EQ(PersonalSubject(testing::SampleEvent(EventType::kOrderPlaced).body), "cust-881");
  // A cart has no personal fields, so no subject.
  EXPECT_EQ(PersonalSubject(testing::SampleEvent(EventType::kCartUpdated).body), "");
}

TEST(EventsTest, EnumNamesAreUniqueAndRoundTrip) {
  auto check = [](auto tag) {
    using E = decltype(tag);
    std::set<std::string_view> names;
    for (const auto& [value, name] : EnumNames<E>::kValues) {
      EXPECT_NE(static_cast<int>(value), 0) << name;
      EXPECT_TRUE(names.insert(name).second) << name;
      EXPECT_EQ(EnumFromName<E>(name), value);
      EXPECT_EQ(EnumName(value), name);
    }
    EXPECT_EQ(EnumFromName<E>("no_such_value"), std::nullopt);
  };
  check(Channel{});
  check(DeliveryRoute{});
  check(MessageKind{});
  check(Topic{});
  check(Permission{});
  check(Weekday{});
  check(DeliveryChannel{});
  check(DeliveryOutcome{});
  EXPECT_EQ(EnumNames<Topic>::kValues.size(), 10u);
}

// xxxxxxxx-xxxx-7xxx-[89ab]xxx-xxxxxxxxxxxx, lower-case hex.
bool IsUuidV7(const std::string& id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return id[14] == '7' && (id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

TEST(EventsTest, NewEventIdIsAUuidV7) {
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 2000; ++i) {
    std::string id = NewEventId();
    ASSERT_TRUE(IsUuidV7(id)) << id;
    EXPECT_TRUE(seen.insert(id).second) << id;
    EXPECT_GE(id.substr(0, 13), previous.substr(0, std::min<size_t>(13, previous.size())));
    previous = id;
  }
}

TEST(EventsTest, NewEventIdIsUniqueAcrossThreads) {
  std::vector<std::string> a, b;
  std::thread ta([&] {
    for (int i = 0; i < 1000; ++i) a.push_back(NewEventId());
  });
  std::thread tb([&] {
    for (int i = 0; i < 1000; ++i) b.push_back(NewEventId());
  });
  ta.join();
  tb.join();
  std::set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), 2000u);
}

}  // namespace
}  // namespace palaver
