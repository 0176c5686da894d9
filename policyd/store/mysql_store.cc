#include "policyd/store/mysql_store.h"

#include <algorithm>
#include <limits>
#include <set>

#include "common/base/strings.h"

namespace titan::policyd::store {
namespace {

constexpr std::size_t kMaxSubject = 500;
constexpr std::size_t kMaxActivityValue = 255;
constexpr int kAttempts = 3;

std::string clip(std::string_view s, std::size_t max) { return std::string(s.substr(0, max)); }

std::int64_t toInt(const sql::Value& v) {
    if (!v) return 0;
    auto n = base::parseSigned(*v);
    return n ? *n : 0;
}

std::uint64_t toUint(const sql::Value& v) {
    if (!v) return 0;
    auto n = base::parseUnsigned(*v);
    return n ? *n : 0;
}

// Runs `body` inside BEGIN..COMMIT, retrying deadlocks and lock wait timeouts.
template <class T, class F>
Result<T> transaction(sql::Connection& c, F&& body) {
    Error last = Error::internal("no attempt");
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        if (auto st = c.begin(); !st) return std::move(st).error();
        Result<T> r = body();
        if (r.ok()) {
            if (auto st = c.commit(); !st) {
                (void)c.rollback();
                return std::move(st).error();
            }
            return r;
        }
        (void)c.rollback();
        const unsigned err = sql::errnoOf(r.error());
        if (err != 1213 && err != 1205) return r;
        last = std::move(r).error();
    }
    return last;
}

// "(rule = ? AND win = ? AND subject = ?) OR ..." with its parameters.
std::string keyFilter(const std::vector<CounterKey>& keys, std::vector<sql::Value>& params) {
    std::string where;
    for (const auto& k : keys) {
        where += where.empty() ? "(" : " OR (";
        where += "rule = ? AND win = ? AND subject = ?)";
        params.emplace_back(k.rule);
        params.emplace_back(std::to_string(k.window));
        params.emplace_back(clip(k.subject, kMaxSubject));
    }
    return where;
}

std::vector<CounterKey> clipped(std::vector<CounterKey> keys) {
    for (auto& k : keys) k.subject = clip(k.subject, kMaxSubject);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
}

Result<std::map<CounterKey, CounterState>> readCounters(sql::Connection& c, const std::vector<CounterKey>& keys,
                                                        bool lock) {
    std::map<CounterKey, CounterState> out;
    // Chunks keep statement texts (and the per-connection statement cache) few.
    constexpr std::size_t kChunk = 16;
    for (std::size_t from = 0; from < keys.size(); from += kChunk) {
        std::vector<CounterKey> part(keys.begin() + static_cast<long>(from),
                                     keys.begin() + static_cast<long>(std::min(keys.size(), from + kChunk)));
        std::vector<sql::Value> params;
        std::string where = keyFilter(part, params);
        auto r = c.execute("SELECT rule, win, subject, window_start, used, previous, updated_at FROM policy_counters"
                           " WHERE " + where + (lock ? " ORDER BY rule, win, subject FOR UPDATE" : ""),
                           params);
        if (!r) return std::move(r).error();
        for (const auto& row : r->rows) {
            CounterKey k{row[0].value_or(""), static_cast<std::uint8_t>(toUint(row[1])), row[2].value_or("")};
            out[k] = CounterState{toInt(row[3]), toUint(row[4]), toUint(row[5]), toInt(row[6])};
        }
    }
    return out;
}

// The longest period among the plans' windows, for the placeholder rows' expiry.
std::int64_t longestPeriod(const EomJob& job) {
    std::int64_t p = 60000;
    for (const auto& plan : job.rates) {
        for (const auto& w : std::get<core::RateLimitRule>(plan.rule.spec).windows) p = std::max(p, w.period.count());
    }
    for (const auto& g : job.guards) p = std::max(p, std::get<core::GuardRule>(g.rule.spec).window.count());
    return p;
}

core::WindowSpec guardWindow(const core::GuardRule& g) {
    // Only the usage is read; the limit just has to be out of reach.
    return core::WindowSpec{std::numeric_limits<std::uint64_t>::max() / core::kMilli, g.window};
}

}  // namespace

