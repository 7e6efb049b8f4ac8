package httpui

import (
	"fmt"
	"html"
	"net/http"
)

// Web serves the pages. Until the search pages exist it serves a status page.
type Web struct {
	Status StatusFunc
}

// Handler returns the page routes.
func (wb *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := wb.Status()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>traced</title></head><body>
<h1>traced</h1><p data-testid="status">running since %s; %d packets stored, %d segments, %d bytes on disk.</p>
<p>Search with <code>tracectl --data %s search --call-id ID</code>.</p></body></html>`,
			html.EscapeString(s.Started.Format("2006-01-02 15:04:05 MST")), s.Stored, s.Segments, s.BytesOnDisk,
			html.EscapeString(s.DataDir))
	})
	return mux
}
