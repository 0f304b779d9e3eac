// The streams that cereal's portable binary archives read from and write to
// when palaver encodes and decodes events.
//
// Each is taken from a small pool of the calling thread's own and given back
// on destruction, because constructing a std::istream or std::ostream copies
// the global std::locale: an atomic update of one counter that every thread
// shares. Three streams per event (frame, body, personal part) made
// concurrent decoding threads contend for that counter. Nested streams on one
// thread each get their own. Not copyable; use on the creating thread only.
#pragma once

#include <istream>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include <cereal/details/helpers.hpp>

namespace palaver {
namespace archive_streams_internal {

// Reads bytes the caller keeps alive, without copying them.
struct ViewBuffer : std::streambuf {
  void Reset(std::string_view bytes) {
    char* begin = const_cast<char*>(bytes.data());
    setg(begin, begin, begin + bytes.size());
  }
  size_t Left() const { return static_cast<size_t>(egptr() - gptr()); }
  std::string_view Take(size_t n) {
    if (Left() < n)
      throw cereal::Exception("a length of " + std::to_string(n) + " runs past the end");
    const std::string_view bytes(gptr(), n);
    gbump(static_cast<int>(n));
    return bytes;
  }
};

// Appends what is written to `bytes`.
struct StringBuffer : std::streambuf {
  std::string bytes;
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof()))
      bytes.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    bytes.append(s, static_cast<size_t>(n));
    return n;
  }
};

// Holds one of this thread's idle (Buffer, Stream) pairs, or a new one when
// none is idle, and gives it back on destruction.
template <class Buffer, class Stream>
class Pooled {
 public:
  Pooled() : slot_(Acquire()) { slot_->stream.clear(); }
  ~Pooled() { Idle().push_back(std::move(slot_)); }
  Pooled(const Pooled&) = delete;
  Pooled& operator=(const Pooled&) = delete;

 protected:
  Buffer& buffer() { return slot_->buffer; }
  const Buffer& buffer() const { return slot_->buffer; }
  Stream& stream() { return slot_->stream; }

 private:
  struct Slot {
    Buffer buffer;
    Stream stream{&buffer};
  };
  static std::vector<std::unique_ptr<Slot>>& Idle() {
    thread_local std::vector<std::unique_ptr<Slot>> idle;
    return idle;
  }
  static std::unique_ptr<Slot> Acquire() {
    std::vector<std::unique_ptr<Slot>>& idle = Idle();
    if (idle.empty()) return std::make_unique<Slot>();
    std::unique_ptr<Slot> slot = std::move(idle.back());
    idle.pop_back();
    return slot;
  }

  std::unique_ptr<Slot> slot_;
};

}  // namespace archive_streams_internal

// A std::istream over bytes the caller keeps alive: decoding never copies them.
class ViewStream
    : archive_streams_internal::Pooled<archive_streams_internal::ViewBuffer, std::istream> {
 public:
  explicit ViewStream(std::string_view bytes) { buffer().Reset(bytes); }

  std::istream& in() { return stream(); }
  // The next `n` bytes, consumed, as a view into the caller's bytes; throws
  // cereal::Exception when fewer are left.
  std::string_view Take(size_t n) { return buffer().Take(n); }
  // True when every byte has been read.
  bool AtEnd() const { return buffer().Left() == 0; }
};

// A std::ostream that appends to a string, taken with Take().
class StringStream
    : archive_streams_internal::Pooled<archive_streams_internal::StringBuffer, std::ostream> {
 public:
  StringStream() { buffer().bytes.clear(); }

  std::ostream& out() { return stream(); }
  // What was written so far; the stream is empty afterwards.
  std::string Take() { return std::move(buffer().bytes); }
};

}  // namespace palaver
