package httpui

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"

	"github.com/a-h/templ"
)

//go:embed static
var staticFiles embed.FS

// StaticHandler serves the embedded stylesheet and scripts under /static/. No
// page loads anything from another host.
func StaticHandler() http.Handler {
	sub, _ := fs.Sub(staticFiles, "static")
	fsrv := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// render writes a component as a whole page, so a failure mid-render becomes a
// clean 500 rather than half a page.
func (wb *Web) render(w http.ResponseWriter, r *http.Request, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		if wb.Logger != nil {
			wb.log().Error("render page", "path", r.URL.Path, "err", err)
		}
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	_, _ = w.Write(buf.Bytes())
}
