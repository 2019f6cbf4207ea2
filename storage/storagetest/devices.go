package storagetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/storage"
)

var sortDevices = cmpopts.SortSlices(func(a, b storage.RememberedDevice) bool { return a.ID < b.ID })

func newDevice(id, user string, browser byte, now time.Time) storage.RememberedDevice {
	return storage.RememberedDevice{
		ID: id, UserID: user, BrowserHash: []byte{browser, 0, browser}, UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour),
	}
}

func testRememberedDevices(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	// Browser 'a' is remembered for two users; u1 is remembered in two browsers.
	d1, d2, d3 := newDevice("d1", "u1", 'a', now), newDevice("d2", "u1", 'b', now), newDevice("d3", "u2", 'a', now)
	for _, d := range []storage.RememberedDevice{d1, d2, d3} {
		got, err := s.RememberDevice(ctx, d)
		must(t, "RememberDevice "+d.ID, err)
		check(t, "RememberDevice "+d.ID+" result", got, d)
	}
	got, err := s.GetRememberedDevice(ctx, "d1")
	must(t, "GetRememberedDevice", err)
	check(t, "GetRememberedDevice", got, d1)
	find := func(user string, browser byte) (storage.RememberedDevice, error) {
		return s.FindRememberedDevice(ctx, user, []byte{browser, 0, browser})
	}
	got, err = find("u2", 'a')
	must(t, "FindRememberedDevice u2 a", err)
	check(t, "FindRememberedDevice u2 a", got, d3)
	for _, c := range []struct {
		user    string
		browser byte
	}{{"u1", 'c'}, {"u2", 'b'}, {"nope", 'a'}} {
		_, err := find(c.user, c.browser)
		checkErr(t, "FindRememberedDevice "+c.user+" "+string(c.browser), err, storage.ErrNotFound)
	}
	_, err = s.GetRememberedDevice(ctx, "nope")
	checkErr(t, "GetRememberedDevice missing", err, storage.ErrNotFound)
	_, err = s.RememberDevice(ctx, newDevice("d3", "u1", 'c', now))
	checkErr(t, "RememberDevice with another device's id", err, storage.ErrAlreadyExists)
	checkErr(t, "DeleteRememberedDevice missing", s.DeleteRememberedDevice(ctx, "nope"), storage.ErrNotFound)

	// Remembering a browser again renews its record, under the same id.
	again := newDevice("d1-again", "u1", 'a', now.Add(time.Hour))
	again.UserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/140.0"
	d1.UserAgent, d1.CreatedAt, d1.ExpiresAt = again.UserAgent, again.CreatedAt, again.ExpiresAt
	got, err = s.RememberDevice(ctx, again)
	must(t, "RememberDevice again", err)
	check(t, "RememberDevice again result", got, d1)
	got, err = find("u1", 'a')
	must(t, "FindRememberedDevice after renewal", err)
	check(t, "FindRememberedDevice after renewal", got, d1)
	_, err = s.GetRememberedDevice(ctx, "d1-again")
	checkErr(t, "GetRememberedDevice under the renewal's own id", err, storage.ErrNotFound)

	listOf := func(user string) []storage.RememberedDevice {
		list, err := s.ListUserRememberedDevices(ctx, user)
		must(t, "ListUserRememberedDevices "+user, err)
		return list
	}
	check(t, "u1's devices", listOf("u1"), []storage.RememberedDevice{d1, d2}, sortDevices)
	check(t, "u2's devices", listOf("u2"), []storage.RememberedDevice{d3})
	check(t, "devices of a user without any", listOf("nope"), nil)

	must(t, "DeleteRememberedDevice", s.DeleteRememberedDevice(ctx, "d2"))
	check(t, "u1's devices after DeleteRememberedDevice", listOf("u1"), []storage.RememberedDevice{d1})
	_, err = find("u1", 'b')
	checkErr(t, "FindRememberedDevice of a deleted device", err, storage.ErrNotFound)
	must(t, "DeleteUserRememberedDevices", s.DeleteUserRememberedDevices(ctx, "u1"))
	check(t, "u1's devices after DeleteUserRememberedDevices", listOf("u1"), nil)
	check(t, "u2's devices after DeleteUserRememberedDevices u1", listOf("u2"), []storage.RememberedDevice{d3})
	_, err = find("u1", 'a')
	checkErr(t, "FindRememberedDevice after DeleteUserRememberedDevices", err, storage.ErrNotFound)
	checkErr(t, "DeleteUserRememberedDevices of a user without any", s.DeleteUserRememberedDevices(ctx, "nope"), nil)

	// A forgotten browser can be remembered anew.
	fresh := newDevice("d4", "u1", 'a', now)
	got, err = s.RememberDevice(ctx, fresh)
	must(t, "RememberDevice after forgetting", err)
	check(t, "RememberDevice after forgetting", got, fresh)
}
