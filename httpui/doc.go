// Package httpui owns traced's HTTP side: the JSON API under /api/v1/ (served on
// the control socket for tracectl, where the socket's file permissions are the
// access control) and the web pages.
//
// It defines the small interfaces it consumes (Status, Searcher), so it depends on
// what it reads, never on the listeners.
package httpui
