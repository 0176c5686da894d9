#include "common/proto/dovecot_auth/mechanisms.h"

#include <catch2/catch.hpp>
#include <string>

using namespace titan::proto::dovecot_auth;
using namespace std::string_literals;

namespace {

std::string describe(const MechanismStep& s) {
    if (const auto* c = std::get_if<Challenge>(&s)) return "Challenge{" + c->data + "}";
    if (const auto* c = std::get_if<Credentials>(&s)) return "Credentials{" + c->authzid + "," + c->user + "," + c->password + "}";
    const auto& f = std::get<MechanismFailure>(s);
    return std::string("Failure{") + mechanismErrorName(f.error) + "," + f.user + "}";
}

MechanismStep plain(std::string_view msg, const AuthLimits& limits = {}) {
    MechanismState st;
    return startMechanism(st, Mechanism::Plain, std::string(msg), limits);
}

}  // namespace

TEST_CASE("PLAIN: every form", "[codec]") {
    struct Case {
        const char* name;
        std::string msg;
        MechanismStep want;
    };
    const Case cases[] = {
        {"empty authzid", "\0john@example.com\0secret"s, Credentials{"", "john@example.com", "secret"}},
        {"authzid equal to authcid", "john@example.com\0john@example.com\0secret"s,
         Credentials{"john@example.com", "john@example.com", "secret"}},
        {"empty password is passed on", "\0john\0"s, Credentials{"", "john", ""}},
        {"password with spaces and UTF-8", "\0john\0p w \xc3\xa9"s, Credentials{"", "john", "p w \xc3\xa9"}},
        {"authzid differs (master user)", "admin\0john\0secret"s, MechanismFailure{MechanismError::AuthzidMismatch, "john"}},
        {"authzid differs only in case", "John\0john\0secret"s, MechanismFailure{MechanismError::AuthzidMismatch, "john"}},
        {"empty authcid", "\0\0secret"s, MechanismFailure{MechanismError::EmptyUser, ""}},
        {"no NUL", "johnsecret", MechanismFailure{MechanismError::Malformed, ""}},
        {"one NUL", "john\0secret"s, MechanismFailure{MechanismError::Malformed, ""}},
        {"three NULs", "\0john\0sec\0ret"s, MechanismFailure{MechanismError::Malformed, ""}},
        {"empty message", "", MechanismFailure{MechanismError::Malformed, ""}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        const auto got = plain(c.msg);
        INFO("got " << describe(got) << ", want " << describe(c.want));
        CHECK(got == c.want);
    }
}

TEST_CASE("PLAIN: without an initial response the server sends an empty challenge", "[codec]") {
    MechanismState st;
    CHECK(startMechanism(st, Mechanism::Plain, std::nullopt, {}) == MechanismStep{Challenge{""}});
    CHECK(continueMechanism(st, "\0bob\0pw"s, {}) == MechanismStep{Credentials{"", "bob", "pw"}});
    // A further step is a caller bug.
    CHECK(continueMechanism(st, "x", {}) == MechanismStep{MechanismFailure{MechanismError::Malformed, ""}});
}

TEST_CASE("PLAIN: limits at -1/0/+1", "[codec]") {
    AuthLimits limits;
    limits.max_user_bytes = 8;
    limits.max_password_bytes = 6;
    const std::string u7(7, 'u'), u8(8, 'u'), u9(9, 'u');
    const std::string p5(5, 'p'), p6(6, 'p'), p7(7, 'p');
    const std::string nul(1, '\0');
    CHECK(plain(nul + u7 + nul + p6, limits) == MechanismStep{Credentials{"", u7, p6}});
    CHECK(plain(nul + u8 + nul + p6, limits) == MechanismStep{Credentials{"", u8, p6}});
    CHECK(plain(nul + u9 + nul + p6, limits) == MechanismStep{MechanismFailure{MechanismError::TooLong, ""}});
    CHECK(plain(nul + u8 + nul + p5, limits) == MechanismStep{Credentials{"", u8, p5}});
    CHECK(plain(nul + u8 + nul + p7, limits) == MechanismStep{MechanismFailure{MechanismError::TooLong, u8}});
    CHECK(plain(u8 + nul + u8 + nul + p6, limits) == MechanismStep{Credentials{u8, u8, p6}});
    CHECK(plain(u9 + nul + u8 + nul + p6, limits) == MechanismStep{MechanismFailure{MechanismError::TooLong, u8}});
    CHECK(AuthLimits{}.max_user_bytes == 512);
    CHECK(AuthLimits{}.max_password_bytes == 1024);
}

TEST_CASE("LOGIN: challenges, then credentials", "[codec]") {
    MechanismState st;
    CHECK(startMechanism(st, Mechanism::Login, std::nullopt, {}) == MechanismStep{Challenge{"Username:"}});
    CHECK(continueMechanism(st, "john@example.com", {}) == MechanismStep{Challenge{"Password:"}});
    CHECK(continueMechanism(st, "secret", {}) == MechanismStep{Credentials{"", "john@example.com", "secret"}});
    CHECK(st.user.empty());
    CHECK(continueMechanism(st, "more", {}) == MechanismStep{MechanismFailure{MechanismError::Malformed, ""}});
}

TEST_CASE("LOGIN: the initial response is the user name", "[codec]") {
    MechanismState st;
    CHECK(startMechanism(st, Mechanism::Login, std::string("john@example.com"), {}) ==
          MechanismStep{Challenge{"Password:"}});
    CHECK(continueMechanism(st, "", {}) == MechanismStep{Credentials{"", "john@example.com", ""}});
    MechanismState empty;
    CHECK(startMechanism(empty, Mechanism::Login, std::string(), {}) ==
          MechanismStep{MechanismFailure{MechanismError::EmptyUser, ""}});
}

TEST_CASE("LOGIN: each failure and the limits at -1/0/+1", "[codec]") {
    AuthLimits limits;
    limits.max_user_bytes = 4;
    limits.max_password_bytes = 3;
    auto user = [&](std::string_view u) {
        MechanismState st;
        (void)startMechanism(st, Mechanism::Login, std::nullopt, limits);
        return continueMechanism(st, u, limits);
    };
    auto password = [&](std::string_view p) {
        MechanismState st;
        (void)startMechanism(st, Mechanism::Login, std::string("abc"), limits);
        return continueMechanism(st, p, limits);
    };
    CHECK(user("abc") == MechanismStep{Challenge{"Password:"}});
    CHECK(user("abcd") == MechanismStep{Challenge{"Password:"}});
    CHECK(user("abcde") == MechanismStep{MechanismFailure{MechanismError::TooLong, ""}});
    CHECK(user("") == MechanismStep{MechanismFailure{MechanismError::EmptyUser, ""}});
    CHECK(user("a\0b"s) == MechanismStep{MechanismFailure{MechanismError::Malformed, ""}});
    CHECK(password("pw") == MechanismStep{Credentials{"", "abc", "pw"}});
    CHECK(password("pwd") == MechanismStep{Credentials{"", "abc", "pwd"}});
    CHECK(password("pwdx") == MechanismStep{MechanismFailure{MechanismError::TooLong, "abc"}});
    CHECK(password("p\0w"s) == MechanismStep{MechanismFailure{MechanismError::Malformed, "abc"}});
}

TEST_CASE("mechanismErrorName names every error", "[codec]") {
    CHECK(std::string(mechanismErrorName(MechanismError::Malformed)) == "malformed");
    CHECK(std::string(mechanismErrorName(MechanismError::EmptyUser)) == "empty_user");
    CHECK(std::string(mechanismErrorName(MechanismError::AuthzidMismatch)) == "authzid_mismatch");
    CHECK(std::string(mechanismErrorName(MechanismError::TooLong)) == "too_long");
}
