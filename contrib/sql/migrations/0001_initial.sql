-- Titanicarus schema, migration 0001: domains, mailboxes, aliases.
-- Applied by `titanctl db migrate`, which records each version in schema_migrations.
-- All text is utf8mb4; user names are stored in canonical form (see docs/identity.md).

CREATE TABLE IF NOT EXISTS schema_migrations (
  version     INT UNSIGNED NOT NULL PRIMARY KEY,
  name        VARCHAR(255) NOT NULL,
  applied_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS domains (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name        VARCHAR(253) NOT NULL,              -- lower-case, IDNA (punycode) form
  active      TINYINT(1) NOT NULL DEFAULT 1,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY uq_domains_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS mailboxes (
  id              INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id       INT UNSIGNED NOT NULL,
  username        VARCHAR(320) NOT NULL,           -- canonical local@domain
  local_part      VARCHAR(64) NOT NULL,
  password_hash   VARCHAR(512) NOT NULL DEFAULT '', -- Dovecot {SCHEME}data; '' never matches
  active          TINYINT(1) NOT NULL DEFAULT 1,
  disabled_reason VARCHAR(255) NULL,
  imap            TINYINT(1) NOT NULL DEFAULT 1,
  pop3            TINYINT(1) NOT NULL DEFAULT 1,
  smtp            TINYINT(1) NOT NULL DEFAULT 1,
  ftp             TINYINT(1) NOT NULL DEFAULT 0,
  quota_bytes     BIGINT UNSIGNED NOT NULL DEFAULT 0,  -- 0 = unlimited
  quota_messages  BIGINT UNSIGNED NOT NULL DEFAULT 0,  -- 0 = unlimited
  uid             INT UNSIGNED NULL,                   -- NULL = the daemon's default
  gid             INT UNSIGNED NULL,
  home            VARCHAR(1024) NOT NULL,
  home_site       VARCHAR(64) NULL,
  created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY uq_mailboxes_username (username),
  KEY ix_mailboxes_domain (domain_id),
  CONSTRAINT fk_mailboxes_domain FOREIGN KEY (domain_id) REFERENCES domains (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS aliases (
  id           INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id    INT UNSIGNED NOT NULL,
  source       VARCHAR(320) NOT NULL,   -- canonical address, or '@domain' for a catch-all
  destination  VARCHAR(320) NOT NULL,   -- one destination per row
  active       TINYINT(1) NOT NULL DEFAULT 1,
  created_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uq_aliases_pair (source, destination),
  KEY ix_aliases_domain (domain_id),
  CONSTRAINT fk_aliases_domain FOREIGN KEY (domain_id) REFERENCES domains (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