Result<std::map<CounterKey, CounterState>> MysqlStore::fetchCountersOn(sql::Connection& c,
                                                                       const std::vector<CounterKey>& keys) {
    return readCounters(c, clipped(keys), false);
}

void MysqlStore::fetchCounters(std::vector<CounterKey> keys, Done<std::map<CounterKey, CounterState>> done) {
    pool_.submit<std::map<CounterKey, CounterState>>(
        [keys = std::move(keys)](sql::Connection& c) { return fetchCountersOn(c, keys); }, std::move(done));
}

Result<GreylistResult> MysqlStore::greylistOn(sql::Connection& c, const GreylistRequest& q) {
    const std::string sender = clip(q.sender, kMaxSubject);
    const std::string recipient = clip(q.recipient, kMaxSubject);
    const std::string id = q.rule + "\n" + q.client_network + "\n" + sender + "\n" + recipient;
    return transaction<GreylistResult>(c, [&]() -> Result<GreylistResult> {
        // Creates a placeholder (first_seen 0 = none) or takes the row's exclusive lock.
        auto ins = c.execute(
            "INSERT INTO policy_greylist (id, rule, client_net, sender, recipient, first_seen, last_seen, passed_at,"
            " attempts, expires_at) VALUES (UNHEX(SHA2(?, 256)), ?, ?, ?, ?, 0, 0, 0, 0, ?)"
            " ON DUPLICATE KEY UPDATE attempts = attempts",
            {id, q.rule, q.client_network, sender, recipient, std::to_string(q.now + q.params.expire.count())},
            false);
        if (!ins) return std::move(ins).error();
        auto row = c.execute(
            "SELECT first_seen, last_seen, passed_at, attempts FROM policy_greylist WHERE id = UNHEX(SHA2(?, 256))"
            " FOR UPDATE",
            {id});
        if (!row) return std::move(row).error();
        std::optional<core::TripletState> triplet;
        if (!row->rows.empty()) {
            const auto& r = row->rows[0];
            triplet = core::TripletState{toInt(r[0]), toInt(r[1]), toInt(r[2]), static_cast<std::uint32_t>(toUint(r[3]))};
        }
        auto cl = c.execute("SELECT passes, allowed_until FROM policy_greylist_clients WHERE rule = ? AND client_net = ?",
                            {q.rule, q.client_network});
        if (!cl) return std::move(cl).error();
        core::ClientState client;
        if (!cl->rows.empty()) {
            client = core::ClientState{static_cast<std::uint32_t>(toUint(cl->rows[0][0])), toInt(cl->rows[0][1])};
        }
        GreylistResult out;
        out.decision = core::decideGreylist(q.params, triplet, client, q.now);
        out.client = client;
        if (out.decision.write_triplet) {
            const auto& t = out.decision.triplet;
            const std::int64_t expires = std::max(t.last_seen + q.params.expire.count(),
                                                  t.first_seen + q.params.delay.count() + q.params.retry_window.count());
            auto up = c.execute(
                "UPDATE policy_greylist SET first_seen = ?, last_seen = ?, passed_at = ?, attempts = ?, expires_at = ?"
                " WHERE id = UNHEX(SHA2(?, 256))",
                {std::to_string(t.first_seen), std::to_string(t.last_seen), std::to_string(t.passed_at),
                 std::to_string(t.attempts), std::to_string(expires), id},
                false);
            if (!up) return std::move(up).error();
        }
        if (out.decision.first_pass) {
            // Atomic across nodes: the increment and the allow-listing happen in one upsert
            // (the same arithmetic as core::recordPass).
            const auto& p = q.params;
            const std::string allowed = std::to_string(q.now + p.auto_allow_ttl.count());
            const std::string threshold = std::to_string(p.auto_allow_after);
            auto up = c.execute(
                "INSERT INTO policy_greylist_clients (rule, client_net, passes, allowed_until, updated_at, expires_at)"
                " VALUES (?, ?, 1, IF(? > 0 AND 1 >= ?, ?, 0), ?, ?)"
                " ON DUPLICATE KEY UPDATE passes = passes + 1,"
                " allowed_until = IF(? > 0 AND passes >= ?, ?, allowed_until),"
                " updated_at = VALUES(updated_at), expires_at = VALUES(expires_at)",
                {q.rule, q.client_network, threshold, threshold, allowed, std::to_string(q.now),
                 std::to_string(q.now + std::max(p.expire.count(), p.auto_allow_ttl.count())), threshold, threshold,
                 allowed},
                false);
            if (!up) return std::move(up).error();
            out.client = core::recordPass(p, client, q.now);
        }
        return out;
    });
}

