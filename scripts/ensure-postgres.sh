#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries (initdb, pg_ctl) are installed; print their directory.
#
# The test suite (tests/tracking_server.py) starts a throwaway PostgreSQL cluster and an MLflow
# tracking server on loopback. This script only installs the binaries when they are missing
# (with apt-get, as root); it never starts a server. Idempotent: when the binaries are already
# present it only looks them up and exits 0.
#
# Exit status: 0 and the bin directory on stdout when found or installed; 1 otherwise.
set -euo pipefail

# Print the directory holding both initdb and pg_ctl, or return 1.
find_bin_dir() {
    local initdb dir
    if initdb=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null 2>&1; then
        # Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
        # so the directory printed also holds the `postgres` server binary.
        dir=$(dirname -- "$(readlink -f -- "$initdb")")
        if [[ -x "$dir/pg_ctl" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    # Debian/Ubuntu keep server binaries off PATH; newest major version first.
    local candidate
    while IFS= read -r candidate; do
        if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -t/ -k5,5 -rV)
    return 1
}

if find_bin_dir; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    cat >&2 <<'MSG'
ensure-postgres: PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in
/usr/lib/postgresql/*/bin, and this script is not running as root so it cannot install them.
Install them (Debian/Ubuntu: `sudo apt-get install postgresql`), or run this script as root.
MSG
    exit 1
fi

echo "ensure-postgres: installing PostgreSQL with apt-get..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null

if ! find_bin_dir; then
    echo "ensure-postgres: apt-get installed postgresql but initdb/pg_ctl are still missing." >&2
    exit 1
fi
