#include "quotad/server/dict_session.h"

#include <chrono>

#include "common/base/strings.h"
#include "common/log/log.h"

namespace titan::quotad {

namespace dict = proto::dict;

DictMetrics::DictMetrics(metrics::Registry& r)
    : registry(r),
      protocol_errors(r.counter("quotad_dict_protocol_errors_total",
                                "Dict connections closed because of a malformed line")),
      lookup_seconds(r.histogram("quotad_dict_lookup_duration_seconds", "Dict lookup latency")),
      commit_seconds(r.histogram("quotad_dict_commit_duration_seconds", "Dict commit latency (until durable)")) {}

DictSession::DictSession(event::LineConnection& conn, UsageService& usage, std::shared_ptr<const DictSettings> settings,
                         DictMetrics& metrics)
    : conn_(conn), usage_(usage), settings_(std::move(settings)), metrics_(metrics) {}

void DictSession::onClose(event::DisconnectReason /*reason*/) {
    *alive_ = false;
    slots_.clear();
    deferred_.clear();
    transactions_.clear();
}

metrics::Counter& DictMetrics::request(const char* kind, const char* result) {
    auto& slot = requests[{kind, result}];
    if (slot == nullptr) {
        slot = &registry.counter("quotad_dict_requests_total", "Dict requests by kind and result",
                                 std::string("kind=\"") + kind + "\",result=\"" + result + "\"");
    }
    return *slot;
}

void DictSession::count(const char* kind, const char* result) { metrics_.request(kind, result).inc(); }

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
        major_ = std::get<dict::Hello>(hello).major;
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
    auto resource = core::parseQuotaKey(cmd.key);
    if (!resource) {
        count("lookup", "notfound");
        answer(slot, dict::encodeNotFound());
        return;
    }
    if (cmd.user.empty()) {
        count("lookup", "fail");
        answer(slot, dict::encodeFail("priv/ key without a user"));
        return;
    }
    auto user = identity::canonicalUser(cmd.user, settings_->identity);
    if (!user) {
        count("lookup", "notfound");
        answer(slot, dict::encodeNotFound());
        return;
    }
    if (commits_in_flight_ > 0) {
        // Read-your-writes: this connection's earlier commits must land first.
        deferred_.push_back({slot, *user, *resource});
        return;
    }
    startLookup(slot, *user, *resource);
}

void DictSession::startLookup(const std::shared_ptr<Slot>& slot, const std::string& user, core::Resource resource) {
    auto started = std::chrono::steady_clock::now();
    std::weak_ptr<bool> alive = alive_;
    usage_.lookup(user, [this, alive, slot, resource, started](Result<std::optional<core::Row>> row) {
        if (alive.expired() || !*alive.lock()) return;
        metrics_.lookup_seconds.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (!row) {
            count("lookup", "fail");
            answer(slot, dict::encodeFail("quota database temporarily unavailable"));
            return;
        }
        const auto value = *row ? (**row).usage[resource] : std::optional<std::int64_t>();
        if (!value) {
            count("lookup", "notfound");
            answer(slot, dict::encodeNotFound());
            return;
        }
        count("lookup", "found");
        answer(slot, dict::encodeLookupFound(std::to_string(*value)));
    });
}

