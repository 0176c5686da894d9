#include "authd/server/dict_session.h"

#include <chrono>

#include "common/log/log.h"

namespace titan::authd {

namespace dict = proto::dict;

namespace {
// Fetch the next page of an iteration only when the peer has read the previous one
// down to this many bytes (below the connection's resume watermark).
constexpr size_t kIterationOutputHighWater = 256 * 1024;
}  // namespace

DictMetrics::DictMetrics(metrics::Registry& r)
    : registry(r),
      protocol_errors(r.counter("authd_dict_protocol_errors_total",
                                "Dict connections closed because of a malformed line")),
      lookup_seconds(r.histogram("authd_dict_lookup_duration_seconds", "Dict lookup latency")),
      iterated_users(r.counter("authd_dict_iterated_users_total", "Users returned by dict iterations")) {}

DictSession::DictSession(event::LineConnection& conn, UserLookup& lookup, store::Store& store,
                         std::shared_ptr<const DictSettings> settings, DictMetrics& metrics)
    : conn_(conn), lookup_(lookup), store_(store), settings_(std::move(settings)), metrics_(metrics) {}

void DictSession::onClose(event::DisconnectReason /*reason*/) {
    *alive_ = false;
    slots_.clear();
}

void DictSession::count(const char* kind, const char* result) {
    metrics_.registry
        .counter("authd_dict_requests_total", "Dict requests by kind and result",
                 std::string("kind=\"") + kind + "\",result=\"" + result + "\"")
        .inc();
}

void DictSession::protocolError(const std::string& reason) {
    metrics_.protocol_errors.inc();
    log::warning("dict protocol error, disconnecting",
                 {{"conn.id", conn_.id()}, {"peer", conn_.peer()}, {"reason", reason}});
    conn_.close(event::DisconnectReason::ProtocolError);
}

void DictSession::onLine(std::string_view line) {
    if (!hello_done_) {
        auto hello = dict::parseHello(line, settings_->limits);
        if (auto* err = std::get_if<dict::ProtocolError>(&hello)) {
            protocolError("bad hello: " + err->reason);
            return;
        }
        const auto& h = std::get<dict::Hello>(hello);
        if (h.major != 3) {
            protocolError("dict protocol major " + std::to_string(h.major) + " is not served by authd (want 3)");
            return;
        }
        major_ = h.major;
        hello_done_ = true;
        return;
    }
    auto parsed = dict::parseCommand(line, settings_->limits, major_);
    if (auto* err = std::get_if<dict::ProtocolError>(&parsed)) {
        protocolError(err->reason);
        return;
    }
    const auto& cmd = std::get<dict::Command>(parsed);
    if (const auto* l = std::get_if<dict::Lookup>(&cmd)) {
        handleLookup(*l);
    } else if (const auto* it = std::get_if<dict::Iterate>(&cmd)) {
        handleIterate(*it);
    } else {
        handleTransaction(cmd);
    }
}

void DictSession::handleLookup(const dict::Lookup& cmd) {
    auto slot = std::make_shared<Slot>();
    slots_.push_back(slot);
    auto key = core::parseDictKey(cmd.key);
    if (std::holds_alternative<core::UnknownKey>(key)) {
        count("other", "notfound");
        answer(slot, dict::encodeNotFound());
        return;
    }
    bool passdb = std::holds_alternative<core::PassdbKey>(key);
    std::string service = passdb ? std::get<core::PassdbKey>(key).service : std::string();
    const std::string& user = passdb ? std::get<core::PassdbKey>(key).user : std::get<core::UserdbKey>(key).user;
    auto started = std::chrono::steady_clock::now();
    std::weak_ptr<bool> alive = alive_;
    lookup_.lookup(user, [this, alive, slot, passdb, service, started](const UserLookup::Answer& a) {
        if (alive.expired() || !*alive.lock()) return;
        metrics_.lookup_seconds.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        const char* kind = passdb ? "passdb" : "userdb";
        switch (a.outcome) {
            case UserLookup::Outcome::Found:
                count(kind, a.stale ? "found_stale" : "found");
                answer(slot, dict::encodeLookupFound(passdb ? core::passdbJson(*a.mailbox, service)
                                                            : core::userdbJson(*a.mailbox, settings_->userdb_defaults)));
                break;
            case UserLookup::Outcome::NotFound:
                count(kind, "notfound");
                answer(slot, dict::encodeNotFound());
                break;
            case UserLookup::Outcome::Unavailable:
                count(kind, "fail");
                answer(slot, dict::encodeFail("user database temporarily unavailable"));
                break;
        }
    });
}

void DictSession::handleIterate(const dict::Iterate& cmd) {
    auto slot = std::make_shared<Slot>();
    slots_.push_back(slot);
    if (!core::isUserIteration(cmd.path)) {
        // Nothing else is listable; an empty iteration is the honest answer.
        count("iterate", "empty");
        answer(slot, dict::encodeIterEnd());
        return;
    }
    slot->iteration = std::make_unique<Iteration>();
    slot->iteration->max_rows = cmd.max_rows;
    slot->iteration->keys_only = (cmd.flags & dict::kIterNoValue) != 0;
    flush();
}

void DictSession::handleTransaction(const dict::Command& cmd) {
    if (const auto* b = std::get_if<dict::Begin>(&cmd)) {
        if (transactions_.count(b->id) != 0) {
            protocolError("begin with a transaction id already open");
            return;
        }
        if (transactions_.size() >= settings_->max_transactions) {
            protocolError("too many open transactions");
            return;
        }
        transactions_.insert(b->id);
        return;
    }
    uint32_t id = std::visit([](const auto& c) -> uint32_t {
        if constexpr (requires { c.id; }) return c.id;
        else return 0;
    }, cmd);
    if (transactions_.count(id) == 0) {
        protocolError(std::string(dict::commandName(cmd)) + " for an unknown transaction id");
        return;
    }
    if (const auto* c = std::get_if<dict::Commit>(&cmd)) {
        transactions_.erase(id);
        auto slot = std::make_shared<Slot>();
        slots_.push_back(slot);
        count("commit", "fail");
        answer(slot, dict::encodeCommit(dict::CommitResult::Failed, id, "authd dict is read-only", c->async));
        return;
    }
    if (std::holds_alternative<dict::Rollback>(cmd)) transactions_.erase(id);
    // S, U, A, T inside an open transaction: accepted and dropped at commit.
}

void DictSession::answer(const std::shared_ptr<Slot>& slot, std::string reply) {
    slot->reply = std::move(reply);
    slot->ready = true;
    flush();
}

void DictSession::flush() {
    if (flushing_) return;
    flushing_ = true;
    bool popped = false;
    while (!slots_.empty() && !conn_.closing()) {
        auto& head = slots_.front();
        if (head->iteration) {
            driveIteration(head);
            if (!head->ready) break;
        }
        if (!head->ready) break;
        conn_.write(head->reply);
        slots_.pop_front();
        popped = true;
    }
    flushing_ = false;
    if (popped) conn_.resume();
}

void DictSession::driveIteration(const std::shared_ptr<Slot>& slot) {
    Iteration& it = *slot->iteration;
    if (it.fetching || slot->ready) return;
    // Back-pressure: fetch the next page only once the peer has read most of the last.
    if (conn_.outputBytes() > kIterationOutputHighWater) return;
    size_t want = settings_->iterate_page;
    if (it.max_rows > 0) want = static_cast<size_t>(std::min<uint64_t>(want, it.max_rows - it.sent));
    it.fetching = true;
    std::weak_ptr<bool> alive = alive_;
    store_.fetchUserPage(it.cursor, want, [this, alive, slot, want](Result<std::vector<core::Mailbox>> page) {
        if (alive.expired() || !*alive.lock()) return;
        Iteration& iter = *slot->iteration;
        iter.fetching = false;
        if (!page) {
            log::warning("user iteration failed", {{"error", page.error().message}});
            count("iterate", "fail");
            slot->reply = dict::encodeIterFail("user database temporarily unavailable");
            slot->ready = true;
            flush();
            return;
        }
        std::string out;
        for (const auto& m : *page) {
            std::string key = std::string(core::kUserdbPrefix) + m.username;
            out += dict::encodeIterRow(key, iter.keys_only ? std::string()
                                                           : core::userdbJson(m, settings_->userdb_defaults));
            iter.cursor = m.username;
            ++iter.sent;
        }
        metrics_.iterated_users.inc(page->size());
        conn_.write(out);
        bool done = page->size() < want || (iter.max_rows > 0 && iter.sent >= iter.max_rows);
        if (done) {
            count("iterate", "done");
            slot->reply = dict::encodeIterEnd();
            slot->ready = true;
        }
        flush();
    });
}

}  // namespace titan::authd
