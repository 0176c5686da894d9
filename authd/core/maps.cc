#include "authd/core/maps.h"

#include <algorithm>

namespace titan::authd::core::maps {
namespace {

const FactValue kNoRow;  // stands in for facts that do not apply (no detail)

// Collects the facts a step reads, the ones still missing, and staleness.
class Ctx {
public:
    explicit Ctx(FactSource& source) : source_(source) {}

    // The fact, or nullptr when not known yet (then recorded as needed).
    const FactValue* get(FactKind kind, const std::string& key) {
        bool stale = false;
        const FactValue* v = source_.find(kind, key, &stale);
        if (v == nullptr) {
            FactKey k{kind, key};
            if (std::find(need_.facts.begin(), need_.facts.end(), k) == need_.facts.end()) {
                need_.facts.push_back(std::move(k));
            }
            return nullptr;
        }
        if (stale) {
            stale_ = true;
            // A domain that did not exist still does not: trusted while the database is down.
            if (!v->has_value() && kind != FactKind::Domain) stale_negative_ = true;
        }
        return v;
    }

    bool missing() const noexcept { return !need_.facts.empty(); }
    Step need() { return std::move(need_); }
    Step found(std::string data) const { return Answer{true, std::move(data), false, stale_}; }
    Step notFound(bool vouched = false) const { return Answer{false, {}, stale_negative_ && !vouched, stale_}; }
    bool staleNegative() const noexcept { return stale_negative_; }

private:
    FactSource& source_;
    Need need_;
    bool stale_ = false;
    bool stale_negative_ = false;
};

bool hasRows(const FactValue* v) { return v != nullptr && v->has_value() && !(*v)->empty(); }

std::string join(const std::vector<std::string>& values) {
    std::string out;
    for (const auto& v : values) {
        if (v.empty()) continue;
        if (!out.empty()) out += ',';
        out += v;
    }
    return out;
}

// Postfix's propagate_unmatched_extensions: the detail goes before the last '@'.
std::vector<std::string> withDetail(const std::vector<std::string>& dests, const std::string& detail) {
    std::vector<std::string> out;
    out.reserve(dests.size());
    for (const auto& d : dests) {
        size_t at = d.rfind('@');
        if (at == 0) {
            out.push_back(d);
        } else if (at == std::string::npos) {
            out.push_back(d + detail);
        } else {
            out.push_back(d.substr(0, at) + detail + d.substr(at));
        }
    }
    return out;
}

Address inDomain(const Address& a, const std::string& domain) {
    Address t;
    t.local = a.local;
    t.domain = domain;
    t.full = a.local + "@" + domain;
    t.detail = a.detail;
    if (!a.base.empty()) t.base = std::string(identity::localPartOf(a.base)) + "@" + domain;
    return t;
}

// The active mailbox for `a` (A itself, else A without its detail). False while facts
// are missing.
bool findMailbox(Ctx& c, const Address& a, std::optional<std::string>* out) {
    const FactValue* full = c.get(FactKind::Mailbox, a.full);
    const FactValue* base = a.base.empty() ? &kNoRow : c.get(FactKind::Mailbox, a.base);
    if (full == nullptr || base == nullptr) return false;
    if (hasRows(full)) *out = (**full)[0];
    else if (hasRows(base)) *out = (**base)[0];
    return true;
}

struct Local {
    enum class Kind { Missing, None, Found } kind = Kind::Missing;
    std::string data;
};

// The aliases rules inside a local domain (see maps.h).
Local resolveLocal(Ctx& c, const Address& a, const Settings& s) {
    const FactValue* exact = c.get(FactKind::Aliases, a.full);
    const FactValue* base = a.base.empty() ? &kNoRow : c.get(FactKind::Aliases, a.base);
    const FactValue* catchall = c.get(FactKind::Aliases, "@" + a.domain);
    if (exact == nullptr || base == nullptr || catchall == nullptr) return {};
    if (hasRows(exact)) return {Local::Kind::Found, join(**exact)};
    if (hasRows(base)) return {Local::Kind::Found, join(s.propagate_detail ? withDetail(**base, a.detail) : **base)};
    if (!hasRows(catchall)) return {Local::Kind::None, {}};
    std::optional<std::string> mailbox;
    if (!findMailbox(c, a, &mailbox)) return {};
    // A real mailbox maps to itself, so the catch-all does not take its mail.
    if (mailbox) return {Local::Kind::Found, a.full};
    return {Local::Kind::Found, join(**catchall)};
}

Step resolveDomains(Ctx& c, const Query& q) {
    const FactValue* d = c.get(FactKind::Domain, q.domain);
    if (d == nullptr) return c.need();
    if (d->has_value()) return c.found(q.domain);
    return c.notFound();
}

Step resolveMailboxes(Ctx& c, const Query& q) {
    std::optional<std::string> mailbox;
    if (!findMailbox(c, q.address, &mailbox)) return c.need();
    if (mailbox && !mailbox->empty()) return c.found(*mailbox);
    return c.notFound();
}

Step resolveAliases(Ctx& c, const Query& q, const Settings& s) {
    const Address& a = q.address;
    const FactValue* d = c.get(FactKind::Domain, a.domain);
    if (d == nullptr) return c.need();
    if (!d->has_value() || (*d)->empty()) return c.notFound();
    const std::string& target = (**d)[0];
    if (target.empty()) {
        Local r = resolveLocal(c, a, s);
        if (r.kind == Local::Kind::Missing) return c.need();
        if (r.kind == Local::Kind::Found && !r.data.empty()) return c.found(std::move(r.data));
        if (!c.staleNegative()) return c.notFound();
        // Answering from stale "no alias" rows: fine for a known mailbox, not otherwise.
        std::optional<std::string> mailbox;
        if (!findMailbox(c, a, &mailbox)) return c.need();
        return c.notFound(mailbox.has_value());
    }
    // Alias domain: its own aliases first, then the rewrite into the target domain when
    // the address exists there, then its own catch-all.
    const FactValue* exact = c.get(FactKind::Aliases, a.full);
    const FactValue* base = a.base.empty() ? &kNoRow : c.get(FactKind::Aliases, a.base);
    const FactValue* catchall = c.get(FactKind::Aliases, "@" + a.domain);
    Address t = inDomain(a, target);
    Local r = resolveLocal(c, t, s);
    if (r.kind == Local::Kind::Missing || c.missing()) return c.need();
    if (hasRows(exact)) return c.found(join(**exact));
    if (hasRows(base)) return c.found(join(s.propagate_detail ? withDetail(**base, a.detail) : **base));
    if (r.kind == Local::Kind::Found) return c.found(t.full);
    std::optional<std::string> mailbox;
    if (!findMailbox(c, t, &mailbox)) return c.need();
    if (mailbox) return c.found(t.full);
    if (hasRows(catchall)) return c.found(join(**catchall));
    return c.notFound();
}

void addOwner(std::vector<std::string>& owners, const std::string& owner) {
    if (!owner.empty() && std::find(owners.begin(), owners.end(), owner) == owners.end()) owners.push_back(owner);
}

void addOwners(std::vector<std::string>& owners, const FactValue* v) {
    if (!hasRows(v)) return;
    for (const auto& o : **v) addOwner(owners, o);
}

void grants(Ctx& c, const Address& a, std::vector<std::string>& owners) {
    const FactValue* full = c.get(FactKind::SenderLogins, a.full);
    const FactValue* base = a.base.empty() ? &kNoRow : c.get(FactKind::SenderLogins, a.base);
    const FactValue* domain = c.get(FactKind::SenderLogins, "@" + a.domain);
    addOwners(owners, full);
    addOwners(owners, base);
    addOwners(owners, domain);
}

Step resolveSenders(Ctx& c, const Query& q, const Settings& s) {
    const Address& a = q.address;
    std::vector<std::string> owners;
    const FactValue* d = c.get(FactKind::Domain, a.domain);
    grants(c, a, owners);
    if (c.missing()) return c.need();
    if (d->has_value() && !(*d)->empty()) {
        const std::string& target = (**d)[0];
        const Address t = target.empty() ? a : inDomain(a, target);
        if (!target.empty()) grants(c, t, owners);
        std::optional<std::string> mailbox;
        findMailbox(c, t, &mailbox);
        const FactValue* exact = c.get(FactKind::Aliases, t.full);
        const FactValue* base = t.base.empty() ? &kNoRow : c.get(FactKind::Aliases, t.base);
        if (c.missing()) return c.need();
        if (mailbox) addOwner(owners, *mailbox);
        const FactValue* dests = hasRows(exact) ? exact : (hasRows(base) ? base : nullptr);
        if (dests != nullptr) {
            size_t checked = 0;
            for (const auto& dest : **dests) {
                if (checked++ >= s.max_owner_checks) break;
                auto da = parseAddress(dest, s);
                if (!da) continue;
                std::optional<std::string> owner;
                if (!findMailbox(c, *da, &owner)) continue;
                if (owner) addOwner(owners, *owner);
            }
            if (c.missing()) return c.need();
        }
    }
    if (owners.empty()) return c.notFound();
    return c.found(join(owners));
}

}  // namespace

const char* mapKindName(MapKind kind) noexcept {
    switch (kind) {
        case MapKind::Domains: return "domains";
        case MapKind::Mailboxes: return "mailboxes";
        case MapKind::Aliases: return "aliases";
        case MapKind::Senders: return "senders";
    }
    return "domains";
}

const char* factKindName(FactKind kind) noexcept {
    switch (kind) {
        case FactKind::Domain: return "domain";
        case FactKind::Mailbox: return "mailbox";
        case FactKind::Aliases: return "aliases";
        case FactKind::SenderLogins: return "sender_logins";
    }
    return "domain";
}

std::string factCacheKey(FactKind kind, std::string_view key) {
    static constexpr char kLetters[] = {'d', 'm', 'a', 's'};
    std::string out;
    out.reserve(key.size() + 2);
    out += kLetters[static_cast<int>(kind)];
    out += ':';
    out.append(key);
    return out;
}

Result<Address> parseAddress(std::string_view raw, const Settings& settings) {
    auto canonical = identity::canonicalUser(raw, settings.identity);
    if (!canonical) return std::move(canonical).error();
    Address a;
    a.full = std::move(*canonical);
    const size_t at = a.full.rfind('@');
    a.local = a.full.substr(0, at);
    a.domain = a.full.substr(at + 1);
    if (!settings.recipient_delimiter.empty() && a.local.size() > 1) {
        // A delimiter in the first position does not start an extension (Postfix).
        const size_t pos = a.local.find_first_of(settings.recipient_delimiter, 1);
        if (pos != std::string::npos) {
            a.base = a.local.substr(0, pos) + "@" + a.domain;
            a.detail = a.local.substr(pos);
        }
    }
    return a;
}

std::variant<Query, Answer> parseQuery(MapKind map, std::string_view raw_key, const Settings& settings) {
    Query q;
    q.map = map;
    if (map == MapKind::Domains) {
        auto d = identity::canonicalDomain(raw_key);
        if (!d) return Answer{};
        q.domain = std::move(*d);
        return q;
    }
    auto a = parseAddress(raw_key, settings);
    if (!a) return Answer{};
    q.address = std::move(*a);
    return q;
}

Step resolve(const Query& query, FactSource& facts, const Settings& settings) {
    Ctx c(facts);
    switch (query.map) {
        case MapKind::Domains: return resolveDomains(c, query);
        case MapKind::Mailboxes: return resolveMailboxes(c, query);
        case MapKind::Aliases: return resolveAliases(c, query, settings);
        case MapKind::Senders: return resolveSenders(c, query, settings);
    }
    return Answer{};
}

}  // namespace titan::authd::core::maps
