#!/usr/bin/env bash
# Regenerates the test certificates (committed; the keys are thrown away: the chaincode reads a
# caller's certificate, never signs with it). One CA like cryptogen's org1 CA, and leaves whose
# subjects are the cases the operator check must get right:
#   admin.pem       OU=admin                          an operator (when its MSP may operate)
#   client.pem      OU=client                         a plain client (a submitter once granted)
#   peer.pem        OU=peer                           a peer's identity
#   locality.pem    L=x/OU=admin, OU=client           issue 31 finding 1: the subject *text* holds /OU=admin
#   cn.pem          OU=client, CN=x/OU=admin          the same through the common name
#   twoous.pem      OU=client, OU=admin               two node OUs (an affiliation named admin): not an admin
#   collide-a.pem   L=a/OU=b, OU=client, CN=c         fabric-shim's id escapes only the first '/': these two
#   collide-b.pem   L=a\, OU=b, OU=client, CN=c       leaves get the same getID() text
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca.key"
openssl req -x509 -new -key "$tmp/ca.key" -days 36500 -out ca.pem \
  -subj "/C=US/ST=California/L=San Francisco/O=org1.example.com/CN=ca.org1.example.com"
leaf() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/$1.key"
  openssl req -new -key "$tmp/$1.key" -out "$tmp/$1.csr" -subj "$2"
  openssl x509 -req -in "$tmp/$1.csr" -CA ca.pem -CAkey "$tmp/ca.key" -CAcreateserial -days 36500 \
    -out "$1.pem" 2>/dev/null
}
leaf admin "/C=US/ST=California/L=San Francisco/OU=admin/CN=Admin@org1.example.com"
leaf client "/C=US/ST=California/L=San Francisco/OU=client/CN=User1@org1.example.com"
leaf peer "/C=US/ST=California/L=San Francisco/OU=peer/CN=peer0.org1.example.com"
leaf locality "/C=US/ST=California/L=x\/OU=admin/OU=client/CN=mallory@org1.example.com"
leaf cn "/C=US/ST=California/L=San Francisco/OU=client/CN=x\/OU=admin"
leaf twoous "/C=US/ST=California/L=San Francisco/OU=client/OU=admin/CN=eve@org1.example.com"
leaf collide-a "/C=US/L=a\/OU=b/OU=client/CN=c"
leaf collide-b "/C=US/L=a\\\\/OU=b/OU=client/CN=c"
rm -f ca.srl
