package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// credentialFiles are the paths of everything the components read at start.
type credentialFiles struct {
	dir             string
	caCert          string
	servingCert     string
	servingKey      string
	frontProxyCA    string
	frontProxyCert  string
	frontProxyKey   string
	serviceAccounts string
	tokens          string
	adminToken      string
	kubeconfig      string
}

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// writeCredentials makes a cluster CA and serving certificate, the front proxy's CA and
// client certificate (the aggregator presents it to aggregated API servers), the service
// account signing key and the static token file: the admin plus one token per --user.
// A directory that has them already keeps them, so clients of a restarted control plane
// still trust it and it still knows their tokens.
func writeCredentials(dir string, users []string) (credentialFiles, error) {
	f := credentialFiles{
		dir:             dir,
		caCert:          filepath.Join(dir, "ca.crt"),
		servingCert:     filepath.Join(dir, "apiserver.crt"),
		servingKey:      filepath.Join(dir, "apiserver.key"),
		frontProxyCA:    filepath.Join(dir, "front-proxy-ca.crt"),
		frontProxyCert:  filepath.Join(dir, "front-proxy-client.crt"),
		frontProxyKey:   filepath.Join(dir, "front-proxy-client.key"),
		serviceAccounts: filepath.Join(dir, "service-accounts.key"),
		tokens:          filepath.Join(dir, "tokens.csv"),
		kubeconfig:      filepath.Join(dir, "admin.kubeconfig"),
	}
	if tokens, err := os.ReadFile(f.tokens); err == nil {
		admin, _, _ := strings.Cut(string(tokens), ",")
		f.adminToken = admin
		return f, nil
	}
	ca, err := newAuthority("controlplane-ca", f.caCert)
	if err != nil {
		return f, err
	}
	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.1")},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
	}
	if err := ca.issue(serving, f.servingCert, f.servingKey); err != nil {
		return f, err
	}
	frontProxy, err := newAuthority("front-proxy-ca", f.frontProxyCA)
	if err != nil {
		return f, err
	}
	client := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "front-proxy-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := frontProxy.issue(client, f.frontProxyCert, f.frontProxyKey); err != nil {
		return f, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	if err := writeKey(f.serviceAccounts, saKey); err != nil {
		return f, err
	}
	return f, writeTokens(&f, users)
}

func writeTokens(f *credentialFiles, users []string) error {
	admin, err := newToken()
	if err != nil {
		return err
	}
	f.adminToken = admin
	lines := []string{fmt.Sprintf("%s,admin,admin,\"system:masters\"", admin)}
	tokenDir := filepath.Join(f.dir, "tokens")
	if err := os.MkdirAll(tokenDir, 0o700); err != nil {
		return err
	}
	for i, user := range users {
		name, groups, _ := strings.Cut(user, ":")
		if name == "" || strings.ContainsAny(name, ",\"/") {
			return fmt.Errorf("--user %q: the name must be non-empty, without commas, quotes or slashes", user)
		}
		token, err := newToken()
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s,%s,user-%d,\"%s\"", token, name, i, groups))
		if err := os.WriteFile(filepath.Join(tokenDir, name), []byte(token), 0o600); err != nil {
			return err
		}
	}
	return os.WriteFile(f.tokens, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

func newToken() (string, error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

func newAuthority(name, certPath string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

func (a *authority) issue(template *x509.Certificate, certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	template.SerialNumber = serial
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(7 * 24 * time.Hour)
	template.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, template, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return err
	}
	return writeKey(keyPath, key)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der)
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}
