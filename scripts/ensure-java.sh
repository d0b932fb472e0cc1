#!/usr/bin/env bash
# Make sure a Java 17+ runtime is available for the Spark engine (PySpark 4 needs Java 17).
#
# `vru link --engine spark` and `vru features --engine spark` start a local JVM. This script
# only installs a runtime when none is found; it never starts anything. Idempotent and quiet
# on success.
#
#   1. `java` (JAVA_HOME first, then PATH) reports 17 or newer: nothing to do.
#   2. A JRE this script unpacked earlier into <venv>/jre works: print its JAVA_HOME.
#   3. apt-get is available (and we are root): install openjdk-17-jre-headless.
#   4. Otherwise: download a Temurin 17 JRE from the Adoptium API into <venv>/jre and print
#      the JAVA_HOME to use (the Spark engine also finds it there by itself).
#
# Environment: VENV (default .venv, relative to the repository root).
# Exit status: 0 when a Java 17+ runtime is available (a JAVA_HOME on stdout when it is not the
# system's); 1 otherwise, with the reason on stderr.
set -euo pipefail

MIN=17
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
LOCAL_JRE=$VENV/jre

# Print the major version that a java binary reports (8 for 1.8), or nothing.
java_major() {
    local out
    out=$("$1" -version 2>&1) || return 0
    sed -n 's/.*version "\([0-9][0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p' <<<"$out" | head -n1 |
        awk '{ print ($1 == 1 ? $2 : $1) }'
}

# Succeed when the java binary $1 exists and is new enough.
good_java() {
    [[ -x "$1" ]] || return 1
    local major
    major=$(java_major "$1")
    [[ -n "$major" && "$major" -ge "$MIN" ]]
}

system_java_ok() {
    if [[ -n "${JAVA_HOME:-}" ]] && good_java "$JAVA_HOME/bin/java"; then
        return 0
    fi
    local found
    found=$(command -v java 2>/dev/null) || return 1
    good_java "$found"
}

if system_java_ok; then
    exit 0
fi
if good_java "$LOCAL_JRE/bin/java"; then
    printf '%s\n' "$LOCAL_JRE"
    exit 0
fi

if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    echo "ensure-java: installing openjdk-17-jre-headless with apt-get..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    hash -r
    if system_java_ok; then
        exit 0
    fi
    # installed but not first on PATH (another, older java is): point at it
    for candidate in /usr/lib/jvm/java-17-openjdk-*/; do
        if good_java "${candidate%/}/bin/java"; then
            printf '%s\n' "${candidate%/}"
            exit 0
        fi
    done
    echo "ensure-java: apt-get installed openjdk-17-jre-headless but no Java 17 was found." >&2
    exit 1
fi

case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *)
        echo "ensure-java: no Java $MIN found and no download for $(uname -m); install a JRE $MIN." >&2
        exit 1
        ;;
esac
case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=mac ;;
    *)
        echo "ensure-java: no Java $MIN found; install a JRE $MIN for $(uname -s)." >&2
        exit 1
        ;;
esac
url="https://api.adoptium.net/v3/binary/latest/$MIN/ga/$os/$arch/jre/hotspot/normal/eclipse"
echo "ensure-java: downloading a Temurin $MIN JRE into $LOCAL_JRE..." >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! curl -fsSL --retry 3 -o "$tmp/jre.tar.gz" "$url"; then
    echo "ensure-java: the download failed ($url); install a JRE $MIN (e.g. apt-get install" \
        "openjdk-17-jre-headless) or set JAVA_HOME to one." >&2
    exit 1
fi
mkdir -p "$tmp/unpacked"
tar -xzf "$tmp/jre.tar.gz" -C "$tmp/unpacked"
home=$(find "$tmp/unpacked" -mindepth 1 -maxdepth 1 -type d | head -n1)
[[ -d "$home/Contents/Home" ]] && home="$home/Contents/Home" # macOS bundle layout
rm -rf "$LOCAL_JRE"
mkdir -p "$(dirname -- "$LOCAL_JRE")"
mv "$home" "$LOCAL_JRE"
if ! good_java "$LOCAL_JRE/bin/java"; then
    echo "ensure-java: the downloaded JRE does not run ($LOCAL_JRE/bin/java)." >&2
    exit 1
fi
printf '%s\n' "$LOCAL_JRE"
