#include "schemas/frame.h"

#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace palaver {
namespace {

Frame SampleFrame() {
  Frame frame;
  frame.envelope.event_id = "0190f5b2-7c1e-7d3a-9b2f-4e8a1c0d2b3f";
  frame.envelope.type = EventType::kCartUpdated;
  frame.envelope.tenant = "shop-acme";
  frame.envelope.actor_kind = ActorKind::kStorefront;
  frame.envelope.actor_id = "cart-service";
  frame.envelope.occurred_at_us = 1718000000000000;
  frame.body = std::string("body\0bytes", 10);
  frame.personal = "personal";
  return frame;
}

TEST(FrameTest, RoundTrips) {
  const Frame frame = SampleFrame();
  const std::string bytes = EncodeFrame(frame);
  EXPECT_EQ(bytes.substr(0, 4), "PLV1");
  Result<FrameView> decoded = DecodeFrame(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->envelope, frame.envelope);
  EXPECT_EQ(decoded->body, frame.body);
  EXPECT_EQ(decoded->personal, frame.personal);
}

TEST(FrameTest, DecodeEnvelopeStopsBeforeTheBody) {
  const Frame frame = SampleFrame();
  Result<Envelope> envelope = DecodeEnvelope(EncodeFrame(frame));
  ASSERT_TRUE(envelope.ok()) << envelope.status().ToString();
  EXPECT_EQ(*envelope, frame.envelope);
}

TEST(FrameTest, RefusesBytesWithoutTheMagic) {
  EXPECT_EQ(DecodeFrame("").status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(DecodeFrame("PLV").status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(DecodeFrame("{\"type\":1}").status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(DecodeEnvelope("XXXX1234").status().code(), ErrorCode::kCorruption);
}

TEST(FrameTest, RefusesEveryTruncation) {
  const std::string bytes = EncodeFrame(SampleFrame());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeFrame(bytes.substr(0, n)).status().code(), ErrorCode::kCorruption) << n;
  }
}

TEST(FrameTest, RefusesTrailingBytes) {
  EXPECT_EQ(DecodeFrame(EncodeFrame(SampleFrame()) + "x").status().code(), ErrorCode::kCorruption);
}

TEST(FrameTest, RefusesHugeLengthPrefixWithoutAllocating) {
  // magic, portable-binary endianness byte, then the event id's 8-byte length.
  std::string bytes = "PLV1";
  bytes += '\x01';
  bytes += std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  bytes += "abc";
  Result<FrameView> decoded = DecodeFrame(bytes);
  EXPECT_EQ(decoded.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(decoded.status().message().find("cannot fit"), std::string::npos)
      << decoded.status().ToString();
}

TEST(FrameTest, RandomBytesNeverCrash) {
  std::mt19937 rng(20240610);
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = "PLV1";
    const size_t n = rng() % 96;
    for (size_t k = 0; k < n; ++k) bytes += static_cast<char>(rng());
    Result<FrameView> decoded = DecodeFrame(bytes);
    if (!decoded.ok()) {
      EXPECT_TRUE(decoded.status().code() == ErrorCode::kCorruption ||
                  decoded.status().code() == ErrorCode::kUnsupportedVersion)
          << decoded.status().ToString();
    }
  }
}

TEST(FrameTest, UnknownEventTypeIsUnsupported) {
  Frame frame = SampleFrame();
  frame.envelope.type = static_cast<EventType>(999);
  EXPECT_EQ(DecodeFrame(EncodeFrame(frame)).status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_EQ(DecodeEnvelope(EncodeFrame(frame)).status().code(), ErrorCode::kUnsupportedVersion);
}

// Encoding and decoding reuse streams per thread: a decode that failed half
// way must leave nothing behind for the thread's next encode or decode.
TEST(FrameTest, AFailedDecodeLeavesTheThreadsNextDecodeUnharmed) {
  const Frame frame = SampleFrame();
  const std::string bytes = EncodeFrame(frame);
  for (size_t n = 0; n < bytes.size(); ++n) {
    ASSERT_FALSE(DecodeFrame(bytes.substr(0, n)).ok()) << n;
    EXPECT_EQ(EncodeFrame(frame), bytes) << n;
    Result<FrameView> decoded = DecodeFrame(bytes);
    ASSERT_TRUE(decoded.ok()) << n << ": " << decoded.status().ToString();
    EXPECT_EQ(decoded->envelope, frame.envelope) << n;
    EXPECT_EQ(decoded->body, frame.body) << n;
  }
}

TEST(FrameTest, ThreadsEncodeAndDecodeAtTheSameTime) {
  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &mismatches] {
      for (int i = 0; i < 2000; ++i) {
        Frame frame = SampleFrame();
        frame.envelope.actor_id = "thread-" + std::to_string(t) + "-" + std::to_string(i);
        frame.personal = std::string(static_cast<size_t>(i % 300), 'p');
        const std::string bytes = EncodeFrame(frame);
        Result<FrameView> decoded = DecodeFrame(bytes);  // views into `bytes`
        if (!decoded.ok() || decoded->envelope != frame.envelope ||
            decoded->personal != frame.personal)
          ++mismatches[static_cast<size_t>(t)];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(kThreads, 0));
}

}  // namespace
}  // namespace palaver
