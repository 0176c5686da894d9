#include "replicator/proto/dovecot_event.h"

#include <catch2/catch.hpp>

#include <string>

using namespace titan::replicator::proto;

namespace {

std::string describe(const EventParse& p) {
    if (const auto* e = std::get_if<ChangeEvent>(&p)) {
        std::string out = "event=" + e->name + " user=" + e->user + " service=" + e->service + " reasons=";
        for (const auto& r : e->reason_codes) out += r + ";";
        return out;
    }
    return "error=" + std::get<EventError>(p).reason;
}

}  // namespace

TEST_CASE("dovecot event: what Dovecot 2.4.1's exporter writes, and errors", "[codec]") {
    struct Case {
        const char* name;
        std::string line;
        std::string want;
    };
    const Case cases[] = {
        {"lmtp delivery",
         R"({"event":"push_notification_finished","hostname":"mx","start_time":1733300000.1,)"
         R"("end_time":1733300000.2,"categories":["lmtp","push-notification"],"fields":{"user":"bob@example.test",)"
         R"("service":"lmtp","rcpt_to":"bob@example.test","mail_from":"a@b","reason_code":["lmtp:cmd_data"]}})",
         "event=push_notification_finished user=bob@example.test service=lmtp reasons=lmtp:cmd_data;"},
        {"written by dsync on the remote side",
         R"({"event":"push_notification_finished","fields":{"user":"bob@example.test","service":"doveadm",)"
         R"("reason_code":["doveadm:cmd_dsync_server"]}})",
         "event=push_notification_finished user=bob@example.test service=doveadm reasons=doveadm:cmd_dsync_server;"},
        {"reason code as a plain string", R"({"fields":{"reason_code":"imap:cmd_store","user":"u@x"}})",
         "event= user=u@x service= reasons=imap:cmd_store;"},
        {"no fields", R"({"event":"x"})", "event=x user= service= reasons="},
        {"unused members of every type", R"({"a":[1,-2.5e3,true,false,null,{"b":[[]]}],"fields":{"n":0,"user":"u@x"}})",
         "event= user=u@x service= reasons="},
        {"whitespace", " { \"fields\" : { \"user\" : \"u@x\" } } ", "event= user=u@x service= reasons="},
        {"escapes", R"({"fields":{"user":"a\"b\\c\/d\u00e9\ud83d\ude00@x"}})",
         "event= user=a\"b\\c/d\xc3\xa9\xf0\x9f\x98\x80@x service= reasons="},
        {"non-string user skipped", R"({"fields":{"user":42}})", "event= user= service= reasons="},
        {"last repeated member wins", R"({"fields":{"user":"a@x","user":"b@x"}})", "event= user=b@x service= reasons="},
        {"empty object", "{}", "event= user= service= reasons="},
        {"empty line", "", "error=not a JSON object"},
        {"blank", "   ", "error=not a JSON object"},
        {"array", "[]", "error=not a JSON object"},
        {"tab-text format", "event=push_notification_finished\tuser=u@x", "error=not a JSON object"},
        {"truncated", R"({"fields":{"user":"u@x")", "error=bad JSON"},
        {"unterminated string", R"({"fields":{"user":"u@x)", "error=bad JSON"},
        {"trailing data", R"({"fields":{}} x)", "error=trailing data"},
        {"two objects", R"({}{})", "error=trailing data"},
        {"missing colon", R"({"a" 1})", "error=bad JSON"},
        {"trailing comma", R"({"a":1,})", "error=bad JSON"},
        {"bad literal", R"({"a":tru})", "error=bad JSON"},
        {"bad number", R"({"a":01})", "error=bad JSON"},
        {"bare minus", R"({"a":-})", "error=bad JSON"},
        {"raw control byte", std::string("{\"fields\":{\"user\":\"a\tb\"}}"), "error=control byte in string"},
        {"raw NUL", std::string("{\"fields\":{\"user\":\"a\0b\"}}", 25), "error=NUL in string"},
        {"escaped NUL", R"({"fields":{"user":"a\u0000b"}})", "error=NUL in string"},
        {"bad escape letter", R"({"a":"\x"})", "error=bad escape"},
        {"short \\u", R"({"a":"\u12"})", "error=bad escape"},
        {"lone low surrogate", R"({"a":"\udc00"})", "error=bad escape"},
        {"high surrogate alone", R"({"a":"\ud800x"})", "error=bad escape"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(describe(parseEventLine(c.line)) == c.want);
    }
}

TEST_CASE("dovecot event: nesting limit", "[codec]") {
    // The top object is depth 1; kMaxEventDepth levels are accepted, one more is not.
    auto nested = [](std::size_t depth) {
        std::string s = "{\"a\":";
        for (std::size_t i = 1; i < depth; ++i) s += "[";
        s += "0";
        for (std::size_t i = 1; i < depth; ++i) s += "]";
        return s + "}";
    };
    CHECK(std::holds_alternative<ChangeEvent>(parseEventLine(nested(kMaxEventDepth))));
    CHECK(describe(parseEventLine(nested(kMaxEventDepth + 1))) == "error=too deep");
    CHECK(describe(parseEventLine(std::string(100000, '[') )) == "error=not a JSON object");
    CHECK(describe(parseEventLine("{\"a\":" + std::string(100000, '['))) == "error=too deep");
}

TEST_CASE("dovecot event: changes written by replication are recognised", "[codec]") {
    struct Case {
        std::vector<std::string> codes;
        bool want;
    };
    const Case cases[] = {
        {{"doveadm:cmd_dsync_server"}, true},
        {{"doveadm:cmd_sync"}, true},
        {{"doveadm:cmd_backup"}, true},
        {{"imap:cmd_store", "doveadm:cmd_sync"}, true},
        {{"lmtp:cmd_data"}, false},
        {{"imap:cmd_append"}, false},
        {{"doveadm:cmd_save"}, false},  // an operator's doveadm save is a real change
        {{"doveadm:cmd_sync_x"}, false},
        {{}, false},
    };
    for (const auto& c : cases) {
        ChangeEvent e;
        e.user = "u@x";
        e.reason_codes = c.codes;
        CHECK(writtenByReplication(e) == c.want);
    }
}

TEST_CASE("dovecot event: encode is read back as the same event", "[codec]") {
    const ChangeEvent events[] = {
        {"push_notification_finished", "bob@example.test", "lmtp", {"lmtp:cmd_data"}},
        {"", "", "", {}},
        {"e", "a\"b\\c\n\t\x01\xc3\xa9@x", "imap", {"imap:cmd_store", "imap:cmd_expunge"}},
    };
    for (const auto& e : events) {
        auto back = parseEventLine(encodeEventLine(e));
        REQUIRE(std::holds_alternative<ChangeEvent>(back));
        CHECK(std::get<ChangeEvent>(back) == e);
    }
}

TEST_CASE("dovecot event: every prefix of a valid line is an error, never a crash", "[codec]") {
    const std::string line = encodeEventLine({"push_notification_finished", "bob@example.test", "lmtp", {"lmtp:cmd_data"}});
    for (std::size_t n = 0; n < line.size(); ++n) {
        INFO(n);
        CHECK(std::holds_alternative<EventError>(parseEventLine(std::string_view(line).substr(0, n))));
    }
}
