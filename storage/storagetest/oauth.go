package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func testClients(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	web := storage.Client{
		ID:                     "web",
		Name:                   "Rota",
		SecretHash:             []byte{1, 2, 3},
		RedirectURIs:           []string{"https://rota.example.org/callback"},
		PostLogoutRedirectURIs: []string{"https://rota.example.org/"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"reports:read"},
		MinimumACR:             "mfa",
		ExceptionsAllowed:      true,
		AccessTokenLifetime:    5 * time.Minute,
		IDTokenLifetime:        time.Hour,
		RefreshTokenLifetime:   24 * time.Hour,
		AccessTokenFormat:      storage.AccessTokenJWT,
		TokensNotBefore:        now.Add(-time.Minute),
		CreatedAt:              now,
	}
	spa := storage.Client{ID: "spa", Name: "Portal", RedirectURIs: []string{"https://portal.example.org/cb"}, CreatedAt: now,
		Forward: &storage.ForwardAuth{Host: "wiki.example.org:8443", PathPrefix: "/wiki/", OrgUnitIDs: []string{"ward"}, AppPasswords: true}}
	must(t, "create web", s.CreateClient(ctx, web))
	must(t, "create spa", s.CreateClient(ctx, spa))

	got, err := s.GetClient(ctx, "web")
	must(t, "GetClient", err)
	check(t, "GetClient", got, web)

	checkCommonErrors(t, entity[storage.Client]{s.CreateClient, s.GetClient, s.UpdateClient, s.DeleteClient}, "web", web)

	web.RedirectURIs = append(web.RedirectURIs, "https://rota.example.org/callback2")
	web.AccessTokenFormat, web.TokensNotBefore = storage.AccessTokenOpaque, now
	got, err = s.UpdateClient(ctx, "web", func(c storage.Client) (storage.Client, error) {
		c.RedirectURIs = append(c.RedirectURIs, "https://rota.example.org/callback2")
		c.AccessTokenFormat, c.TokensNotBefore = storage.AccessTokenOpaque, now
		return c, nil
	})
	must(t, "UpdateClient", err)
	check(t, "UpdateClient result", got, web)

	list, err := s.ListClients(ctx)
	must(t, "ListClients", err)
	check(t, "ListClients", list, []storage.Client{web, spa}, sortClients)

	must(t, "DeleteClient", s.DeleteClient(ctx, "spa"))
	_, err = s.GetClient(ctx, "spa")
	checkErr(t, "get deleted client", err, storage.ErrNotFound)
}

func newAuthRequest(id string, now time.Time) storage.AuthRequest {
	within := 10 * time.Minute
	return storage.AuthRequest{
		ID:                  id,
		ClientID:            "web",
		RedirectURI:         "https://rota.example.org/callback",
		State:               "state",
		Nonce:               "nonce",
		Scopes:              []string{"openid", "email"},
		ResponseType:        "code",
		ResponseMode:        "query",
		CodeChallenge:       "challenge",
		CodeChallengeMethod: "S256",
		LoginHint:           "alice",
		HintUserID:          "u1",
		UILocales:           []string{"en-GB"},
		Requirement: storage.Requirement{ACR: "mfa", ACRBy: "request", MFAWithin: 10 * time.Minute, PasswordWithin: &within,
			Prompt: []string{"login"}, ExceptionsAnswer: true, RememberedAnswers: true},
		BrowserHash: []byte{9, 8, 7},
		CreatedAt:   now,
		ExpiresAt:   now.Add(30 * time.Minute),
		Step:        "password",
	}
}

func testAuthRequests(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	req := newAuthRequest("ar1", now)
	must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, req))

	got, err := s.GetAuthRequest(ctx, "ar1")
	must(t, "GetAuthRequest", err)
	check(t, "GetAuthRequest", got, req)

	checkCommonErrors(t, entity[storage.AuthRequest]{s.CreateAuthRequest, s.GetAuthRequest, s.UpdateAuthRequest, s.DeleteAuthRequest}, "ar1", req)

	done := func(a storage.AuthRequest) storage.AuthRequest {
		a.Step, a.UserID, a.SessionID = "done", "u1", "s1"
		a.AuthTime, a.AMR, a.ACR = now, []string{"pwd", "otp", "mfa"}, "mfa"
		a.Exception = &storage.ExceptionClaim{ID: "ex1", Kind: storage.ExceptionShortTerm, ExpiresAt: now.Add(time.Hour)}
		a.RememberedAt = now.Add(-time.Hour)
		return a
	}
	got, err = s.UpdateAuthRequest(ctx, "ar1", func(a storage.AuthRequest) (storage.AuthRequest, error) { return done(a), nil })
	must(t, "UpdateAuthRequest", err)
	check(t, "UpdateAuthRequest result", got, done(req))
	got, err = s.GetAuthRequest(ctx, "ar1")
	must(t, "GetAuthRequest", err)
	check(t, "auth request after update", got, done(req))

	must(t, "DeleteAuthRequest", s.DeleteAuthRequest(ctx, "ar1"))
	_, err = s.GetAuthRequest(ctx, "ar1")
	checkErr(t, "get deleted auth request", err, storage.ErrNotFound)
}

