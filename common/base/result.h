// Result<T> and Error: the project's error-return vocabulary (STYLE 3.5).
// A Result holds either a value or an Error{code, message}. "Not found" is not
// an error: lookups return Result<std::optional<T>>.
// Layer: common/base (standard library only).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace titan {

enum class ErrorCode {
    InvalidInput,  // the peer's fault: answer with a protocol error, never retry
    Unavailable,   // transient (backend down, timeout): defer or retry
    Config,        // the operator must fix something; fatal at start-up
    Internal,      // our bug: log, count, fail this request
};

const char* errorCodeName(ErrorCode code) noexcept;

struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;

    static Error invalidInput(std::string m) { return {ErrorCode::InvalidInput, std::move(m)}; }
    static Error unavailable(std::string m) { return {ErrorCode::Unavailable, std::move(m)}; }
    static Error config(std::string m) { return {ErrorCode::Config, std::move(m)}; }
    static Error internal(std::string m) { return {ErrorCode::Internal, std::move(m)}; }
};

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}              // NOLINT: implicit by design
    Result(Error error) : v_(std::move(error)) {}          // NOLINT: implicit by design

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

    bool ok() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    const Error& error() const& { return error_; }
    Error&& error() && { return std::move(error_); }

private:
    Error error_{};
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace titan
