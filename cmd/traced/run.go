package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"traced/correlate"
	"traced/httpui"
	"traced/httpui/auth"
	"traced/index"
	"traced/ingest"
	"traced/ingest/record"
	"traced/retention"
	"traced/search"
	"traced/segment"
	"traced/stats"
)

// Names inside the data directory.
const (
	segmentsDir = "segments"
	indexDir    = "index"
	statsDir    = "stats"
	lockFile    = "LOCK"
)

// run is the daemon: recover the segments, open the index and let it catch up in
// the background, bind the listeners, serve, and on ctx's end stop in order.
func run(ctx context.Context, cfg config) error {
	log := cfg.Logger
	started := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	seg, err := segment.Open(filepath.Join(cfg.DataDir, segmentsDir), segment.Options{
		FlushInterval: cfg.FlushInterval, Logger: log.With("part", "segment")})
	if err != nil {
		return fmt.Errorf("open segments: %w", err)
	}
	segClosed := false
	defer func() {
		if !segClosed {
			seg.Close()
		}
	}()
	idx, err := index.Open(filepath.Join(cfg.DataDir, indexDir), index.Options{Logger: log.With("part", "index")})
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	defer func() {
		start := time.Now()
		log.Info("closing the index (waits for its last batch to reach the disk)")
		if err := idx.Close(); err != nil {
			log.Warn("close index: it is rebuilt from the segments at the next start if needed", "err", err)
		}
		log.Info("index closed", "took", time.Since(start).Round(time.Millisecond).String())
	}()

	// Traffic statistics, counted from the segments like the index and kept
	// beside them per hour (package stats).
	st, err := stats.Open(filepath.Join(cfg.DataDir, statsDir), stats.Options{Logger: log.With("part", "stats")})
	if err != nil {
		return fmt.Errorf("open statistics: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Warn("close statistics: the hours not written are counted again at the next start", "err", err)
		}
	}()

	// Under systemd (notify.go) the listeners append through a probe that the
	// watchdog's liveness check reads; otherwise straight to seg.
	sd := newNotifier(log)
	icfg := ingest.Config{HEPAddrs: cfg.HEPAddrs, SIPAddrs: cfg.SIPAddrs, TLSAddrs: cfg.TLSAddrs, AuthKeys: cfg.AuthKeys,
		MaxTCPConns: cfg.MaxTCPConns, TCPIdle: cfg.TCPIdle, UDPReadBuffer: cfg.UDPReadBuffer, Store: sd.wrapStore(seg), Logger: log.With("part", "ingest")}
	if len(cfg.TLSAddrs) > 0 {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		icfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := ingest.New(icfg)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	enf := &retention.Enforcer{
		Policy:   retention.Policy{MaxAge: time.Duration(cfg.RetentionDays) * 24 * time.Hour, MinFreeFrac: cfg.MinFreeFrac, MinFree: cfg.MinFreeBytes},
		Segments: seg, Index: idx, Derived: []retention.Index{st}, Disk: retention.StatFS(cfg.DataDir), Logger: log.With("part", "retention"),
	}
	searcher := &search.Searcher{Index: idx, Blocks: seg}
	status := func() httpui.Status {
		return statusOf(cfg, started, seg, idx, srv, enf)
	}
	api := &httpui.API{Status: status, Searcher: searcher, Logger: log, Stats: st}

	ctl, err := listenControl(httpui.SocketPath(cfg.DataDir))
	if err != nil {
		return err
	}
	web, err := net.Listen("tcp", cfg.WebAddr)
	if err != nil {
		ctl.Close()
		return fmt.Errorf("listen web %s: %w", cfg.WebAddr, err)
	}
	users, err := auth.OpenStore(cfg.DataDir, auth.StoreOptions{})
	if err != nil {
		ctl.Close()
		web.Close()
		return fmt.Errorf("users: %w", err)
	}
	am := auth.New(users, auth.Options{Secure: cfg.WebTLSCert != ""})
	aliases, err := httpui.OpenAliases(cfg.DataDir)
	if err != nil {
		ctl.Close()
		web.Close()
		return err
	}
	if u, ok := users.User(auth.DefaultUser); ok && u.MustChange {
		log.Warn("web login is admin/admin until changed: the first login must set a new password", "web", web.Addr().String())
	}
	// The control socket is trusted (its mode is the access control): users and
	// tokens are managed there by tracectl, and the API answers without a token.
	ctlMux := http.NewServeMux()
	for _, p := range []string{"/api/v1/users", "/api/v1/users/", "/api/v1/tokens", "/api/v1/tokens/"} {
		ctlMux.Handle(p, am.ControlHandler())
	}
	// tracectl import: HEP built from a capture file, stored with its capture
	// times. Only here: the web listener has no route to it.
	ctlMux.Handle("/api/v1/import", httpui.ImportHandler(func(r io.Reader) (httpui.ImportResult, error) {
		res, err := srv.Import(r)
		if err == nil {
			log.Info("capture imported", "packets", res.Packets, "stored", res.Stored, "rejected", fmt.Sprint(res.Rejected))
		}
		return httpui.ImportResult{Packets: res.Packets, Stored: res.Stored, Ignored: res.Ignored, Rejected: res.Rejected}, err
	}))
	ctlMux.Handle("/", api.Handler())
	ctlSrv := &http.Server{Handler: ctlMux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	once := &correlate.Engine{Searcher: searcher, Options: correlate.Options{Headers: cfg.CorrelateHeaders}}
	every := &correlate.Engine{Searcher: searcher, Options: correlate.Options{Headers: cfg.CorrelateHeaders, AllCopies: true}}
	calls := func(ctx context.Context, callID string, allCopies bool) (*correlate.Call, error) {
		if allCopies {
			return every.Call(ctx, callID)
		}
		return once.Call(ctx, callID)
	}
	api.Calls = calls
	pages := &httpui.Web{Status: status, Searcher: searcher, Logger: log, Nav: httpui.NavOf, TimeZone: httpui.TimeZoneOf,
		Calls: calls, Aliases: aliases, Stats: st, RememberTimeZone: func(r *http.Request, tz string) {
			if err := am.SetTimeZone(r.Context(), tz); err != nil {
				log.Warn("remember time zone", "err", err)
			}
		}}
	ap := &httpui.AuthPages{Auth: am, Web: pages}
	webSrv := &http.Server{Handler: ap.Routes(pages.Handler(), api.Handler(), httpui.MetricsHandler(status, st)),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if cfg.WebTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.WebTLSCert, cfg.WebTLSKey)
		if err != nil {
			ctl.Close()
			web.Close()
			return fmt.Errorf("load --web-tls-cert/--web-tls-key: %w", err)
		}
		webSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		web = tls.NewListener(web, webSrv.TLSConfig)
	}

	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	wg.Add(6)
	go func() { defer wg.Done(); reportBacklog(bg, seg, idx, log) }()
	go func() { defer wg.Done(); _ = ctlSrv.Serve(ctl) }()
	go func() { defer wg.Done(); _ = webSrv.Serve(web) }()
	go func() {
		defer wg.Done()
		if err := idx.Follow(bg, seg, record.Extract); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("index follower stopped", "err", err)
		}
	}()
	go func() { defer wg.Done(); enf.Run(bg, cfg.RetentionEvery) }()
	go func() {
		defer wg.Done()
		if err := st.Follow(bg, seg); err != nil && !errors.Is(err, stats.ErrClosed) {
			log.Error("statistics follower stopped", "err", err)
		}
	}()
	ingestDone := make(chan struct{})
	go func() { defer close(ingestDone); _ = srv.Serve(ctx) }()

	log.Info("traced ready", "version", version, "data", cfg.DataDir, "hep_udp", fmt.Sprint(srv.UDPAddrs()),
		"hep_tcp", fmt.Sprint(srv.TCPAddrs()), "hep_tls", fmt.Sprint(srv.TLSAddrs()), "sip", fmt.Sprint(srv.SIPAddrs()), "web", web.Addr().String(),
		"retention_days", cfg.RetentionDays, "min_free", cfg.MinFreeText, "auth_keys", len(cfg.AuthKeys),
		"startup", time.Since(started).Round(time.Millisecond).String())
	// systemd: READY=1 now (segments recovered, every listener bound), then
	// WATCHDOG=1 and STATUS= from the liveness check until the stop.
	sd.ready(srv, seg)

	<-ctx.Done()
	log.Info("stopping")
	sd.stopping()
	<-ingestDone // listeners closed: nothing more is appended
	// Write failures while running (a full disk) were counted and logged when
	// they happened, and traced kept going. Flush also returns them: it is
	// called for the records it writes, and the exit status reports only the
	// failures of the stop itself.
	before := seg.Stats()
	_ = seg.Flush()
	err = seg.Close()
	segClosed = true
	if st := seg.Stats(); st.WriteErrors > before.WriteErrors && err == nil {
		err = fmt.Errorf("%d segment writes failed while stopping, %d records lost",
			st.WriteErrors-before.WriteErrors, st.LostRecords-before.LostRecords)
	}
	if err != nil {
		log.Error("close segments", "err", err)
	}
	stopBG()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ctlSrv.Shutdown(sctx)
	_ = webSrv.Shutdown(sctx)
	wg.Wait()
	segSt := seg.Stats()
	log.Info("stopped", "stored", segSt.Stored, "lost", segSt.LostRecords)
	return err
}

