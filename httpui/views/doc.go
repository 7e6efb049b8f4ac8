// Package views holds traced's server-rendered pages as templ components. The
// components take plain view models defined here and know nothing of storage or
// search; every element a test needs to find carries a data-testid.
//
// The generated *_templ.go files are committed; `make generate` (templ generate)
// rewrites them and `make test` fails when they are stale.
package views
