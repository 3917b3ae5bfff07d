#!/usr/bin/env bash
# Make sure the system tools and services the test suite needs are installed and running:
# PostgreSQL on 127.0.0.1:5432 reachable as user postgres without a password, and the redis-server
# binary (tests start their own). Installs Debian packages only when they are missing.
# With --bench, also h2load (nghttp2-client), which `make bench` uses for throughput.
set -euo pipefail

need_apt=()
if [ "${1:-}" = "--bench" ]; then
  command -v h2load >/dev/null 2>&1 || need_apt+=(nghttp2-client)
fi
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v make >/dev/null 2>&1 || need_apt+=(make)
# The browser tests: Debian's Chromium, driven by Playwright (its own browser downloads are not reachable),
# and Node.js with npm for the TypeScript client (web/).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
# The JVM client (clients/jvm/): protoc, the grpc-java plugin and jars, Kotlin, JUnit 5, Caffeine.
for pkg in protobuf-compiler protobuf-compiler-grpc-java-plugin libgrpc-java libprotobuf-java kotlin junit5 \
  libcaffeine-java libnetty-java libperfmark-java libgoogle-gson-java libanimal-sniffer-java \
  libgeronimo-annotation-1.3-spec-java libguava-java libjsr305-java liberror-prone-java libapiguardian-java \
  libopentest4j-java; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
command -v javac >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
# The metrics tests: a real Prometheus (and promtool) scraping a real server.
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
fresh_postgres=0
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "ensure-services: installing ${need_apt[*]}"
  [[ " ${need_apt[*]} " == *" postgresql "* ]] && fresh_postgres=1
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_ready; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "ensure-services: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
  pg_ready || { echo "ensure-services: PostgreSQL did not start" >&2; exit 1; }
fi

# A cluster we just installed uses password auth on TCP; the tests connect as postgres without one.
if [ "$fresh_postgres" = 1 ] || ! psql "postgresql://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q '^host all postgres 127.0.0.1/32 trust' "$hba"; then
    echo "ensure-services: allowing trust auth for postgres on 127.0.0.1 ($hba)"
    sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    su postgres -c "psql -qc 'select pg_reload_conf()'" >/dev/null
  fi
fi
psql "postgresql://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null
echo "ensure-services: PostgreSQL ready; redis-server at $(command -v redis-server)"