void MysqlStore::greylist(GreylistRequest request, Done<GreylistResult> done) {
    pool_.submit<GreylistResult>([request = std::move(request)](sql::Connection& c) { return greylistOn(c, request); },
                                 std::move(done));
}

Result<EomResult> MysqlStore::endOfMessageOn(sql::Connection& c, const EomJob& job) {
    // Subjects are clipped once, so decisions and rows use the same keys.
    std::vector<core::RatePlan> rates = job.rates;
    for (auto& plan : rates) {
        for (auto& ch : plan.charges) ch.subject = clip(ch.subject, kMaxSubject);
    }
    std::vector<CounterKey> keys;
    for (const auto& plan : rates) {
        for (auto& k : core::counterKeys(plan.rule, plan.charges)) keys.push_back(std::move(k));
    }
    for (const auto& g : job.guards) keys.push_back(CounterKey{g.rule.name, 0, clip(g.user, kMaxSubject)});
    keys = clipped(std::move(keys));
    const std::int64_t placeholder_expiry = job.now + 2 * longestPeriod(job);

    return transaction<EomResult>(c, [&]() -> Result<EomResult> {
        EomResult out;
        if (!keys.empty()) {
            // Placeholder rows first, in key order: every row then exists and is locked
            // exclusively by this upsert, so two nodes serialise on the same rows without
            // gap-lock deadlocks.
            std::string sql =
                "INSERT INTO policy_counters (rule, win, subject, window_start, used, previous, updated_at, expires_at)"
                " VALUES ";
            std::vector<sql::Value> params;
            for (std::size_t i = 0; i < keys.size(); ++i) {
                sql += i == 0 ? "(?, ?, ?, 0, 0, 0, 0, ?)" : ", (?, ?, ?, 0, 0, 0, 0, ?)";
                params.emplace_back(keys[i].rule);
                params.emplace_back(std::to_string(keys[i].window));
                params.emplace_back(keys[i].subject);
                params.emplace_back(std::to_string(placeholder_expiry));
            }
            sql += " ON DUPLICATE KEY UPDATE used = used";
            auto ins = c.execute(sql, params, false);
            if (!ins) return std::move(ins).error();
        }
        auto states = readCounters(c, keys, true);
        if (!states) return std::move(states).error();
        out.charge = core::decideCharges(rates, *states, job.now);
        if (!out.charge.accepted) return out;

        // Guards count this message in their own counter.
        std::map<CounterKey, CounterState> updates = out.charge.updates;
        std::vector<std::uint64_t> guard_messages;
        for (const auto& g : job.guards) {
            const auto& spec = std::get<core::GuardRule>(g.rule.spec);
            CounterKey k{g.rule.name, 0, clip(g.user, kMaxSubject)};
            auto it = states->find(k);
            const CounterState before = it == states->end() ? CounterState{} : it->second;
            const CounterState after = core::charge(core::Algorithm::SlidingWindow, guardWindow(spec), before, job.now, 1);
            updates[k] = after;
            guard_messages.push_back(core::usageAt(core::Algorithm::SlidingWindow, guardWindow(spec), after, job.now) /
                                     core::kMilli);
        }
        if (!updates.empty()) {
            std::string sql =
                "INSERT INTO policy_counters (rule, win, subject, window_start, used, previous, updated_at, expires_at)"
                " VALUES ";
            std::vector<sql::Value> params;
            bool first = true;
            for (const auto& [k, s] : updates) {
                // The window spec for expiry: find the plan (or guard) that owns the key.
                std::int64_t expires = placeholder_expiry;
                for (const auto& plan : rates) {
                    if (plan.rule.name != k.rule) continue;
                    const auto& spec = std::get<core::RateLimitRule>(plan.rule.spec);
                    if (k.window < spec.windows.size()) {
                        expires = core::expiresAt(spec.algorithm, spec.windows[k.window], s);
                    }
                }
                for (const auto& g : job.guards) {
                    if (g.rule.name == k.rule) {
                        expires = core::expiresAt(core::Algorithm::SlidingWindow,
                                                  guardWindow(std::get<core::GuardRule>(g.rule.spec)), s);
                    }
                }
                sql += first ? "(?, ?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?, ?)";
                first = false;
                for (std::string v : {k.rule, std::to_string(k.window), k.subject, std::to_string(s.window_start),
                                      std::to_string(s.used), std::to_string(s.previous), std::to_string(s.updated),
                                      std::to_string(expires)}) {
                    params.emplace_back(std::move(v));
                }
            }
            sql += " ON DUPLICATE KEY UPDATE window_start = VALUES(window_start), used = VALUES(used),"
                   " previous = VALUES(previous), updated_at = VALUES(updated_at), expires_at = VALUES(expires_at)";
            auto up = c.execute(sql, params, false);
            if (!up) return std::move(up).error();
        }

        for (std::size_t gi = 0; gi < job.guards.size(); ++gi) {
            const auto& g = job.guards[gi];
            const auto& spec = std::get<core::GuardRule>(g.rule.spec);
            const std::string subject = clip(g.user, kMaxSubject);
            std::vector<std::pair<int, std::string>> values;
            for (const auto& d : g.domains) values.emplace_back(1, clip(d, kMaxActivityValue));
            if (!g.network.empty()) values.emplace_back(2, clip(g.network, kMaxActivityValue));
            if (!values.empty()) {
                std::string sql = "INSERT INTO policy_activity (rule, subject, kind, value, last_seen) VALUES ";
                std::vector<sql::Value> params;
                for (std::size_t i = 0; i < values.size(); ++i) {
                    sql += i == 0 ? "(?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?)";
                    params.emplace_back(g.rule.name);
                    params.emplace_back(subject);
                    params.emplace_back(std::to_string(values[i].first));
                    params.emplace_back(values[i].second);
                    params.emplace_back(std::to_string(job.now));
                }
                sql += " ON DUPLICATE KEY UPDATE last_seen = GREATEST(last_seen, VALUES(last_seen))";
                auto up = c.execute(sql, params, false);
                if (!up) return std::move(up).error();
            }
            auto counts = c.execute(
                "SELECT kind, COUNT(*) FROM policy_activity WHERE rule = ? AND subject = ? AND last_seen > ?"
                " GROUP BY kind",
                {g.rule.name, subject, std::to_string(job.now - spec.window.count())});
            if (!counts) return std::move(counts).error();
            GuardOutcome outcome;
            outcome.counts.messages = guard_messages[gi];
            for (const auto& row : counts->rows) {
                const auto kind = toUint(row[0]);
                if (kind == 1) outcome.counts.recipient_domains = toUint(row[1]);
                if (kind == 2) outcome.counts.client_networks = toUint(row[1]);
            }
            outcome.trigger = core::guardTrigger(spec, outcome.counts);
            if (outcome.trigger && !g.rule.dry_run) {
                auto hold = c.execute(
                    "INSERT INTO policy_holds (user, rule, reason, node, created_at) VALUES (?, ?, ?, ?, ?)"
                    " ON DUPLICATE KEY UPDATE user = user",
                    {subject, g.rule.name, clip(*outcome.trigger, 255), clip(g.node, 255), std::to_string(job.now)},
                    false);
                if (!hold) return std::move(hold).error();
                auto audit = c.execute(
                    "INSERT INTO policy_audit (created_at, event, subject, rule, detail, actor) VALUES (?, 'hold', ?, ?, ?, ?)",
                    {std::to_string(job.now), subject, g.rule.name, clip(*outcome.trigger, 1024), clip(g.node, 255)},
                    false);
                if (!audit) return std::move(audit).error();
                outcome.held = true;
            }
            out.guards.push_back(std::move(outcome));
        }
        return out;
    });
}

