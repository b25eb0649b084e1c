#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# gen-test-pki.sh OUTDIR — generate the test PKI used by moat's TLS and
# certificate-check tests. Everything is made with the openssl CLI, under
# fixed file names, in well under ten seconds. Re-running on a finished OUTDIR
# does nothing (a stamp file marks completion); delete OUTDIR to regenerate.
#
# Never commit the output: tests call this script into a temporary directory.
#
# Layout (every *.key is mode 0600):
#   ca.pem ca.key                 root CA "moat Test Root CA" (EC P-256)
#   int.pem int.key               intermediate CA signed by the root
#   ca-bundle.pem                 root + intermediate (trust file for clients)
#   server.pem server.key         RSA-2048 leaf, SAN DNS:localhost IP:127.0.0.1
#   server-fullchain.pem          leaf + intermediate (what a server should use)
#   server-chain-with-root.pem    leaf + intermediate + root
#   server-reversed.pem           intermediate + leaf (a CA first)
#   server-misordered.pem         leaf + root + intermediate
#   server.der server.p12 server.csr   the leaf in DER, in PKCS#12 (with its
#                                 key, empty password); its CSR (wrong formats)
#   server-enc.key                server.key encrypted, PKCS#8, password "secret"
#   server-enc-trad.key           server.key encrypted, traditional PEM, "secret"
#   server-ec.pem server-ec.key server-ec-fullchain.pem   ECDSA P-256 leaf
#   server-expired.pem/.key       valid 2020-01-01 .. 2021-01-01
#   server-notyet.pem/.key        valid 2099-01-01 .. 2100-01-01
#   server-expiring.pem/.key      expires in 10 days
#   server-rsa1024.pem/.key       RSA-1024 leaf
#   server-nosan.pem/.key         no subjectAltName
#   server-clientauth.pem/.key    EKU clientAuth only
#   server-sha1.pem/.key          signed with SHA-1
#   server-k256.pem/.key          EC secp256k1 key
#   client.pem client.key client-fullchain.pem   CN=device-001, SAN
#                                 DNS:device-001.example.com,
#                                 email:device-001@example.com,
#                                 URI:urn:moat:device-001, IP:10.0.0.1
#   client-expired.pem/.key       client certificate valid 2020 .. 2021
#   other-ca.pem other-ca.key     an unrelated root CA
#   other-client.pem other-client.key   client certificate of the unrelated CA
#   dh.pem                        ffdhe2048 parameters; dh-small.pem 1024-bit
#   le/archive/example/{cert,chain,fullchain,privkey}{1,2}.pem
#   le/live/example/{cert,chain,fullchain,privkey}.pem -> ../../archive/example/*1.pem
#                                 a Let's Encrypt layout; version 2 is a
#                                 renewal that tests switch to by re-pointing
#                                 the symlinks.
# Added for `moat certs check/split/bundle` (new files only; the ones above
# are made exactly as before):
#   server-ca.pem/.key            leaf marked CA:TRUE (serverAuth, SAN localhost)
#   server-badku.pem/.key         keyUsage nonRepudiation only: no TLS use
#   server-v1.pem/.key            X.509 version 1 (no extensions), CN=localhost
#   deep-int1.pem deep-int2.pem   a longer chain: root -> deep-int1 -> deep-int2
#   server-deep.pem/.key          leaf under deep-int2, SAN DNS:deep.localhost
#   server-deep-fullchain.pem     leaf, deep-int2, deep-int1
#   server-deep-shuffled.pem      deep-int1, root, leaf, deep-int2
#   server-with-key.pem           server.pem, int.pem and server.key in one file
set -euo pipefail

out=${1:?usage: gen-test-pki.sh OUTDIR}
stamp_version=6
mkdir -p "$out"
cd "$out"
if [ -f .pki-complete ] && [ "$(cat .pki-complete)" = "$stamp_version" ]; then
    exit 0
fi
umask 077

# Quiet on success; on failure show what openssl said.
ossl() {
    local log
    if ! log=$(openssl "$@" 2>&1); then
        echo "gen-test-pki: openssl $*: $log" >&2
        return 1
    fi
}

