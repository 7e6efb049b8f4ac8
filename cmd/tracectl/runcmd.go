package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

func runCmd() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "set the data directory, retention and ports in /etc/default/traced, check them, and (re)start traced",
		ArgsUsage: " ",
		Description: `The settings PortSIP's trace server takes, for traced.service:

   tracectl run -p /var/lib/traced -k 7 -l 9080 -z 9061

Each option given replaces that setting in /etc/default/traced (TRACED_DATA,
TRACED_RETENTION_DAYS, TRACED_WEB_PORT, TRACED_HEP_PORT); comments and every
other setting stay as they are. Before anything is written, the ports are
checked to be free (or held by the running traced) and the directory to be
writable by the traced user; a directory outside /var/lib/traced gets a
drop-in allowing traced to write there. Then traced.service is enabled and
restarted, and tracectl waits until traced is ready.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Aliases: []string{"p"}, Usage: "data directory (segments, index, users)"},
			&cli.IntFlag{Name: "retention-days", Aliases: []string{"k"}, Usage: "days of traces to keep"},
			&cli.IntFlag{Name: "web-port", Aliases: []string{"l"}, Usage: "port of the web pages and API (TCP)"},
			&cli.IntFlag{Name: "hep-port", Aliases: []string{"z"}, Usage: "HEP port, UDP and TCP, beside 9060 (replaces the second HEP address's port)"},
			&cli.BoolFlag{Name: "no-start", Usage: "write and check the settings, but do not (re)start traced"},
		},
		Action: runAction,
	}
}

// runPlan is what run is asked to set, and what it checks.
type runPlan struct {
	dir      string
	days     int
	web, hep int
}

func runAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("run takes options, not %q (see tracectl run --help)", c.Args().First())
	}
	path := defaultsPath()
	set, mode, err := readSettings(path)
	if err != nil {
		return err
	}
	p := runPlan{dir: c.String("data"), days: c.Int("retention-days"), web: c.Int("web-port"), hep: c.Int("hep-port")}
	if err := p.validate(); err != nil {
		return err
	}

	var m *manager
	active := false
	if !c.Bool("no-start") && systemdRunning() {
		if m, err = connect(c.Context); err != nil {
			return err
		}
		defer m.Close()
		s, err := m.installed(c.Context)
		if err != nil {
			return err
		}
		active = s.Active == "active" || s.Active == "activating" || s.Active == "reloading"
	}
	if err := p.check(set, active); err != nil {
		return err
	}

	for _, kv := range p.assignments() {
		set.Set(kv[0], kv[1])
	}
	if err := writeSettings(path, set, mode); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "settings written to %s\n", path)
	if p.dir != "" {
		if err := writeDataDropIn(p.dir); err != nil {
			return err
		}
	}

	if c.Bool("no-start") {
		return nil
	}
	if m == nil {
		return exitf(exitNoSystemd, "systemd is not running on this machine (PID 1 is %q), so traced was not started: run traced yourself (traced --help)", initName())
	}
	ctx, cancel := context.WithTimeout(c.Context, jobTimeout)
	defer cancel()
	if err := m.reload(ctx); err != nil { // the generator reads the ports; the drop-in may be new
		return err
	}
	if err := m.enable(ctx); err != nil {
		return err
	}
	if err := m.job(ctx, "restart"); err != nil {
		return err
	}
	if err := reportState(c, m, true); err != nil {
		return err
	}
	web, hep := effectivePorts(set)
	host, _ := os.Hostname()
	fmt.Fprintf(c.App.Writer, "web pages at http://%s:%d/ ; HEP on UDP and TCP ports %s\n", host, web, joinPorts(hep))
	return nil
}

func (p runPlan) validate() error {
	if p.dir != "" && !filepath.IsAbs(p.dir) {
		return fmt.Errorf("-p %q: the data directory must be an absolute path", p.dir)
	}
	if p.dir != "" {
		for _, bad := range []string{"/home", "/root", "/run/user", "/tmp", "/var/tmp", "/dev/shm"} {
			if d := filepath.Clean(p.dir); d == bad || strings.HasPrefix(d, bad+"/") {
				return fmt.Errorf("-p %s: traced.service cannot keep data under %s (its ProtectHome=, PrivateTmp= and PrivateDevices= hide it)", p.dir, bad)
			}
		}
	}
	if p.days < 0 || p.days > 3650 {
		return fmt.Errorf("-k %d: retention must be 1 to 3650 days", p.days)
	}
	for _, pt := range []struct {
		flag string
		v    int
	}{{"-l", p.web}, {"-z", p.hep}} {
		if pt.v < 0 || pt.v > 65535 {
			return fmt.Errorf("%s %d: not a port", pt.flag, pt.v)
		}
	}
	if p.web != 0 && p.web == p.hep {
		return fmt.Errorf("-l and -z are both %d: the web and HEP ports must differ", p.web)
	}
	return nil
}

func (p runPlan) assignments() [][2]string {
	var kv [][2]string
	if p.dir != "" {
		kv = append(kv, [2]string{"TRACED_DATA", filepath.Clean(p.dir)})
	}
	if p.days > 0 {
		kv = append(kv, [2]string{"TRACED_RETENTION_DAYS", strconv.Itoa(p.days)})
	}
	if p.web > 0 {
		kv = append(kv, [2]string{"TRACED_WEB_PORT", strconv.Itoa(p.web)})
	}
	if p.hep > 0 {
		kv = append(kv, [2]string{"TRACED_HEP_PORT", strconv.Itoa(p.hep)})
	}
	return kv
}

// effectivePorts are the web port and the HEP ports the settings give traced,
// by its rules: a WEB_PORT or HEP_PORT replaces the port of the web address or
// of the second HEP address.
func effectivePorts(s *settings) (web int, hep []int) {
	web = 9080
	if v, ok := s.Get("TRACED_WEB_ADDR"); ok {
		if p := portOf(v); p > 0 {
			web = p
		}
	}
	if v, ok := s.Get("TRACED_WEB_PORT"); ok {
		if p, err := strconv.Atoi(v); err == nil && p > 0 {
			web = p
		}
	}
	hep = []int{9060, 9061}
	if v, ok := s.Get("TRACED_HEP_ADDR"); ok && v != "" {
		hep = hep[:0]
		for _, a := range strings.Split(v, ",") {
			if p := portOf(strings.TrimSpace(a)); p > 0 {
				hep = append(hep, p)
			}
		}
	}
	if v, ok := s.Get("TRACED_HEP_PORT"); ok {
		if p, err := strconv.Atoi(v); err == nil && p > 0 {
			if len(hep) >= 2 {
				hep[1] = p
			} else {
				hep = append(hep, p)
			}
		}
	}
	return web, hep
}

func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		return 0
	}
	return p
}

func joinPorts(ps []int) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

// check verifies the plan before anything is written: each port asked for is
// free, or is one the running traced holds now (a restart frees it), and the
// data directory is there (or is created) and writable by the traced user.
func (p runPlan) check(cur *settings, active bool) error {
	held := map[int]bool{}
	if active {
		web, hep := effectivePorts(cur)
		held[web] = true
		for _, h := range hep {
			held[h] = true
		}
	}
	_, hep := effectivePorts(cur)
	if p.web > 0 {
		for i, h := range hep {
			if h == p.web && !(i == 1 && p.hep > 0) {
				return fmt.Errorf("-l %d: traced receives HEP on that port", p.web)
			}
		}
		if !held[p.web] {
			if err := portFree("tcp", p.web); err != nil {
				return err
			}
		}
	}
	if p.hep > 0 && !held[p.hep] {
		for _, proto := range []string{"tcp", "udp"} {
			if err := portFree(proto, p.hep); err != nil {
				return err
			}
		}
	}
	if p.dir != "" {
		if err := prepareDataDir(p.dir); err != nil {
			return err
		}
	}
	return nil
}

func portFree(proto string, port int) error {
	addr := ":" + strconv.Itoa(port)
	var err error
	if proto == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s port %d is in use by another program (ss -lnp 'sport = :%d' shows which)", strings.ToUpper(proto), port, port)
	case errors.Is(err, syscall.EACCES):
		// Only root may bind below 1024; traced.service is then given the
		// capability by its generator. Nothing else holds it, as far as can be
		// told without root.
		return nil
	}
	return fmt.Errorf("check %s port %d: %w", proto, port, err)
}

// prepareDataDir creates the directory for the traced user when it is missing
// and checks that the traced user can write it.
func prepareDataDir(dir string) error {
	u, uerr := user.Lookup("traced")
	fi, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("create the data directory: %w", err)
		}
		if uerr == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			if err := os.Chown(dir, uid, gid); err != nil {
				return fmt.Errorf("give the data directory to the traced user: %w", err)
			}
		}
		return nil
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("-p %s is not a directory", dir)
	}
	if uerr != nil {
		// No traced user (traced is not installed as a service): the directory
		// must be writable by whoever runs traced, here this user.
		f, err := os.CreateTemp(dir, ".tracectl-check-*")
		if err != nil {
			return fmt.Errorf("-p %s is not writable: %w", dir, err)
		}
		f.Close()
		return os.Remove(f.Name())
	}
	if !writableBy(fi, u) {
		return fmt.Errorf("-p %s is not writable by the traced user: chown traced:traced %s", dir, dir)
	}
	return nil
}

// writableBy tells from the mode and owner whether u may create files in the
// directory.
func writableBy(fi os.FileInfo, u *user.User) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == uid:
		return perm&0o300 == 0o300
	case int(st.Gid) == gid:
		return perm&0o030 == 0o030
	}
	return perm&0o003 == 0o003
}

// unitDropInDir is where run puts its drop-in; TRACED_UNIT_DIR names another
// unit directory (for tests).
func unitDropInDir() string {
	d := os.Getenv("TRACED_UNIT_DIR")
	if d == "" {
		d = "/etc/systemd/system"
	}
	return filepath.Join(d, unitName+".d")
}

const dataDropIn = "50-data-directory.conf"

// writeDataDropIn lets traced write a data directory outside its state
// directory (ProtectSystem=strict makes everything else read-only), or removes
// that permission when the directory is the state directory again.
func writeDataDropIn(dir string) error {
	path := filepath.Join(unitDropInDir(), dataDropIn)
	dir = filepath.Clean(dir)
	if dir == "/var/lib/traced" || strings.HasPrefix(dir, "/var/lib/traced/") {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("unit drop-in: %w", err)
	}
	body := fmt.Sprintf("# Written by tracectl run: traced's data directory is %s.\n[Service]\nReadWritePaths=%s\n", dir, dir)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return fmt.Errorf("unit drop-in: %w", err)
	}
	return nil
}
