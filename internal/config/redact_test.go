package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://chaos.example.com/api/query", "https://chaos.example.com/api/query"},
		{"https://admin:s3cret@chaos.example.com/api/query", "https://admin:xxxxx@chaos.example.com/api/query"},
		{"https://tok3n@chaos.example.com/api/query", "https://xxxxx@chaos.example.com/api/query"},
		{"https://chaos.example.com/api/query?token=abc&x=1", "https://chaos.example.com/api/query?token=xxxxx&x=xxxxx"},
		{"http://u:p@h/q?access_key=k", "http://u:xxxxx@h/q?access_key=xxxxx"},
		{"://bad url with s3cret", "xxxxx"},
		{"", ""},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	c := Config{ServerAddr: "https://admin:s3cret@h/q?token=t0k", AccessKey: "key"}
	if s := c.String(); strings.Contains(s, "s3cret") || strings.Contains(s, "t0k") || strings.Contains(s, "key}") {
		t.Errorf("String() leaks a secret: %s", s)
	}
	if c.ServerAddr != "https://admin:s3cret@h/q?token=t0k" {
		t.Error("Redacted changed the configuration itself")
	}
}

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestCheckPEM(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, priv := pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", keyDER)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"one certificate", b64(cert), ""},
		{"a bundle", b64(cert + cert), ""},
		{"a private key", b64(priv), "EC PRIVATE KEY, not a CERTIFICATE"},
		{"a certificate and its key", b64(cert + priv), "PEM block 2 is a EC PRIVATE KEY"},
		{"a broken certificate", b64(pemBlock("CERTIFICATE", []byte("junk"))), "not a valid certificate"},
		{"no PEM", b64("hello"), "no PEM certificate"},
		{"not base64", "%%%", "not base64"},
	} {
		err := CheckPEM(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.wantErr)
		}
	}
}