void DictSession::handleIterate(const dict::Iterate& cmd) {
    auto slot = std::make_shared<Slot>();
    slots_.push_back(slot);
    // Only priv/quota/ holds anything, and only for a user.
    const bool priv = base::startsWith(cmd.path, "priv/");
    auto user = priv && !cmd.user.empty() ? identity::canonicalUser(cmd.user, settings_->identity)
                                          : Result<std::string>(Error::invalidInput("no user"));
    if (!user) {
        count("iterate", "empty");
        answer(slot, dict::encodeIterEnd());
        return;
    }
    const std::string path = cmd.path;
    const std::uint32_t flags = cmd.flags;
    const std::uint64_t max_rows = cmd.max_rows;
    std::weak_ptr<bool> alive = alive_;
    usage_.lookup(*user, [this, alive, slot, path, flags, max_rows](Result<std::optional<core::Row>> row) {
        if (alive.expired() || !*alive.lock()) return;
        if (!row) {
            count("iterate", "fail");
            answer(slot, dict::encodeIterFail("quota database temporarily unavailable"));
            return;
        }
        std::string out;
        std::uint64_t sent = 0;
        if (*row) {
            for (core::Resource r : core::kResources) {
                const auto& v = (**row).usage[r];
                if (!v) continue;
                const std::string_view key = core::quotaKey(r);
                bool match;
                if ((flags & dict::kIterExactKey) != 0) {
                    match = key == path;
                } else {
                    match = base::startsWith(key, path) &&
                            ((flags & dict::kIterRecurse) != 0 || key.substr(path.size()).find('/') == std::string_view::npos);
                }
                if (!match || (max_rows > 0 && sent >= max_rows)) continue;
                out += dict::encodeIterRow(key, (flags & dict::kIterNoValue) != 0 ? std::string() : std::to_string(*v));
                ++sent;
            }
        }
        count("iterate", "done");
        answer(slot, out + dict::encodeIterEnd());
    });
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
        Transaction t;
        if (!b->user.empty()) {
            auto user = identity::canonicalUser(b->user, settings_->identity);
            if (user) {
                t.user = std::move(*user);
            } else {
                t.failure = "invalid user name";
            }
        }
        transactions_.emplace(b->id, std::move(t));
        return;
    }
    const std::uint32_t id = std::visit(
        [](const auto& c) -> std::uint32_t {
            if constexpr (requires { c.id; }) return c.id;
            else return 0;
        },
        cmd);
    auto it = transactions_.find(id);
    if (it == transactions_.end()) {
        protocolError(std::string(dict::commandName(cmd)) + " for an unknown transaction id");
        return;
    }
    Transaction& t = it->second;
    if (const auto* c = std::get_if<dict::Commit>(&cmd)) {
        handleCommit(id, c->async);
        return;
    }
    if (std::holds_alternative<dict::Rollback>(cmd)) {
        transactions_.erase(it);
        return;
    }
    if (std::holds_alternative<dict::Timestamp>(cmd)) return;  // nothing we store depends on it
    if (t.ops.size() >= settings_->max_ops_per_transaction) {
        protocolError("too many writes in one transaction");
        return;
    }
    auto note = [&t](std::string failure) {
        if (t.failure.empty()) t.failure = std::move(failure);
    };
    auto resourceOf = [&](const std::string& key) -> std::optional<core::Resource> {
        auto r = core::parseQuotaKey(key);
        if (!r) note("quotad stores only " + std::string(core::kStorageKey) + " and " + std::string(core::kMessagesKey));
        return r;
    };
    if (const auto* s = std::get_if<dict::Set>(&cmd)) {
        auto r = resourceOf(s->key);
        auto v = base::parseSigned(s->value);
        if (!v) note("value of " + s->key + " is not a decimal integer");
        if (r && v) t.ops.push_back({core::Op::Kind::Set, *r, *v});
    } else if (const auto* u = std::get_if<dict::Unset>(&cmd)) {
        if (auto r = resourceOf(u->key)) t.ops.push_back({core::Op::Kind::Unset, *r, 0});
    } else if (const auto* a = std::get_if<dict::AtomicInc>(&cmd)) {
        if (auto r = resourceOf(a->key)) t.ops.push_back({core::Op::Kind::Inc, *r, a->diff});
    }
}

void DictSession::handleCommit(std::uint32_t id, bool async) {
    auto node = transactions_.extract(id);
    Transaction& t = node.mapped();
    auto slot = std::make_shared<Slot>();
    slots_.push_back(slot);
    if (t.failure.empty() && t.user.empty() && !t.ops.empty()) t.failure = "priv/ key without a user";
    if (!t.failure.empty()) {
        count("commit", "fail");
        answer(slot, dict::encodeCommit(dict::CommitResult::Failed, id, t.failure, async));
        return;
    }
    if (t.ops.empty()) {
        count("commit", "ok");
        answer(slot, dict::encodeCommit(dict::CommitResult::Ok, id, {}, async));
        return;
    }
    ++commits_in_flight_;
    auto started = std::chrono::steady_clock::now();
    std::weak_ptr<bool> alive = alive_;
    usage_.commit({std::move(t.user), std::move(t.ops)}, [this, alive, slot, id, async, started](const CommitReply& r) {
        if (alive.expired() || !*alive.lock()) return;
        metrics_.commit_seconds.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        --commits_in_flight_;
        switch (r.kind) {
            case CommitReply::Kind::Ok:
                count("commit", "ok");
                answer(slot, dict::encodeCommit(dict::CommitResult::Ok, id, {}, async));
                break;
            case CommitReply::Kind::NotFound:
                count("commit", "notfound");
                answer(slot, dict::encodeCommit(dict::CommitResult::NotFound, id, {}, async));
                break;
            case CommitReply::Kind::Failed:
                count("commit", "fail");
                answer(slot, dict::encodeCommit(dict::CommitResult::Failed, id, r.message, async));
                break;
            case CommitReply::Kind::Uncertain:
                count("commit", "uncertain");
                answer(slot, dict::encodeCommit(dict::CommitResult::WriteUncertain, id, r.message, async));
                break;
        }
        if (!*alive.lock()) return;
        if (commits_in_flight_ == 0 && !deferred_.empty()) {
            auto waiting = std::move(deferred_);
            deferred_.clear();
            for (auto& d : waiting) startLookup(d.slot, d.user, d.resource);
        }
    });
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
    while (!slots_.empty() && !conn_.closing() && slots_.front()->ready) {
        conn_.write(slots_.front()->reply);
        slots_.pop_front();
        popped = true;
    }
    flushing_ = false;
    if (popped) conn_.resume();
}

}  // namespace titan::quotad
