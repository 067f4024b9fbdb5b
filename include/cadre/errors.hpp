#pragma once
/// \file errors.hpp
/// The exception hierarchy: every error cadre raises derives from cadre::Error.

#include <stdexcept>
#include <string>
#include <utility>

namespace cadre {

/// Root of every exception cadre throws; what() names what failed and where.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Defines an error class `Name` derived from Error (undefined after use).
#define CADRE_DEFINE_ERROR(Name)                      \
  class Name : public Error {                         \
   public:                                            \
    explicit Name(const std::string& m) : Error(m) {} \
  }

/// A second cadre::Runtime was constructed in one process.
CADRE_DEFINE_ERROR(InitTwice);
/// A call was made from a node or thread that may not make it (serve() on the master, ...).
CADRE_DEFINE_ERROR(WrongRole);
/// A task or message type is not registered in the binary that needed it.
CADRE_DEFINE_ERROR(NotRegistered);
/// Two binaries registered one name with different signatures, or one binary registered a
/// name twice.
CADRE_DEFINE_ERROR(RegistryMismatch);
/// receive() was called with no matchers.
CADRE_DEFINE_ERROR(EmptyMatchers);
/// A node id that is not part of the runtime was named.
CADRE_DEFINE_ERROR(InvalidNode);
/// A wait ran out of time (the awaited work goes on).
CADRE_DEFINE_ERROR(Timeout);
/// A task ended with an exception on another node.
CADRE_DEFINE_ERROR(RemoteError);
/// A call() failed because the callee ended or its node was lost.
CADRE_DEFINE_ERROR(CallFailed);
/// The node running a task was lost.
CADRE_DEFINE_ERROR(NodeDown);
/// Starting nodes failed.
CADRE_DEFINE_ERROR(SpawnError);
/// Bytes received could not be decoded (malformed, truncated, or from another version).
CADRE_DEFINE_ERROR(DecodeError);
/// A payload is larger than the configured cap.
CADRE_DEFINE_ERROR(PayloadTooLarge);
/// The runtime is not running (not started yet, or shut down).
CADRE_DEFINE_ERROR(NotRunning);

#undef CADRE_DEFINE_ERROR

/// An MPI call failed: what() names the routine, MPI's error code and its text, which are also
/// available apart.
class MpiError : public Error {
 public:
  /// `routine` returned `code`, which MPI describes as `text`.
  MpiError(std::string routine, int code, std::string text)
      : Error("cadre: MPI call failed: " + routine + " returned " + std::to_string(code) + " (" +
              text + ")"),
        routine_(std::move(routine)),
        code_(code),
        text_(std::move(text)) {}
  /// The MPI call that failed, as written in cadre's source.
  const std::string& routine() const { return routine_; }
  /// The error code it returned.
  int code() const { return code_; }
  /// MPI's text for the code.
  const std::string& text() const { return text_; }

 private:
  std::string routine_;
  int code_;
  std::string text_;
};

}  // namespace cadre
