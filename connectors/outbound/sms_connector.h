// Outbound SMS: agent (and bot) replies on SMS conversations - message.posted
// with delivery_route kSms, not from the shopper - POSTed to a configurable
// provider endpoint in the Twilio style:
//   POST <provider_url>
//   Authorization: Basic base64(<account>:<auth_token>)
//   Content-Type: application/x-www-form-urlencoded
//   X-Palaver-Delivery: <delivery id>   (and Idempotency-Key: the same)
//   To=<E.164 phone of the conversation>&From=<from number>&Body=<text, UTF-8>
// The phone comes from the conversation's conversation.started, kept in the
// connector's own store (personal data, deleted on customer.erased). A
// message for a conversation without a phone settles as `failed` with a clear
// error. Product shares and images carry their text and links in Body.
// HTTP 2xx is success; 408/425/429/5xx and network errors are retried; other
// answers are permanent failures. One target ("sms"); see outbound.h.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "connectors/outbound/outbound.h"
#include "engine/event_log.h"

namespace palaver {

struct SmsOptions {
  std::string provider_url;  // http:// or https://; required
  std::string account;       // basic-auth user (Twilio: the account SID)
  std::string auth_token;    // basic-auth password
  std::string from_number;   // E.164 sender, used for shops not in from_numbers
  std::map<std::string, std::string> from_numbers;  // tenant -> E.164 sender
  FollowOptions follow;
  RetryOptions retry;
  std::string user_agent = "palaver-sms/1";
};

// Checks `options` and creates the connector (not started).
// Errors: kInvalidArgument naming the field at fault ("provider_url",
// "from_number", "follow.state_dir", ...). `log` must outlive the connector.
Result<std::unique_ptr<OutboundConnector>> NewSmsConnector(EventLog& log, SmsOptions options);

}  // namespace palaver
