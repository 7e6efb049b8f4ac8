// Package index is traced's side index: per-hour bleve shards whose documents
// are segment blocks, and the follower that keeps them caught up with the
// segments.
package index