// lockDir takes an exclusive lock on the data directory, so two daemons never
// write the same segments.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another traced: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// listenControl binds the control socket. Its mode (0660) is the access control:
// the traced user and its group.
func listenControl(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket mode: %w", err)
	}
	return l, nil
}

func statusOf(cfg config, started time.Time, seg *segment.Dir, idx *index.Index, srv *ingest.Server, enf *retention.Enforcer) httpui.Status {
	is := srv.Stats()
	ss := seg.Stats()
	bl := idx.Backlog()
	s := httpui.Status{
		Version: version, Started: started, DataDir: cfg.DataDir,
		Received: is.Received, ReceivedBytes: is.Bytes, KernelDrops: srv.KernelDrops(), Accepted: is.Accepted, Ignored: is.Ignored, Rejected: is.Rejected, RejectedBy: is.RejectedBy, TCPOpen: is.TCPOpen,
		Stored: uint64(ss.Stored), LostRecords: uint64(ss.LostRecords), WriteErrors: uint64(ss.WriteErrors), Corruptions: uint64(ss.Corruptions),
		RecoveredCuts: len(ss.Recovered), BytesOnDisk: ss.BytesOnDisk,
		IndexBacklog:  httpui.Backlog{Blocks: bl.Blocks, Records: bl.Records, Bytes: bl.Bytes},
		RetentionDays: cfg.RetentionDays, MinFree: cfg.MinFreeText,
	}
	for _, l := range ss.Recovered {
		s.RecoveredBytes += l.Bytes
	}
	if !bl.Oldest.IsZero() {
		s.IndexBacklog.Behind = time.Since(bl.Oldest).Round(time.Millisecond).String()
	}
	hours := seg.Hours()
	s.Segments = len(hours)
	s.IndexBacklog.Blocks, s.IndexBacklog.Records = indexBacklog(hours, idx)
	for _, h := range hours {
		s.Records += h.Records
		if h.MinTime != 0 && (s.Oldest == nil || record.TimeOf(h.MinTime).Before(*s.Oldest)) {
			t := record.TimeOf(h.MinTime)
			s.Oldest = &t
		}
		if h.MaxTime != 0 && (s.Newest == nil || record.TimeOf(h.MaxTime).After(*s.Newest)) {
			t := record.TimeOf(h.MaxTime)
			s.Newest = &t
		}
	}
	s.IndexBytes = dirSize(filepath.Join(cfg.DataDir, indexDir))
	if free, total, err := retention.StatFS(cfg.DataDir)(); err == nil {
		s.DiskFree, s.DiskTotal = free, total
	}
	s.Deleted, s.Freed = enf.Counts()
	return s
}

// indexBacklog is the exact backlog: what the segments hold minus what the
// index has made searchable, hour by hour.
func indexBacklog(hours []segment.HourInfo, idx *index.Index) (blocks int, records int64) {
	for _, h := range hours {
		b, r := idx.Indexed(h.Hour)
		if d := int64(h.Blocks) - b; d > 0 {
			blocks += int(d)
			records += max(h.Records-r, 0)
		}
	}
	return blocks, records
}

// reportBacklog logs how far behind the index is while it is behind by more
// than a few blocks, and once when it has caught up.
func reportBacklog(ctx context.Context, seg *segment.Dir, idx *index.Index, log *slog.Logger) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	behind := false
	for {
		blocks, records := indexBacklog(seg.Hours(), idx)
		switch {
		case blocks > 8:
			behind = true
			args := []any{"blocks", blocks, "records", records}
			if bl := idx.Backlog(); !bl.Oldest.IsZero() {
				args = append(args, "oldest", bl.Oldest.Format(time.RFC3339))
			}
			log.Warn("index behind the segments", args...)
		case behind && blocks == 0:
			behind = false
			log.Info("index caught up")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
