package storage

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// TestSecretsNeverLogged logs each record that holds a secret, as a value
// and as a pointer, and finds none of the secret in the log.
func TestSecretsNeverLogged(t *testing.T) {
	const secret = "TOPSECRET"
	for _, v := range []any{
		User{ID: "u1", Username: "alice", PasswordHash: secret},
		Method{ID: "m1", Type: MethodTOTP, Secret: []byte(secret), Data: []byte(secret), Target: "alice@example.org"},
		SigningKey{ID: "k1", PrivateDER: []byte(secret)},
		Secret{Value: []byte(secret)},
		Client{ID: "c1", SecretHash: []byte(secret)},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		log.Info("record", "v", v)
		p := reflect.New(reflect.TypeOf(v))
		p.Elem().Set(reflect.ValueOf(v))
		log.Info("pointer", "v", p.Interface())
		if strings.Contains(buf.String(), secret) || strings.Contains(buf.String(), "VE9QU0VDUkVU") { // base64 of the bytes
			t.Errorf("%T logged its secret: %s", v, buf.String())
		}
		if !strings.Contains(buf.String(), `"v":{`) {
			t.Errorf("%T did not log as a group: %s", v, buf.String())
		}
	}
}