func testAuthCodes(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	for _, id := range []string{"ar0", "ar1", "ar2"} {
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest(id, now)))
	}
	code := storage.AuthCode{Hash: "code1", AuthRequestID: "ar1", ExpiresAt: now.Add(time.Minute)}
	must(t, "SaveAuthCode", s.SaveAuthCode(ctx, code))
	must(t, "SaveAuthCode expired", s.SaveAuthCode(ctx, storage.AuthCode{Hash: "old", AuthRequestID: "ar0", ExpiresAt: now.Add(-time.Second)}))
	ar, err := s.GetAuthRequest(ctx, "ar1")
	must(t, "GetAuthRequest", err)
	check(t, "auth request answered with a code: CodeIssued", ar.CodeIssued, true)
	// One code a request; a code for a request that is gone, none.
	checkErr(t, "a second code for one request", s.SaveAuthCode(ctx, storage.AuthCode{Hash: "code2", AuthRequestID: "ar1", ExpiresAt: now.Add(time.Minute)}), storage.ErrConflict)
	checkErr(t, "a code for no request", s.SaveAuthCode(ctx, storage.AuthCode{Hash: "code3", AuthRequestID: "nope", ExpiresAt: now.Add(time.Minute)}), storage.ErrNotFound)
	checkErr(t, "save a taken hash", s.SaveAuthCode(ctx, storage.AuthCode{Hash: "code1", AuthRequestID: "ar2", ExpiresAt: now.Add(time.Minute)}), storage.ErrAlreadyExists)
	for _, hash := range []string{"code2", "code3"} {
		_, err := s.GetAuthCode(ctx, hash)
		checkErr(t, "a refused code is not stored", err, storage.ErrNotFound)
	}
	ar, err = s.GetAuthRequest(ctx, "ar2")
	must(t, "GetAuthRequest", err)
	check(t, "a request whose code was refused: CodeIssued", ar.CodeIssued, false)

	redeemed := code
	redeemed.RedeemedAt = now
	at, rt := newAccessToken("code-at", "u1", "ar1", now), newRefreshToken("code-rt", "u1", "ar1", now)
	got, err := s.GetAuthCode(ctx, "code1")
	must(t, "GetAuthCode", err)
	check(t, "GetAuthCode before redemption", got, code)

	// A failed redemption stores nothing and leaves the code usable.
	_, err = s.RedeemAuthCode(ctx, "old", now, newAccessToken("old-at", "u1", "ar0", now), nil)
	checkErr(t, "redeem expired", err, storage.ErrNotFound)
	_, err = s.RedeemAuthCode(ctx, "nope", now, newAccessToken("nope-at", "u1", "x", now), nil)
	checkErr(t, "redeem unknown", err, storage.ErrNotFound)
	must(t, "CreateAccessToken", s.CreateAccessToken(ctx, newAccessToken("taken", "u1", "", now)))
	_, err = s.RedeemAuthCode(ctx, "code1", now, newAccessToken("taken", "u1", "ar1", now), nil)
	checkErr(t, "redeem with a taken token id", err, storage.ErrAlreadyExists)
	checkTokens(t, s, "after failed redemptions", tokenState{"old-at": false, "nope-at": false}, nil)
	got, err = s.GetAuthCode(ctx, "code1")
	must(t, "GetAuthCode", err)
	check(t, "code after failed redemptions", got, code)

	got, err = s.RedeemAuthCode(ctx, "code1", now, at, &rt)
	must(t, "first redemption", err)
	check(t, "first redemption", got, redeemed)
	_, err = s.GetAuthRequest(ctx, "ar1")
	checkErr(t, "the redeemed code's auth request", err, storage.ErrNotFound)
	checkTokens(t, s, "after redemption", tokenState{"code-at": true}, tokenState{"code-rt": true})

	// The replay reports the first redemption and revokes what it produced.
	got, err = s.RedeemAuthCode(ctx, "code1", now.Add(time.Second), newAccessToken("replay-at", "u1", "ar1", now), nil)
	checkErr(t, "second redemption", err, storage.ErrCodeRedeemed)
	check(t, "second redemption", got, redeemed)
	checkTokens(t, s, "after replay", tokenState{"code-at": false, "replay-at": false, "taken": true}, tokenState{"code-rt": false})
	got, err = s.GetAuthCode(ctx, "code1")
	must(t, "GetAuthCode after redemption", err)
	check(t, "GetAuthCode after redemption", got, redeemed)
}

