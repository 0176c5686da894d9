-- Titanicarus schema, migration 0004: quota usage shared by every Dovecot node and MX
-- (titan-quotad), and alias domains.
-- Applied by `titanctl db migrate`.

-- One row per mailbox user, written only by titan-quotad (Dovecot's quota dict backend
-- and quota_clone) and `titanctl quota`. Limits are NOT here: they are
-- mailboxes.quota_bytes / quota_messages, the values authd gives Dovecot as quota_rule.
CREATE TABLE IF NOT EXISTS quota_usage (
  username       VARCHAR(320) NOT NULL PRIMARY KEY,  -- canonical local@domain, as mailboxes.username
  bytes          BIGINT NULL,       -- priv/quota/storage; NULL = unknown: Dovecot recounts at next access
  messages       BIGINT NULL,       -- priv/quota/messages; NULL = unknown
  warn_storage   TINYINT UNSIGNED NOT NULL DEFAULT 0,  -- storage warning thresholds reached so far
  warn_messages  TINYINT UNSIGNED NOT NULL DEFAULT 0,  -- message-count thresholds reached so far
  updated_at     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- An alias domain: every address local@name is delivered as local@<target domain>
-- (after explicit aliases of local@name, before the catch-all of name).
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
