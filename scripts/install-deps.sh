#!/bin/bash
# Install every Debian 12 package Titanicarus needs to build, test and run its demo.
# Idempotent: only missing packages are installed. Must run as root.
#
# * postfix asks debconf questions: preseeded to 'No configuration', so no
#   system main.cf is written (every Postfix command we run passes -c).
# * package postinst scripts would start system daemons (dovecot on *:143,
#   mariadb): a temporary /usr/sbin/policy-rc.d (exit 101) prevents that.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PKGS=(
  build-essential cmake pkg-config
  libevent-dev libssl-dev libmariadb-dev libyaml-cpp-dev catch2
  nlohmann-json3-dev libcrypt-dev libsodium-dev libidn2-dev libunistring-dev
  mariadb-server mariadb-client
  postfix swaks
  dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd
  python3 curl openssl procps iproute2 passwd
  proftpd-core proftpd-dev    # FTP: mod_titan is built against proftpd-dev, tested on proftpd
  debootstrap util-linux   # Debian 13 tree for the Dovecot 2.4 / Postfix 3.10 tests
  dovecot-mysql   # quotad benchmark: Dovecot's own dict server with its MySQL backend
)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "install-deps: all packages present"; exit 0; fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2; exit 1
fi
created_policy=0
if [ ! -x /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string demo.example.test" | debconf-set-selections
apt-get update -qq || true
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