func newAccessToken(id, subject, family string, now time.Time) storage.AccessToken {
	return storage.AccessToken{
		ID:        id,
		ClientID:  "web",
		Subject:   subject,
		Audience:  []string{"web"},
		Scopes:    []string{"openid"},
		AuthTime:  now,
		AMR:       []string{"pwd", "hwk"},
		ACR:       "phr",
		FamilyID:  family,
		Exception: &storage.ExceptionClaim{ID: "ex1", Kind: storage.ExceptionShortTerm, ExpiresAt: now.Add(time.Hour)},
		ExpiresAt: now.Add(5 * time.Minute),
		CreatedAt: now,
	}
}

func newRefreshToken(hash, user, family string, now time.Time) storage.RefreshToken {
	return storage.RefreshToken{
		Hash:     hash,
		FamilyID: family,
		ClientID: "web",
		UserID:   user,
		Audience: []string{"web"},
		Scopes:   []string{"openid", "offline_access"},
		AuthTime: now,
		AMR:      []string{"pwd", "otp", "mfa"},
		ACR:      "mfa",
		Waiver: storage.Waiver{Exception: &storage.ExceptionClaim{ID: "ex2", Kind: storage.ExceptionLongTerm, ExpiresAt: now.Add(48 * time.Hour)},
			RememberedAt: now.Add(-time.Hour)},
		ExpiresAt: now.Add(24 * time.Hour),
		CreatedAt: now,
	}
}

func testAccessTokens(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	at := newAccessToken("at1", "u1", "", testNow())
	must(t, "CreateAccessToken", s.CreateAccessToken(ctx, at))
	got, err := s.GetAccessToken(ctx, "at1")
	must(t, "GetAccessToken", err)
	check(t, "GetAccessToken", got, at)

	checkErr(t, "create with a taken id", s.CreateAccessToken(ctx, at), storage.ErrAlreadyExists)

	must(t, "DeleteAccessToken", s.DeleteAccessToken(ctx, "at1"))
	runErrCases(t, []errCase{
		{"get deleted", func(ctx context.Context) error { _, err := s.GetAccessToken(ctx, "at1"); return err }, storage.ErrNotFound},
		{"delete deleted", func(ctx context.Context) error { return s.DeleteAccessToken(ctx, "at1") }, storage.ErrNotFound},
	})
}

// tokenState maps each token id or hash to whether it should be stored.
type tokenState map[string]bool

func checkTokens(t *testing.T, s storage.Storage, when string, access, refresh tokenState) {
	t.Helper()
	for id, want := range access {
		_, err := s.GetAccessToken(t.Context(), id)
		if got := err == nil; got != want {
			t.Errorf("%s: access token %s stored = %v (err %v), want %v", when, id, got, err, want)
		}
	}
	for hash, want := range refresh {
		_, err := s.GetRefreshToken(t.Context(), hash)
		if got := err == nil; got != want {
			t.Errorf("%s: refresh token %s stored = %v (err %v), want %v", when, hash, got, err, want)
		}
	}
}