# Extension profiles, one file for all certificates.
cat >ext.cnf <<'EOF'
[req]
distinguished_name = req_dn
[req_dn]

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[int_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[le_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:example.com, DNS:localhost, IP:127.0.0.1

[nosan_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth

[clientauth_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1

[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:device-001.example.com, email:device-001@example.com, URI:urn:moat:device-001, IP:10.0.0.1
EOF

# Minimal `openssl ca` setup, used only where explicit start and end dates are
# needed (OpenSSL 3.0's x509 command has no -not_before/-not_after).
mkdir -p ca-db
: >ca-db/index.txt
echo 1000 >ca-db/serial
cat >ca.cnf <<'EOF'
[ca]
default_ca = test_ca
[test_ca]
dir = .
database = ./ca-db/index.txt
new_certs_dir = ./ca-db
serial = ./ca-db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
EOF

ec_key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"${2:-P-256}" -out "$1"; }
rsa_key() { ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"$2" -out "$1"; }
csr() { ossl req -new -config ext.cnf -key "$1" -subj "$2" -out "$3"; }

serial=100
# sign NAME ISSUER EXTSECTION [DAYS] [DIGEST]: NAME.csr -> NAME.pem
sign() {
    serial=$((serial + 1))
    ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "$serial" \
        -days "${4:-825}" -"${5:-sha256}" -extfile ext.cnf -extensions "$3" -out "$1.pem"
}
# sign_dated NAME ISSUER EXTSECTION START END (YYYYMMDDHHMMSSZ)
sign_dated() {
    ossl ca -batch -config ca.cnf -in "$1.csr" -cert "$2.pem" -keyfile "$2.key" \
        -startdate "$4" -enddate "$5" -extfile ext.cnf -extensions "$3" -notext -out "$1.pem"
}
leaf() { # leaf NAME KEYKIND SUBJECT EXT: key + csr + cert signed by int
    case $2 in
    rsa*) rsa_key "$1.key" "${2#rsa}" ;;
    *) ec_key "$1.key" "$2" ;;
    esac
    csr "$1.key" "$3" "$1.csr"
    sign "$1" int "$4"
}

# Roots and the intermediate.
root_ca() { # root_ca NAME SUBJECT
    ec_key "$1.key"
    ossl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -sha256 -config ext.cnf \
        -extensions ca_ext -out "$1.pem"
}
root_ca ca "/O=moat test/CN=moat Test Root CA"
ec_key int.key
csr int.key "/O=moat test/CN=moat Test Intermediate CA" int.csr
sign int ca int_ext 3000
cat ca.pem int.pem >ca-bundle.pem
root_ca other-ca "/O=elsewhere/CN=Unrelated Test CA"

# The good server certificates and the chain layouts built from them.
leaf server rsa2048 "/O=moat test/CN=localhost" server_ext
cat server.pem int.pem >server-fullchain.pem
cat server.pem int.pem ca.pem >server-chain-with-root.pem
cat int.pem server.pem >server-reversed.pem
cat server.pem ca.pem int.pem >server-misordered.pem
ossl x509 -in server.pem -outform der -out server.der
ossl pkcs12 -export -in server.pem -inkey server.key -passout pass: -out server.p12
ossl pkey -in server.key -aes256 -passout pass:secret -out server-enc.key
ossl rsa -in server.key -aes256 -traditional -passout pass:secret -out server-enc-trad.key
leaf server-ec P-256 "/O=moat test/CN=localhost" server_ext
cat server-ec.pem int.pem >server-ec-fullchain.pem

# Server certificates with one thing wrong each.
ec_key server-expired.key
csr server-expired.key "/O=moat test/CN=expired.localhost" server-expired.csr
sign_dated server-expired int server_ext 20200101000000Z 20210101000000Z
ec_key server-notyet.key
csr server-notyet.key "/O=moat test/CN=notyet.localhost" server-notyet.csr
sign_dated server-notyet int server_ext 20990101000000Z 21000101000000Z
ec_key server-expiring.key
csr server-expiring.key "/O=moat test/CN=expiring.localhost" server-expiring.csr
sign server-expiring int server_ext 10
leaf server-rsa1024 rsa1024 "/O=moat test/CN=weak.localhost" server_ext
leaf server-nosan P-256 "/O=moat test/CN=localhost" nosan_ext
leaf server-clientauth P-256 "/O=moat test/CN=localhost" clientauth_ext
ec_key server-sha1.key
csr server-sha1.key "/O=moat test/CN=sha1.localhost" server-sha1.csr
sign server-sha1 int server_ext 825 sha1
leaf server-k256 secp256k1 "/O=moat test/CN=k256.localhost" server_ext

# Clients.
leaf client P-256 "/O=moat test/OU=devices/CN=device-001" client_ext
cat client.pem int.pem >client-fullchain.pem
ec_key client-expired.key
csr client-expired.key "/O=moat test/CN=device-old" client-expired.csr
sign_dated client-expired int client_ext 20200101000000Z 20210101000000Z
ec_key other-client.key
csr other-client.key "/O=elsewhere/CN=intruder" other-client.csr
sign other-client other-ca client_ext

# Diffie-Hellman parameters: a named group (instant) and a weak one.
ossl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out dh.pem
ossl genpkey -genparam -algorithm DH -pkeyopt dh_paramgen_prime_len:1024 \
    -pkeyopt dh_paramgen_type:0 -out dh-small.pem 2>/dev/null ||
    ossl dhparam -dsaparam -out dh-small.pem 1024

# Let's Encrypt layout: live/ holds relative symlinks into archive/.
mkdir -p le/archive/example le/live/example
for v in 1 2; do
    leaf le-$v rsa2048 "/CN=example.com" le_ext
    cp le-$v.pem le/archive/example/cert$v.pem
    cp int.pem le/archive/example/chain$v.pem
    cat le-$v.pem int.pem >le/archive/example/fullchain$v.pem
    cp le-$v.key le/archive/example/privkey$v.pem
done
for f in cert chain fullchain privkey; do
    ln -sfn ../../archive/example/${f}1.pem le/live/example/$f.pem
done

# Cases for `moat certs check`, `split` and `bundle`, with their own
# extension profiles so that ext.cnf stays as it was.
cat >ext2.cnf <<'EOF2'
[req]
distinguished_name = req_dn
[req_dn]

[leafca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1

[badku_ext]
basicConstraints = CA:FALSE
keyUsage = critical, nonRepudiation
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1

[deep1_ext]
basicConstraints = critical, CA:TRUE, pathlen:1
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[deep2_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[deep_leaf_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:deep.localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF2
# sign2 NAME ISSUER EXTSECTION: like sign, with ext2.cnf (or none when EXT is -)
sign2() {
    serial=$((serial + 1))
    if [ "$3" = - ]; then
        ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "$serial" \
            -days 825 -sha256 -out "$1.pem"
    else
        ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "$serial" \
            -days 825 -sha256 -extfile ext2.cnf -extensions "$3" -out "$1.pem"
    fi
}
leaf2() { # leaf2 NAME ISSUER SUBJECT EXT: EC key + csr + cert
    ec_key "$1.key"
    csr "$1.key" "$3" "$1.csr"
    sign2 "$1" "$2" "$4"
}
leaf2 server-ca int "/O=moat test/CN=localhost" leafca_ext
leaf2 server-badku int "/O=moat test/CN=localhost" badku_ext
leaf2 server-v1 int "/O=moat test/CN=localhost" -
leaf2 deep-int1 ca "/O=moat test/CN=moat Deep Intermediate 1" deep1_ext
leaf2 deep-int2 deep-int1 "/O=moat test/CN=moat Deep Intermediate 2" deep2_ext
leaf2 server-deep deep-int2 "/O=moat test/CN=deep.localhost" deep_leaf_ext
cat server-deep.pem deep-int2.pem deep-int1.pem >server-deep-fullchain.pem
cat deep-int1.pem ca.pem server-deep.pem deep-int2.pem >server-deep-shuffled.pem
cat server.pem int.pem server.key >server-with-key.pem

chmod 0600 ./*.key le/archive/example/privkey*.pem
chmod 0644 ./*.pem server.der server.p12 le/archive/example/cert*.pem le/archive/example/chain*.pem \
    le/archive/example/fullchain*.pem

# ---------------------------------------------------------------------------
# moat certs probe (tests/integration/test_42_certs_probe.py). Only new files:
#   probe-root.pem/.key          root CA "moat Probe Root CA"
#   probe-int1.pem/.key          intermediate CA (pathlen 1) under probe-root
#   probe-int2.pem/.key          intermediate CA (pathlen 0) under probe-int1
#   probe-server.pem/.key        RSA-2048 leaf under probe-int2, SAN DNS:localhost
#                                IP:127.0.0.1
#   probe-server-fullchain.pem   leaf + probe-int2 + probe-int1
#   probe-server-broken.pem      leaf + probe-int2: probe-int1 is missing, so
#                                clients fail with "unable to get local issuer
#                                certificate" (a server can still load it: the
#                                chain it has is consistent)
#   probe-selfsigned.pem/.key    a self-signed server certificate for localhost
#   probe-root-regen.pem         another root CA of the same name as probe-root
#                                (a regenerated CA): it did not sign probe-int1
#   probe-ocsp-good.der          OCSP response (signed by int) saying server.pem
#                                is good; probe-ocsp-revoked.der says revoked
# The stamp is rewritten at the end, so a run cut short in here is redone.
rm -f .pki-complete
cat >probe-ext.cnf <<'PROBE_EOF'
[req]
distinguished_name = req_dn
[req_dn]

[int1_ext]
basicConstraints = critical, CA:TRUE, pathlen:1
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[int2_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[selfsigned_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
PROBE_EOF
probe_sign() { # probe_sign NAME ISSUER EXTSECTION
    serial=$((serial + 1))
    ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "$serial" -days 825 \
        -sha256 -extfile probe-ext.cnf -extensions "$3" -out "$1.pem"
}
root_ca probe-root "/O=moat test/CN=moat Probe Root CA"
root_ca probe-root-regen "/O=moat test/CN=moat Probe Root CA"
for n in 1 2; do
    ec_key probe-int$n.key
    ossl req -new -config probe-ext.cnf -key probe-int$n.key \
        -subj "/O=moat test/CN=moat Probe Intermediate CA $n" -out probe-int$n.csr
done
probe_sign probe-int1 probe-root int1_ext
probe_sign probe-int2 probe-int1 int2_ext
rsa_key probe-server.key 2048
ossl req -new -config probe-ext.cnf -key probe-server.key -subj "/O=moat test/CN=localhost" \
    -out probe-server.csr
probe_sign probe-server probe-int2 server_ext
cat probe-server.pem probe-int2.pem probe-int1.pem >probe-server-fullchain.pem
cat probe-server.pem probe-int2.pem >probe-server-broken.pem
ec_key probe-selfsigned.key
ossl req -x509 -new -config probe-ext.cnf -key probe-selfsigned.key -subj "/O=moat test/CN=localhost" \
    -days 825 -sha256 -extensions selfsigned_ext -out probe-selfsigned.pem

# OCSP responses for server.pem from a throw-away index (openssl ocsp answers
# a request file offline).
probe_serial=$(openssl x509 -in server.pem -noout -serial | cut -d= -f2)
probe_subject="/O=moat test/CN=localhost"
probe_end=$(date -u -d "$(openssl x509 -in server.pem -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
ossl ocsp -issuer int.pem -cert server.pem -no_nonce -reqout probe-ocsp-req.der
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$probe_end" "$probe_serial" "$probe_subject" \
    >probe-ocsp-good.idx
printf 'R\t%s\t200101000000Z,keyCompromise\t%s\tunknown\t%s\n' "$probe_end" "$probe_serial" \
    "$probe_subject" >probe-ocsp-revoked.idx
for s in good revoked; do
    ossl ocsp -index probe-ocsp-$s.idx -rsigner int.pem -rkey int.key -CA int.pem \
        -reqin probe-ocsp-req.der -respout probe-ocsp-$s.der -ndays 30
done
chmod 0600 probe-*.key
chmod 0644 probe-*.pem probe-ocsp-*.der
echo "$stamp_version" >.pki-complete
# ------------------------------------------------------------ end of probe block
