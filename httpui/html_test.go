package httpui

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the HTML golden files in testdata/")

// doc is a parsed page with lookups by data-testid.
type doc struct{ root *html.Node }

func parseHTML(t *testing.T, b []byte) doc {
	t.Helper()
	n, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return doc{n}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// all returns the elements whose data-testid is id.
func (d doc) all(id string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && attr(n, "data-testid") == id {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(d.root)
	return out
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// golden compares a page with testdata/name.golden.html after normalising
// whitespace between tags, and rewrites it with -update. On a mismatch the page
// is written to testdata/name.actual.html for a diff.
func golden(t *testing.T, name string, page []byte) {
	t.Helper()
	norm := func(b []byte) []byte {
		s := regexp.MustCompile(`>\s+<`).ReplaceAllString(string(b), "><")
		s = regexp.MustCompile(`\s+`).ReplaceAllString(s, " ")
		return []byte(strings.ReplaceAll(s, "><", ">\n<"))
	}
	path := filepath.Join("testdata", name+".golden.html")
	got := norm(page)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./httpui -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		actual := filepath.Join("testdata", name+".actual.html")
		_ = os.WriteFile(actual, got, 0o644)
		t.Errorf("page %s differs from %s; see %s", name, path, actual)
	}
}

type htmlNode = html.Node

// inputs returns the input elements named name.
func (d doc) inputs(name string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") == name {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(d.root)
	return out
}
