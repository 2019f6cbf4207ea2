// Package admin will hold the built-in admin pages: handlers over the same
// storage and policy services as the login journey, with org-unit-scoped
// roles checked on every request. Until they land, admins use the
// `gatehouse user` and `gatehouse client` commands.
package admin