void MysqlStore::endOfMessage(EomJob job, Done<EomResult> done) {
    pool_.submit<EomResult>([job = std::move(job)](sql::Connection& c) { return endOfMessageOn(c, job); },
                            std::move(done));
}

void MysqlStore::fetchSenderLogins(std::string user, Done<std::vector<std::string>> done) {
    pool_.submit<std::vector<std::string>>(
        [user = std::move(user)](sql::Connection& c) -> Result<std::vector<std::string>> {
            auto r = c.execute(
                "SELECT username FROM mailboxes WHERE username = ?"
                " UNION SELECT source FROM aliases WHERE destination = ? AND active = 1"
                " UNION SELECT address FROM sender_logins WHERE login = ? AND active = 1",
                {user, user, user});
            if (!r) return std::move(r).error();
            std::vector<std::string> out;
            for (const auto& row : r->rows) {
                if (row[0]) out.push_back(*row[0]);
            }
            return out;
        },
        std::move(done));
}

void MysqlStore::fetchLists(Done<std::vector<ListRow>> done) {
    pool_.submit<std::vector<ListRow>>(
        [](sql::Connection& c) -> Result<std::vector<ListRow>> {
            auto r = c.execute("SELECT list, kind, value FROM policy_lists ORDER BY id");
            if (!r) return std::move(r).error();
            std::vector<ListRow> out;
            for (const auto& row : r->rows) out.push_back({row[0].value_or(""), row[1].value_or(""), row[2].value_or("")});
            return out;
        },
        std::move(done));
}

