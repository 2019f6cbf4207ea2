package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// TestNoticeAfterKill: a server killed (SIGKILL) right after a change,
// before its notice went, sends the notice once it is started again, and
// sends it once. On the first run mail goes to a port nothing listens on,
// so the notice cannot leave before the kill, whenever the sender looks.
func TestNoticeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it")
	}
	t.Parallel() // much of it waits on another process: overlap it with the other slow tests
	s := newCrashSite(t, buildGatehouse(t), 1)
	u := s.users[0]
	s.configure(closedPort(t))
	s.start()
	in := s.signIn(u)
	if in == nil {
		t.Fatal("the user could not sign in")
	}
	if _, o := s.addApp(in.browser, "Tablet"); o != done {
		t.Fatalf("adding an authenticator app: outcome %d, want done", o)
	}
	s.kill()

	stored := noticesOf(t, dbPath(s.cfg), u.ID)
	if len(stored) != 1 || stored[0].State != storage.NotificationPending {
		t.Fatalf("after the kill, the user's notices are %+v, want one pending", stored)
	}
	n := stored[0]
	t.Logf("killed with the notice tried %d times", n.Attempts) // 0 unless the sender looked in the instant before the kill

	s.configure(s.mail.addr.Port)
	s.start()
	// The running server holds the database: its record is read from
	// backups. A notice tried before the kill waits 30 seconds to be tried
	// again, or 45 if the kill cut its try short; one not tried goes at once.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if list := noticesOf(t, s.backup(), u.ID); len(list) == 1 && list[0].State == storage.NotificationSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the notice is not recorded sent two minutes after the restart; %d mails received\n%s", len(s.mail.mails()), s.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Sent is recorded once the SMTP server has accepted the mail. A second
	// copy would come at a later look of the sender, so give it two; or
	// when a lease ran out, which the record checked below rules out.
	time.Sleep(2 * notifyInterval)
	got := s.mail.mails()
	if len(got) != 1 {
		t.Fatalf("the SMTP server received %d mails, want 1", len(got))
	}
	text := readable(t, got[0])
	for _, want := range []string{"to " + u.Email + "\n", "Subject: A sign-in method was added to your account\n",
		"Message-Id: <" + n.ID + "@example.org>\n", "A way to sign in, Authenticator app (Tablet), was added to your account."} {
		if !strings.Contains(text, want) {
			t.Errorf("the mail lacks %q:\n%s", want, text)
		}
	}
	s.stop()
	// Claimed once since the restart, and recorded sent: so sent once,
	// and no lease is left to run out and send it again.
	after := noticesOf(t, dbPath(s.cfg), u.ID)
	if len(after) != 1 || after[0].ID != n.ID || after[0].State != storage.NotificationSent || after[0].Attempts != n.Attempts+1 {
		t.Errorf("after the restart, the user's notices are %+v, want %s sent at its %d attempt", after, n.ID, n.Attempts+1)
	}
	s.checkLog()
}

// closedPort is a loopback port nothing listens on: a connection to it
// is refused.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// noticesOf is the notices stored for a user in the database file at
// path, which no server may hold.
func noticesOf(t *testing.T, path, userID string) []storage.Notification {
	t.Helper()
	store, err := bbolt.Open(path, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	list, err := store.ListUserNotifications(context.Background(), userID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return list
}
