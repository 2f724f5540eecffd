#!/usr/bin/env bash
# Make sure a Java runtime that Spark 3.5 runs on (8, 11 or 17) exists for the Spark lane of the tests
# (tests/test_spark.py: pyspark starts a JVM in the test process).
#
# Uses $JAVA_HOME/bin/java, else `java` on PATH; apt-installs a headless JRE only when neither works.
set -euo pipefail

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java"; return 0; fi
  command -v java 2>/dev/null
}

java_major() {  # "17.0.15" -> 17, "1.8.0_392" -> 8
  local version
  version="$("$1" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
  version="${version#1.}"
  echo "${version%%[.+-]*}"
}

supported() {
  local bin major
  bin="$(java_bin)" || return 1
  major="$(java_major "$bin")"
  case "$major" in
    8|11|17) echo "ensure_java: Java $major at $bin"; return 0 ;;
    *) echo "ensure_java: $bin is Java ${major:-?}; Spark 3.5 needs 8, 11 or 17" >&2; return 1 ;;
  esac
}

if supported; then
  exit 0
fi

echo "ensure_java: installing a headless Java 17 runtime"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_java: no apt-get here; install Java 17 yourself (and set JAVA_HOME)" >&2
  exit 1
fi
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure_java: need root (or sudo) to apt-get install a Java runtime" >&2
    exit 1
  fi
  SUDO=(sudo)
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless

if ! supported; then
  echo "ensure_java: installed openjdk-17-jre-headless, but no usable java found (set JAVA_HOME)" >&2
  exit 1
fi
