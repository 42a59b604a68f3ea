# PKI for the local cluster, generated with the openssl CLI. Source after cluster.sh.
# pki_ensure creates whatever is missing under $PKI and the kubeconfigs under $CONF.
# shellcheck shell=bash

_pki_cert() { # NAME CN O EXT(client|server) [SAN] [CA-NAME, default ca]
  local name=$1 cn=$2 o=$3 kind=$4 san=${5:-} ca=${6:-ca}
  [ -s "$PKI/$name.crt" ] && return 0
  local subj="/CN=$cn"
  [ -n "$o" ] && subj="/O=$o$subj"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ "$kind" = server ]; then echo "extendedKeyUsage=serverAuth"; else echo "extendedKeyUsage=clientAuth"; fi
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

_pki_ca() { # NAME CN: a self-signed CA, unless it exists
  local name=$1 cn=$2
  [ -s "$PKI/$name.crt" ] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$PKI/$name.key" -subj "/CN=$cn" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/$name.crt" 2>/dev/null
}

# _kubeconfig FILE USER CERT-NAME: a kubeconfig with inline certificate data.
_kubeconfig() {
  local file=$1 user=$2 cert=$3
  [ -s "$file" ] && return 0
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: cubelet-dev
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- name: $user@cubelet-dev
  context:
    cluster: cubelet-dev
    user: $user
current-context: $user@cubelet-dev
KC
  chmod 600 "$file"
}

pki_ensure() {
  mkdir -p "$PKI" "$CONF"
  chmod 700 "$PKI"
  if [ ! -s "$PKI/ca.crt" ]; then
    log "generating cluster PKI in $PKI"
  fi
  _pki_ca ca cubelet-dev-ca
  # The aggregation layer's own CA: kube-apiserver proxies to extension API servers
  # (metrics-server) with the front-proxy-client certificate, which they check against it.
  _pki_ca front-proxy-ca cubelet-dev-front-proxy-ca
  _pki_cert apiserver kube-apiserver "" server \
    "IP:$NODE_IP,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  _pki_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
  _pki_cert admin kubernetes-admin system:masters client
  _pki_cert controller-manager system:kube-controller-manager "" client
  _pki_cert scheduler system:kube-scheduler "" client
  _pki_cert "node-$NODE_NAME" "system:node:$NODE_NAME" system:nodes client
  _pki_cert front-proxy-client front-proxy-client "" client "" front-proxy-ca
  _pki_cert metrics-server system:metrics-server "" client
  if [ ! -s "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  _kubeconfig "$ADMIN_KUBECONFIG" kubernetes-admin admin
  _kubeconfig "$CONF/controller-manager.conf" system:kube-controller-manager controller-manager
  _kubeconfig "$CONF/scheduler.conf" system:kube-scheduler scheduler
  _kubeconfig "$CONF/kubelet.conf" "system:node:$NODE_NAME" "node-$NODE_NAME"
  _kubeconfig "$CONF/metrics-server.conf" system:metrics-server metrics-server
}
