// Package auth is the access control of traced's web port: users and API
// tokens (Store, in DATA/auth.json), sessions, CSRF tokens, the login rate
// limit and the Require middleware (Manager). It renders nothing: the login,
// change-password and users pages call Login, Logout, ChangePassword and Users.
//
// Invariants:
//
//   - No handler wrapped by Require answers without a valid session or API
//     token. A session is valid while its user exists with the password it
//     logged in with, has been used within the idle timeout and is younger than
//     the maximum lifetime; a token is valid until revoked.
//   - The default password admin/admin (any password the policy refuses) is
//     never accepted for anything but changing it: a session started with it,
//     or for a user flagged must-change, reaches only the change-password page
//     and logout; every other page is redirected there and the API answers 403.
//   - Passwords are stored only as argon2id hashes (salted, parameters in the
//     hash), tokens only as SHA-256 hashes; the secret of a token exists only in
//     the answer to CreateToken. Secrets are compared in constant time, and an
//     unknown user name costs a login as much as a known one.
//   - auth.json (mode 0600) is replaced atomically: temporary file, fsync,
//     rename, fsync of the directory. A failed write leaves the file and the
//     store in memory as they were. A file that cannot be read stops the
//     daemon; it is never silently replaced by a fresh admin/admin.
//   - There is always at least one admin.
//   - A user's sessions end when its password changes (a new password stamp) or
//     it is removed; ChangePassword starts a new session for the user itself.
//   - A state-changing request (not GET, HEAD, OPTIONS, TRACE) with a session
//     cookie carries the session's CSRF token or is answered 403; requests with
//     a Bearer token need none. Login refuses cross-site browser posts.
//   - Login attempts are limited per client (IPv4 address, IPv6 /64) and per
//     user name; a refused attempt checks no password and answers Retry-After.
//     At most MaxHashing password hashes are computed at once.
//   - After a login the browser goes only to a local path (SafeNext).
//
// The clock and randomness come from the options, so that tests control them;
// the package has no mutable state outside a Store and a Manager.
package auth