void MysqlStore::fetchHolds(Done<std::vector<HoldRow>> done) {
    pool_.submit<std::vector<HoldRow>>(
        [](sql::Connection& c) -> Result<std::vector<HoldRow>> {
            auto r = c.execute("SELECT user, rule, reason, created_at FROM policy_holds");
            if (!r) return std::move(r).error();
            std::vector<HoldRow> out;
            for (const auto& row : r->rows) {
                out.push_back({row[0].value_or(""), row[1].value_or(""), row[2].value_or(""), toInt(row[3])});
            }
            return out;
        },
        std::move(done));
}

void MysqlStore::cleanup(std::int64_t now, std::int64_t activity_before, Done<std::uint64_t> done) {
    pool_.submit<std::uint64_t>(
        [now, activity_before](sql::Connection& c) -> Result<std::uint64_t> {
            std::uint64_t total = 0;
            const std::string n = std::to_string(now);
            // Small batches keep each statement's locks short.
            const std::string before = std::to_string(activity_before);
            const std::pair<const char*, const std::string*> jobs[] = {
                {"DELETE FROM policy_counters WHERE expires_at < ? LIMIT 5000", &n},
                {"DELETE FROM policy_greylist WHERE expires_at < ? LIMIT 5000", &n},
                {"DELETE FROM policy_greylist_clients WHERE expires_at < ? LIMIT 5000", &n},
                {"DELETE FROM policy_activity WHERE last_seen < ? LIMIT 5000", &before},
            };
            for (const auto& [sql, param] : jobs) {
                // Bounded: at most 100 batches of 5000 rows per table and run; the rest
                // waits for the next run.
                for (int batch = 0; batch < 100; ++batch) {
                    auto r = c.execute(sql, {*param}, true);
                    if (!r) return std::move(r).error();
                    total += r->affected_rows;
                    if (r->affected_rows < 5000) break;
                }
            }
            return total;
        },
        std::move(done));
}

}  // namespace titan::policyd::store
