-- Titanicarus schema, migration 0002: alias domains and sender-login grants, for the
-- Postfix maps titan-authd serves over socketmap (domains, mailboxes, aliases, senders).
-- Names are stored in canonical form (lower-case, IDNA for domains), like 0001.

-- An alias domain: every address local@name is delivered as local@<target domain>
-- (after explicit aliases of local@name, before the catch-all of name), when that
-- address exists in the target (a mailbox, an alias or the target's catch-all).
-- 0004_quota.sql declares the same table with IF NOT EXISTS; keep both identical.
CREATE TABLE IF NOT EXISTS alias_domains (
  id                INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name              VARCHAR(253) NOT NULL,   -- lower-case, IDNA (punycode) form
  target_domain_id  INT UNSIGNED NOT NULL,
  active            TINYINT(1) NOT NULL DEFAULT 1,
  created_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uq_alias_domains_name (name),
  KEY ix_alias_domains_target (target_domain_id),
  CONSTRAINT fk_alias_domains_target FOREIGN KEY (target_domain_id) REFERENCES domains (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Extra SASL logins allowed to send as an address (smtpd_sender_login_maps), beyond the
-- rules authd applies by itself (a mailbox sends as itself; the local mailboxes an alias
-- delivers to send as the alias). `address` may be '@domain' for every address of it.
-- The address need not be local: a grant may allow an external address.
CREATE TABLE IF NOT EXISTS sender_logins (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  address     VARCHAR(320) NOT NULL,   -- canonical address, or '@domain'
  login       VARCHAR(320) NOT NULL,   -- canonical SASL login (a mailbox user name)
  active      TINYINT(1) NOT NULL DEFAULT 1,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uq_sender_logins_pair (address, login),
  KEY ix_sender_logins_login (login)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

