#include "policyd/core/engine.h"

#include <algorithm>
#include <set>

#include "common/base/strings.h"

namespace titan::policyd::core {

const char* keyKindName(KeyKind k) noexcept {
    switch (k) {
        case KeyKind::SaslUsername: return "sasl_username";
        case KeyKind::Sender: return "sender";
        case KeyKind::SenderDomain: return "sender_domain";
        case KeyKind::ClientAddress: return "client_address";
        case KeyKind::RecipientDomain: return "recipient_domain";
    }
    return "sasl_username";
}

const char* countUnitName(CountUnit u) noexcept {
    switch (u) {
        case CountUnit::Messages: return "messages";
        case CountUnit::Recipients: return "recipients";
        case CountUnit::Bytes: return "bytes";
    }
    return "messages";
}

const char* directionName(Direction d) noexcept {
    switch (d) {
        case Direction::Any: return "any";
        case Direction::Inbound: return "inbound";
        case Direction::Outbound: return "outbound";
    }
    return "any";
}

const char* ruleKindName(RuleKind k) noexcept {
    switch (k) {
        case RuleKind::Lists: return "lists";
        case RuleKind::RateLimit: return "rate_limit";
        case RuleKind::Greylist: return "greylist";
        case RuleKind::SenderLogin: return "sender_login";
        case RuleKind::AccountGuard: return "account_guard";
    }
    return "lists";
}

namespace {

std::string_view firstWord(std::string_view action) {
    auto sp = action.find_first_of(" \t");
    return sp == std::string_view::npos ? action : action.substr(0, sp);
}

bool isCode(std::string_view word, char first) {
    return word.size() == 3 && word[0] == first && word[1] >= '0' && word[1] <= '9' && word[2] >= '0' &&
           word[2] <= '9';
}

// "" for a client without a usable address.
std::string clientSubject(const RequestFacts& f, unsigned v4, unsigned v6) {
    if (!f.client) return {};
    const unsigned prefix = f.client->v6 ? v6 : v4;
    return prefix >= f.client->bits() ? f.client->str() : networkOf(*f.client, prefix).str();
}

// The fallback key for a null sender.
std::string nullSenderSubject(const RequestFacts& f, const RateLimitRule& r) {
    if (f.authenticated) return "sasl:" + f.sasl_user;
    std::string net = clientSubject(f, r.ipv4_prefix, r.ipv6_prefix);
    return net.empty() ? std::string() : "client:" + net;
}

bool domainMatches(std::string_view pattern, std::string_view domain) {
    if (domain.empty()) return false;
    if (pattern.front() == '.') {
        return domain.size() > pattern.size() - 1 && domain.substr(domain.size() - pattern.size()) == pattern;
    }
    return domain == pattern;
}

bool addressMatches(const std::vector<std::string>& patterns, std::string_view key, std::string_view domain,
                    std::string* what) {
    for (const auto& p : patterns) {
        bool hit = false;
        if (p.front() == '@') hit = domain == std::string_view(p).substr(1);
        else if (p.front() == '.') hit = domainMatches(p, domain);
        else hit = !key.empty() && key == p;
        if (hit) {
            *what = p;
            return true;
        }
    }
    return false;
}

}  // namespace

bool Rule::failOpen() const { return base::iequals(firstWord(fail_action), "DUNNO"); }

RequestFacts makeFacts(const PolicyRequest& r, const EngineOptions& options,
                       const std::vector<std::string>& transaction_recipients) {
    RequestFacts f;
    f.state = r.protocol_state;
    f.instance = r.instance;
    if (!r.sasl_username.empty()) {
        f.authenticated = true;
        auto login = identity::canonicalUser(r.sasl_username, options.address.identity);
        f.sasl_user = login ? *login : base::asciiLower(r.sasl_username);
    }
    f.client_address = r.client_address;
    f.client = IpAddress::parse(r.client_address);
    f.client_name = base::asciiLower(r.client_name);
    f.outbound = f.authenticated || (f.client && anyContains(options.trusted_networks, *f.client));
    f.sender = r.sender;
    f.sender_key = addressKey(r.sender, options.address);
    f.sender_domain = domainKey(r.sender);
    f.recipient_key = addressKey(r.recipient, options.address);
    f.recipient_domain = domainKey(r.recipient);
    f.recipient_count = r.recipient_count;
    f.size = r.size;
    if (f.state == ProtocolState::Data || f.state == ProtocolState::EndOfMessage) {
        f.recipients = transaction_recipients;
        if (f.recipients.empty() && !f.recipient_key.empty()) f.recipients.push_back(f.recipient_key);
    } else if (!f.recipient_key.empty()) {
        f.recipients.push_back(f.recipient_key);
    }
    return f;
}

bool directionMatches(const Rule& rule, const RequestFacts& facts) {
    switch (rule.direction) {
        case Direction::Any: return true;
        case Direction::Inbound: return !facts.outbound;
        case Direction::Outbound: return facts.outbound;
    }
    return true;
}

std::vector<Charge> rateLimitCharges(const RateLimitRule& rule, const RequestFacts& f) {
    const bool rcpt = f.state == ProtocolState::Rcpt;
    const bool later = f.state == ProtocolState::Data || f.state == ProtocolState::EndOfMessage;
    if (!rcpt && !later) return {};
    const std::uint64_t recipients = rcpt ? 1 : std::max<std::uint64_t>(1, f.recipient_count);
    auto amountFor = [&](std::uint64_t rcpts) -> std::uint64_t {
        switch (rule.count) {
            case CountUnit::Messages: return 1;
            case CountUnit::Recipients: return rcpts;
            case CountUnit::Bytes: return std::max<std::uint64_t>(1, f.size);
        }
        return 1;
    };
    std::string subject;
    switch (rule.key) {
        case KeyKind::SaslUsername:
            subject = f.sasl_user;
            break;
        case KeyKind::Sender:
            subject = f.sender_key.empty() ? nullSenderSubject(f, rule) : f.sender_key;
            break;
        case KeyKind::SenderDomain:
            subject = !f.sender_domain.empty() ? f.sender_domain
                      : f.sender_key.empty()   ? nullSenderSubject(f, rule)
                                               : f.sender_key;
            break;
        case KeyKind::ClientAddress:
            subject = clientSubject(f, rule.ipv4_prefix, rule.ipv6_prefix);
            break;
        case KeyKind::RecipientDomain: {
            if (rcpt) {
                if (f.recipient_domain.empty()) return {};
                return {Charge{f.recipient_domain, amountFor(1)}};
            }
            std::map<std::string, std::uint64_t> per_domain;
            for (const auto& r : f.recipients) {
                std::string d = domainKey(r);
                if (!d.empty()) ++per_domain[d];
            }
            std::vector<Charge> out;
            for (const auto& [domain, n] : per_domain) out.push_back(Charge{domain, amountFor(n)});
            return out;
        }
    }
    if (subject.empty()) return {};
    return {Charge{subject, amountFor(recipients)}};
}

std::vector<CounterKey> counterKeys(const Rule& rule, const std::vector<Charge>& charges) {
    std::vector<CounterKey> keys;
    const auto& spec = std::get<RateLimitRule>(rule.spec);
    for (const auto& c : charges) {
        for (std::size_t w = 0; w < spec.windows.size(); ++w) {
            keys.push_back(CounterKey{rule.name, static_cast<std::uint8_t>(w), c.subject});
        }
    }
    return keys;
}

namespace {

const CounterState& stateOf(const std::map<CounterKey, CounterState>& states, const CounterKey& key) {
    static const CounterState kEmpty{};
    auto it = states.find(key);
    return it == states.end() ? kEmpty : it->second;
}

}  // namespace

RateCheck checkRate(const Rule& rule, const std::vector<Charge>& charges,
                    const std::map<CounterKey, CounterState>& states, std::int64_t now) {
    const auto& spec = std::get<RateLimitRule>(rule.spec);
    RateCheck out;
    for (const auto& c : charges) {
        for (std::size_t w = 0; w < spec.windows.size(); ++w) {
            const auto& s = stateOf(states, CounterKey{rule.name, static_cast<std::uint8_t>(w), c.subject});
            if (!fits(spec.algorithm, spec.windows[w], s, now, c.amount)) {
                auto retry = retryAfter(spec.algorithm, spec.windows[w], s, now, c.amount);
                if (out.allowed || retry > out.retry_after) out.retry_after = retry;
                if (out.allowed) out.subject = c.subject;
                out.allowed = false;
            }
        }
    }
    return out;
}

ChargeDecision decideCharges(const std::vector<RatePlan>& plans, const std::map<CounterKey, CounterState>& states,
                             std::int64_t now) {
    ChargeDecision d;
    for (std::size_t i = 0; i < plans.size(); ++i) {
        RateCheck check = checkRate(plans[i].rule, plans[i].charges, states, now);
        if (check.allowed) continue;
        if (plans[i].rule.dry_run) {
            d.dry_run_exceeded.push_back(i);
            continue;
        }
        d.accepted = false;
        d.refused_by = i;
        d.retry_after = check.retry_after;
        d.subject = check.subject;
        d.updates.clear();
        return d;
    }
    for (const auto& plan : plans) {
        const auto& spec = std::get<RateLimitRule>(plan.rule.spec);
        for (const auto& c : plan.charges) {
            for (std::size_t w = 0; w < spec.windows.size(); ++w) {
                CounterKey key{plan.rule.name, static_cast<std::uint8_t>(w), c.subject};
                // Two charges of one plan may share a key only if subjects repeat; chain them.
                const CounterState& before = d.updates.count(key) ? d.updates[key] : stateOf(states, key);
                d.updates[key] = charge(spec.algorithm, spec.windows[w], before, now, c.amount);
            }
        }
    }
    return d;
}

bool clientNameMatches(const std::vector<std::string>& patterns, std::string_view name) {
    if (name.empty() || name == "unknown") return false;
    for (const auto& p : patterns) {
        if (domainMatches(p, name)) return true;
    }
    return false;
}

std::optional<std::string> matchList(const ListEntries& e, const RequestFacts& f) {
    if (f.client) {
        for (const auto& n : e.clients) {
            if (n.contains(*f.client)) return "client " + n.str();
        }
    }
    for (const auto& p : e.client_names) {
        if (clientNameMatches({p}, f.client_name)) return "client_name " + p;
    }
    std::string what;
    if (!f.sender.empty() && addressMatches(e.senders, f.sender_key, f.sender_domain, &what)) return "sender " + what;
    for (const auto& r : f.recipients) {
        if (addressMatches(e.recipients, r, domainKey(r), &what)) return "recipient " + what;
    }
    return std::nullopt;
}

Status addListEntry(ListEntries& entries, std::string_view kind, std::string_view value,
                    const AddressOptions& options) {
    if (value.empty()) return Error::invalidInput("empty list entry");
    if (kind == "client") {
        auto n = Network::parse(value);
        if (!n) return std::move(n).error();
        entries.clients.push_back(*n);
        return {};
    }
    auto domainPattern = [](std::string_view v) -> std::string {
        std::string lead = v.front() == '.' ? "." : "";
        std::string_view rest = lead.empty() ? v : v.substr(1);
        if (auto d = identity::canonicalDomain(rest)) return lead + *d;
        return lead + base::asciiLower(rest);
    };
    if (kind == "client_name") {
        entries.client_names.push_back(domainPattern(value));
        return {};
    }
    if (kind == "sender" || kind == "recipient") {
        std::string normal;
        if (value.front() == '@') normal = "@" + domainPattern(value.substr(1));
        else if (value.front() == '.') normal = domainPattern(value);
        else if (value.find('@') == std::string_view::npos) normal = "@" + domainPattern(value);
        else normal = addressKey(value, options);
        (kind == "sender" ? entries.senders : entries.recipients).push_back(std::move(normal));
        return {};
    }
    return Error::invalidInput("unknown list kind '" + std::string(kind) + "'");
}

bool senderOwned(const RequestFacts& f, const std::vector<std::string>& owned) {
    if (f.sender_key.empty()) return false;
    for (const auto& o : owned) {
        if (o.empty()) continue;
        if (o.front() == '@') {
            if (std::string_view(o).substr(1) == f.sender_domain) return true;
        } else if (o == f.sender_key) {
            return true;
        }
    }
    return false;
}

std::optional<std::string> guardTrigger(const GuardRule& r, const GuardCounts& c) {
    auto over = [&](const char* what, std::uint64_t n, std::uint64_t max) -> std::optional<std::string> {
        if (max == 0 || n <= max) return std::nullopt;
        const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(r.window).count();
        return std::string(what) + " " + std::to_string(n) + " > " + std::to_string(max) + " per " +
               std::to_string(minutes) + "m";
    };
    if (auto t = over("messages", c.messages, r.max_messages)) return t;
    if (auto t = over("recipient_domains", c.recipient_domains, r.max_recipient_domains)) return t;
    if (auto t = over("client_networks", c.client_networks, r.max_client_networks)) return t;
    return std::nullopt;
}

std::vector<std::string> recipientDomains(const RequestFacts& f) {
    std::set<std::string> domains;
    for (const auto& r : f.recipients) {
        std::string d = domainKey(r);
        if (!d.empty()) domains.insert(d);
    }
    return {domains.begin(), domains.end()};
}

const std::vector<std::string>& TransactionTracker::recipientsFor(std::string_view instance) {
    if (instance != instance_) {
        instance_ = std::string(instance);
        recipients_.clear();
    }
    return recipients_;
}

void TransactionTracker::record(ProtocolState state, const std::string& recipient_key, std::string_view action) {
    if (state == ProtocolState::EndOfMessage) {
        recipients_.clear();
        return;
    }
    if (state != ProtocolState::Rcpt || recipient_key.empty() || actionRefuses(action)) return;
    if (recipients_.size() >= max_) return;
    if (std::find(recipients_.begin(), recipients_.end(), recipient_key) == recipients_.end()) {
        recipients_.push_back(recipient_key);
    }
}

std::string formatAction(std::string_view action, std::string_view rule, std::chrono::milliseconds retry) {
    std::string out;
    const auto secs = std::max<long long>(1, (retry.count() + 999) / 1000);
    for (std::size_t i = 0; i < action.size();) {
        if (action.substr(i, 7) == "{retry}") {
            out += std::to_string(secs);
            i += 7;
        } else if (action.substr(i, 6) == "{rule}") {
            out += rule;
            i += 6;
        } else {
            out += action[i++];
        }
    }
    return out;
}

std::string actionLabel(std::string_view action) {
    const std::string word = base::asciiLower(firstWord(action));
    if (isCode(word, '4')) return "4xx";
    if (isCode(word, '5')) return "5xx";
    static const char* const kKnown[] = {"dunno", "ok", "reject", "defer", "defer_if_permit", "defer_if_reject",
                                         "hold", "discard", "prepend", "warn", "info", "filter", "redirect", "bcc"};
    for (const char* k : kKnown) {
        if (word == k) return word;
    }
    if (word == "relay") return "ok";
    return "other";
}

bool actionRefuses(std::string_view action) {
    const std::string label = actionLabel(action);
    return label == "reject" || label == "defer" || label == "defer_if_permit" || label == "defer_if_reject" ||
           label == "4xx" || label == "5xx";
}

}  // namespace titan::policyd::core