func testRefreshTokens(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	// Family f1 and f2 belong to u1, f3 to u2.
	for _, f := range []struct{ rt, at, user, family string }{
		{"rt1", "at1", "u1", "f1"},
		{"rt-b", "at-b", "u1", "f2"},
		{"rt-c", "at-c", "u2", "f3"},
	} {
		must(t, "CreateRefreshToken "+f.rt, s.CreateRefreshToken(ctx, newRefreshToken(f.rt, f.user, f.family, now), newAccessToken(f.at, f.user, f.family, now)))
	}
	must(t, "create u2's access token without a family", s.CreateAccessToken(ctx, newAccessToken("at-u2", "u2", "", now)))
	must(t, "create u3's access token", s.CreateAccessToken(ctx, newAccessToken("at-u3", "u3", "", now)))
	expired := newRefreshToken("rt-expired", "u1", "f4", now.Add(-48*time.Hour))
	must(t, "create expired refresh token", s.CreateRefreshToken(ctx, expired, newAccessToken("at-expired", "u1", "f4", now.Add(-48*time.Hour))))

	got, err := s.GetRefreshToken(ctx, "rt1")
	must(t, "GetRefreshToken", err)
	check(t, "GetRefreshToken", got, newRefreshToken("rt1", "u1", "f1", now))
	gotAT, err := s.GetAccessToken(ctx, "at1")
	must(t, "GetAccessToken", err)
	check(t, "access token from CreateRefreshToken", gotAT, newAccessToken("at1", "u1", "f1", now))

	// Both halves of CreateRefreshToken are stored, or neither.
	err = s.CreateRefreshToken(ctx, newRefreshToken("rt1", "u1", "f9", now), newAccessToken("at9", "u1", "f9", now))
	checkErr(t, "CreateRefreshToken with a taken hash", err, storage.ErrAlreadyExists)
	checkTokens(t, s, "after refused CreateRefreshToken", tokenState{"at9": false}, nil)

	later := now.Add(time.Minute)
	rt2, at2 := newRefreshToken("rt2", "u1", "f1", later), newAccessToken("at2", "u1", "f1", later)
	must(t, "rotate rt1", s.RotateRefreshToken(ctx, "rt1", later, rt2, at2))
	got, err = s.GetRefreshToken(ctx, "rt1")
	must(t, "GetRefreshToken rt1", err)
	want := newRefreshToken("rt1", "u1", "f1", now)
	want.RotatedAt = later
	check(t, "rotated token", got, want)
	got, err = s.GetRefreshToken(ctx, "rt2")
	must(t, "GetRefreshToken rt2", err)
	check(t, "next token", got, rt2)
	checkTokens(t, s, "after rotation", tokenState{"at1": true, "at2": true}, nil)

	// A refused rotation changes nothing.
	rotations := []struct {
		name    string
		old     string
		next    storage.RefreshToken
		at      storage.AccessToken
		wantErr error
	}{
		{"unknown token", "nope", newRefreshToken("rt9", "u1", "f1", later), newAccessToken("at9", "u1", "f1", later), storage.ErrNotFound},
		{"expired token", "rt-expired", newRefreshToken("rt9", "u1", "f4", later), newAccessToken("at9", "u1", "f4", later), storage.ErrNotFound},
		{"taken next hash", "rt2", newRefreshToken("rt-b", "u1", "f1", later), newAccessToken("at9", "u1", "f1", later), storage.ErrAlreadyExists},
		{"taken access token id", "rt2", newRefreshToken("rt9", "u1", "f1", later), newAccessToken("at-b", "u1", "f1", later), storage.ErrAlreadyExists},
	}
	for _, tt := range rotations {
		checkErr(t, "rotate "+tt.name, s.RotateRefreshToken(ctx, tt.old, later, tt.next, tt.at), tt.wantErr)
		checkTokens(t, s, "after rotating "+tt.name, tokenState{"at9": false}, tokenState{"rt9": false})
		got, err := s.GetRefreshToken(ctx, "rt2")
		must(t, "GetRefreshToken rt2", err)
		check(t, "rt2 after rotating "+tt.name, got, rt2)
	}

	// Replaying rt1 is theft: the whole family goes, the others stay.
	err = s.RotateRefreshToken(ctx, "rt1", later.Add(time.Minute), newRefreshToken("rt3", "u1", "f1", later), newAccessToken("at3", "u1", "f1", later))
	checkErr(t, "rotate a rotated token", err, storage.ErrTokenRotated)
	checkTokens(t, s, "after replay",
		tokenState{"at1": false, "at2": false, "at3": false, "at-b": true, "at-c": true},
		tokenState{"rt1": false, "rt2": false, "rt3": false, "rt-b": true, "rt-c": true})

	must(t, "RevokeFamily f2", s.RevokeFamily(ctx, "f2"))
	checkTokens(t, s, "after RevokeFamily",
		tokenState{"at-b": false, "at-c": true, "at-u2": true},
		tokenState{"rt-b": false, "rt-c": true})
	checkErr(t, "RevokeFamily of an unknown family", s.RevokeFamily(ctx, "nope"), nil)

	must(t, "RevokeUserTokens u2", s.RevokeUserTokens(ctx, "u2"))
	checkTokens(t, s, "after RevokeUserTokens",
		tokenState{"at-c": false, "at-u2": false, "at-u3": true, "at-expired": true},
		tokenState{"rt-c": false, "rt-expired": true})
	checkErr(t, "RevokeUserTokens of a user without tokens", s.RevokeUserTokens(ctx, "nope"), nil)
}

func newSession(id, user string, now time.Time) storage.Session {
	return storage.Session{
		ID:         id,
		UserID:     user,
		AuthTime:   now,
		AMR:        []string{"pwd", "otp", "mfa"},
		ACR:        "mfa",
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(12 * time.Hour),
		IP:         "192.0.2.1",
		UserAgent:  "Firefox",
	}
}

func testSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	s1, s2, s3 := newSession("s1", "u1", now), newSession("s2", "u1", now), newSession("s3", "u2", now)
	for _, sess := range []storage.Session{s1, s2, s3} {
		must(t, "CreateSession "+sess.ID, s.CreateSession(ctx, sess))
	}
	got, err := s.GetSession(ctx, "s1")
	must(t, "GetSession", err)
	check(t, "GetSession", got, s1)

	checkCommonErrors(t, entity[storage.Session]{s.CreateSession, s.GetSession, s.UpdateSession, s.DeleteSession}, "s1", s1)

	s1.LastSeenAt = now.Add(time.Minute)
	got, err = s.UpdateSession(ctx, "s1", func(s storage.Session) (storage.Session, error) {
		s.LastSeenAt = now.Add(time.Minute)
		return s, nil
	})
	must(t, "UpdateSession", err)
	check(t, "UpdateSession result", got, s1)

	listOf := func(user string) []storage.Session {
		list, err := s.ListUserSessions(ctx, user)
		must(t, "ListUserSessions "+user, err)
		return list
	}
	check(t, "u1's sessions", listOf("u1"), []storage.Session{s1, s2}, sortSessions)
	check(t, "u2's sessions", listOf("u2"), []storage.Session{s3})
	check(t, "sessions of a user without any", listOf("nope"), nil)

	must(t, "DeleteSession", s.DeleteSession(ctx, "s1"))
	check(t, "u1's sessions after DeleteSession", listOf("u1"), []storage.Session{s2})
	must(t, "DeleteUserSessions", s.DeleteUserSessions(ctx, "u1"))
	check(t, "u1's sessions after DeleteUserSessions", listOf("u1"), nil)
	check(t, "u2's sessions after DeleteUserSessions u1", listOf("u2"), []storage.Session{s3})
	_, err = s.GetSession(ctx, "s2")
	checkErr(t, "get a deleted user's session", err, storage.ErrNotFound)
}

// testProtectedApps: a protected app is found by host, in any case, and
// the longest path prefix; two cannot share a host and prefix, by create
// or update; a deleted one is not found.
func testProtectedApps(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	app := func(id, host, prefix string) storage.Client {
		return storage.Client{ID: id, Name: id, CreatedAt: now, Forward: &storage.ForwardAuth{Host: host, PathPrefix: prefix}}
	}
	for _, c := range []storage.Client{app("site", "wiki.example.org", ""), app("wiki", "wiki.example.org", "/wiki/"),
		app("deep", "wiki.example.org", "/wiki/admin/"), app("port", "wiki.example.org:8443", ""), {ID: "rp", Name: "rp", CreatedAt: now}} {
		must(t, "CreateClient "+c.ID, s.CreateClient(ctx, c))
	}
	for _, c := range []struct{ host, path, want string }{
		{"wiki.example.org", "/", "site"},
		{"WIKI.example.org", "/wiki/page", "wiki"},
		{"wiki.example.org", "/wiki/admin/users", "deep"},
		{"wiki.example.org", "/wikis", "site"},
		{"wiki.example.org:8443", "/wiki/", "port"},
		{"other.example.org", "/", ""},
		{"wiki.example.org:9", "/", ""},
	} {
		got, err := s.FindProtectedApp(ctx, c.host, c.path)
		if c.want == "" {
			checkErr(t, "FindProtectedApp "+c.host+c.path, err, storage.ErrNotFound)
			continue
		}
		must(t, "FindProtectedApp "+c.host+c.path, err)
		check(t, "the app at "+c.host+c.path, got.ID, c.want)
	}
	checkErr(t, "a second app at a host and prefix", s.CreateClient(ctx, app("again", "Wiki.Example.org", "/wiki/")), storage.ErrAlreadyExists)
	_, err := s.UpdateClient(ctx, "port", func(c storage.Client) (storage.Client, error) { c.Forward.Host = "wiki.example.org"; return c, nil })
	checkErr(t, "moving an app onto another's host and prefix", err, storage.ErrAlreadyExists)
	must(t, "DeleteClient", s.DeleteClient(ctx, "wiki"))
	got, err := s.FindProtectedApp(ctx, "wiki.example.org", "/wiki/page")
	must(t, "FindProtectedApp after a delete", err)
	check(t, "the app at /wiki/page once wiki is gone", got.ID, "site")
	must(t, "an app where a deleted one was", s.CreateClient(ctx, app("again", "wiki.example.org", "/wiki/")))
}
