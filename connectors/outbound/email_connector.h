// Email over SMTP (libcurl): replies to shoppers who are not in the chat,
// transcripts on request, and new-ticket notifications to the team.
//
// What is sent:
//   - reply: a message.posted by an agent, a bot or palaver (not the shopper)
//     whose delivery_route is kEmail - the engine routes a web chat reply to
//     email when the shopper has left the store (presence offline) and every
//     reply on an email conversation - to the address given when the
//     conversation started. Subject "Re: Your conversation with <shop>".
//   - transcript: on transcript.requested, every message of the conversation
//     the shopper saw (not internal notes, not inbox-only system messages), in
//     order, to the address in the request (or, when empty, the
//     conversation's). Subject "Transcript of your conversation with <shop>".
//   - team_notification: on conversation.started, to team_addresses (when
//     any). Subject "New conversation: <customer name or id> (<channel>)".
// Every mail is UTF-8 text/plain (base64 transfer encoding) with Date (the
// source event's time, so a resend is byte-identical), From, To, Subject
// (RFC 2047 encoded when not ASCII), Message-ID <purpose.<source event
// id>@<message_id_domain>> - stable per delivery, so a resend is recognisable
// - MIME-Version, X-Palaver-Delivery, and for replies and transcripts
// In-Reply-To/References <conversation id@domain> so mail clients thread
// them. An address that is empty or malformed (CR, LF, '<', '>', no '@')
// settles as `failed` with a clear error instead of being sent.
//
// To know addresses and transcripts the connector keeps, in its own store and
// in the same write as its position, each conversation's contact (from
// conversation.started) and the lines of its transcript. Both are personal
// data: customer.erased deletes them.
//
// SMTP 2xx/3xx is success; 4xx and connection failures are retried; 5xx (e.g. a
// recipient refused) is a permanent failure. One target ("smtp"); see outbound.h.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "connectors/outbound/outbound.h"
#include "engine/event_log.h"

namespace palaver {

struct SmtpServer {
  std::string host = "127.0.0.1";
  int port = 25;
  enum class Tls {
    kNone,      // plain SMTP (loopback relays, tests)
    kStartTls,  // STARTTLS required; the session fails without it
    kImplicit,  // SMTPS (TLS from the first byte, usually port 465)
  };
  Tls tls = Tls::kNone;
  bool verify_peer = true;  // check the server's certificate (TLS modes)
  std::string username;     // empty = no AUTH
  std::string password;
};

struct EmailOptions {
  SmtpServer server;
  std::string from_address;  // e.g. "support@acme.example.com"; required
  std::string from_name;     // e.g. "Acme support"; may be empty
  // Domain of Message-IDs; empty = the domain of from_address.
  std::string message_id_domain;
  // Team addresses for new-ticket notifications; empty = none sent.
  std::vector<std::string> team_addresses;
  // Display names of shops for subjects and signatures (tenant -> name);
  // a shop not listed is named by its tenant id.
  std::map<std::string, std::string> shop_names;
  bool send_replies = true;
  bool send_transcripts = true;
  FollowOptions follow;
  RetryOptions retry;
};

// Checks `options` and creates the connector (not started).
// Errors: kInvalidArgument naming the field at fault ("from_address",
// "server.port", "team_addresses[0]", "follow.state_dir", ...).
// `log` must outlive the connector.
Result<std::unique_ptr<OutboundConnector>> NewEmailConnector(EventLog& log, EmailOptions options);

}  // namespace palaver
