-- Titanicarus schema, migration 0005: replication sites and mailbox placement
-- (titan-replicator). Every mailbox lives at its home site (mailboxes.home_site) and
-- is replicated to the sites listed in mailbox_replicas; each site's titan-replicator
-- runs `doveadm sync` from its own Dovecot to the user's other sites.

CREATE TABLE IF NOT EXISTS sites (
  name                   VARCHAR(64) NOT NULL PRIMARY KEY,  -- letters, digits, . _ -
  doveadm_endpoint       VARCHAR(300) NOT NULL,             -- host:port of the site's doveadm server
  doveadm_tls            TINYINT(1) NOT NULL DEFAULT 0,     -- 1: tcps: (certificate checked with ssl_client_ca_*)
  doveadm_password_file  VARCHAR(1024) NULL,                -- file on each replicator host holding this site's
                                                            -- doveadm_password; NULL: the local Dovecot's own
  active                 TINYINT(1) NOT NULL DEFAULT 1,     -- 0: nothing is replicated to this site
  created_at             TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at             TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS mailbox_replicas (
  mailbox_id  INT UNSIGNED NOT NULL,
  site        VARCHAR(64) NOT NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (mailbox_id, site),
  KEY ix_mailbox_replicas_site (site),
  CONSTRAINT fk_mailbox_replicas_mailbox FOREIGN KEY (mailbox_id) REFERENCES mailboxes (id) ON DELETE CASCADE,
  CONSTRAINT fk_mailbox_replicas_site FOREIGN KEY (site) REFERENCES sites (name) ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Last outcome of each (user, source site, peer site) sync, written by the source
-- site's titan-replicator; read by it (dsync state, never-synced pairs first) and by
-- `titanctl replication status USER`.
CREATE TABLE IF NOT EXISTS replication_state (
  username        VARCHAR(320) NOT NULL,
  source_site     VARCHAR(64) NOT NULL,
  peer_site       VARCHAR(64) NOT NULL,
  last_success    TIMESTAMP(3) NULL,
  last_failure    TIMESTAMP(3) NULL,
  last_error      VARCHAR(255) NULL,
  failures        INT UNSIGNED NOT NULL DEFAULT 0,   -- consecutive, reset by a success
  last_full_sync  TIMESTAMP(3) NULL,
  dsync_state     TEXT NULL,                          -- doveadm sync -s state of the last success
  updated_at      TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (username, source_site, peer_site),
  KEY ix_replication_state_peer (source_site, peer_site)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
