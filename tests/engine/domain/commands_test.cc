#include "engine/domain/commands.h"

#include <gtest/gtest.h>

#include "schemas/status.h"

namespace palaver::domain {
namespace {

TEST(CommandsTest, FingerprintDependsOnTypeAndPayloadNotMeta) {
  AgentReply a;
  a.meta.tenant = "acme";
  a.meta.idempotency_key = "k1";
  a.conversation_id = "c";
  a.text = "hello";
  AgentReply b = a;
  b.meta.idempotency_key = "k2";
  b.meta.correlation_id = "other";
  EXPECT_EQ(Fingerprint(a), Fingerprint(b));
  EXPECT_EQ(Fingerprint(a).size(), 16u);
  b.text = "hello!";
  EXPECT_NE(Fingerprint(a), Fingerprint(b));
  b = a;
  b.product_ids = {"p1"};
  EXPECT_NE(Fingerprint(a), Fingerprint(b));

  // Same strings split differently are different requests.
  EditInternalNote x{{}, "ab", "c", ""};
  EditInternalNote y{{}, "a", "bc", ""};
  EXPECT_NE(Fingerprint(x), Fingerprint(y));

  // Same payload, other command type.
  EndChat end{{}, "c"};
  AskForHuman ask{{}, "c"};
  EXPECT_NE(Fingerprint(end), Fingerprint(ask));
}

TEST(CommandsTest, FingerprintCoversPersonalFieldsAndSettings) {
  UpsertCustomerProfile p;
  p.profile.customer_id = "c";
  UpsertCustomerProfile q = p;
  q.profile.personal.email = "x@example.com";
  EXPECT_NE(Fingerprint(p), Fingerprint(q));

  UpdateSettings s{{}, WelcomeMessageSetting{"hi"}};
  UpdateSettings t{{}, WelcomeMessageSetting{"hello"}};
  UpdateSettings u{{}, LegalLinksSetting{"hi", ""}};
  EXPECT_NE(Fingerprint(s), Fingerprint(t));
  EXPECT_NE(Fingerprint(s), Fingerprint(u));
}

TEST(CommandsTest, NamesAndMeta) {
  Command c = ChangeStatus{{"acme", {ActorKind::kAgent, "bob"}, "", ""}, "conv"};
  EXPECT_EQ(CommandName(c), "change_status");
  EXPECT_EQ(MetaOf(c).actor.id, "bob");
  EXPECT_EQ(CommandName(Command{UpdateSettings{}}), "update_settings");
}

TEST(StatusReasonTest, ReasonTravelsWithTheStatus) {
  Status s = Status::Error(ErrorCode::kFailedPrecondition, "closed", "conversation_id")
                 .WithReason("conversation_closed");
  EXPECT_EQ(s.reason(), "conversation_closed");
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(s.WithContext("ctx").reason(), "conversation_closed");
  EXPECT_EQ(Status::Ok().WithReason("x").reason(), "");
  Result<int> r = s;
  EXPECT_EQ(r.status().reason(), "conversation_closed");
}

}  // namespace
}  // namespace palaver::domain
