package packaging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"traced/internal/sipgen"
)

// The tests run from packaging/: the repository is the parent directory.
const repo = ".."

var (
	tmpOnce sync.Once
	tmpDir  string

	binOnce   sync.Once
	tracedBin string
	binErr    error

	manOnce sync.Once
	manDir  string
	manErr  error

	debOnce  sync.Once
	debPath  string
	debBuilt time.Duration
	debErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

func scratch(t *testing.T) string {
	t.Helper()
	tmpOnce.Do(func() {
		var err error
		if tmpDir, err = os.MkdirTemp("", "traced-packaging-"); err != nil {
			panic(err)
		}
	})
	return tmpDir
}

// unavailable skips the test, or fails it under CI, where everything the
// tests need is installed by scripts/install-test-deps.sh.
func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI must run this test (scripts/install-test-deps.sh installs what it needs)", why)
	}
	t.Skipf("%s (run scripts/install-test-deps.sh as root; CI runs this test)", why)
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, tool+" is not installed")
		}
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "installing a package needs root")
	}
}

// run runs a command and returns its combined output, failing the test if it
// fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// builtTraced is traced built from this checkout.
func builtTraced(t *testing.T) string {
	t.Helper()
	dir := scratch(t)
	binOnce.Do(func() {
		tracedBin = filepath.Join(dir, "traced")
		if out, err := runErr(nil, "go", "build", "-o", tracedBin, "traced/cmd/traced"); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return tracedBin
}

// manPages renders both man pages into a MANPATH directory.
func manPages(t *testing.T) string {
	t.Helper()
	dir := scratch(t)
	manOnce.Do(func() {
		manDir = filepath.Join(dir, "man")
		for _, p := range []struct{ cmd, file string }{{"traced", "man8/traced.8"}, {"tracectl", "man1/tracectl.1"}} {
			out, err := exec.Command("go", "run", "-tags", "genman", "traced/cmd/"+p.cmd).Output()
			if err != nil {
				manErr = fmt.Errorf("man page of %s: %v", p.cmd, err)
				return
			}
			path := filepath.Join(manDir, p.file)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				manErr = err
				return
			}
			if err := os.WriteFile(path, out, 0o644); err != nil {
				manErr = err
				return
			}
		}
	})
	if manErr != nil {
		t.Fatal(manErr)
	}
	return manDir
}

// theDeb builds the package once per test run, as `make deb` does.
func theDeb(t *testing.T) string {
	t.Helper()
	needTools(t, "dpkg-buildpackage", "dh", "gcc", "git")
	dir := scratch(t)
	debOnce.Do(func() {
		start := time.Now()
		out, err := runErr([]string{"DEB_OUT=" + dir}, "sh", filepath.Join(repo, "packaging/deb/build.sh"))
		debBuilt = time.Since(start)
		if err != nil {
			debErr = fmt.Errorf("packaging/deb/build.sh: %v\n%s", err, out)
			return
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		debPath = lines[len(lines)-1]
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	t.Logf("package %s (built in %s)", filepath.Base(debPath), debBuilt.Round(time.Second))
	return debPath
}

// TestSettingsFileDocumentsEveryOption: /etc/default/traced names every
// TRACED_* variable that traced --help lists, each under a comment saying
// what it does, and no variable that traced does not know.
func TestSettingsFileDocumentsEveryOption(t *testing.T) {
	help := run(t, nil, builtTraced(t), "--help")
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$(TRACED_[A-Z_]+)`).FindAllStringSubmatch(help, -1) {
		known[m[1]] = true
	}
	if len(known) < 15 {
		t.Fatalf("traced --help lists %d TRACED_* variables, expected every option's:\n%s", len(known), help)
	}
	b, err := os.ReadFile("default/traced")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	setting := regexp.MustCompile(`^#?(TRACED_[A-Z_]+)=`)
	seen := map[string]bool{}
	for i, l := range lines {
		m := setting.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		name := m[1]
		if !known[name] {
			t.Errorf("default/traced:%d sets %s, which traced does not know", i+1, name)
		}
		seen[name] = true
		// The comment above the block of settings this line belongs to.
		j := i - 1
		for j >= 0 && setting.MatchString(lines[j]) {
			j--
		}
		if j < 0 || !strings.HasPrefix(lines[j], "# ") || len(strings.TrimSpace(lines[j])) < 10 {
			t.Errorf("default/traced:%d: %s has no comment explaining it", i+1, name)
		}
	}
	for name := range known {
		if !seen[name] {
			t.Errorf("default/traced does not document %s", name)
		}
	}
}

// TestGeneratorGrantsBindOnlyForPrivilegedPorts runs the unit's generator on
// settings files: only a port below 1024 in a listen setting adds the drop-in
// granting CAP_NET_BIND_SERVICE.
func TestGeneratorGrantsBindOnlyForPrivilegedPorts(t *testing.T) {
	needTools(t, "sh", "awk")
	packaged, err := os.ReadFile("default/traced")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, settings, port string
	}{
		{"packaged defaults", string(packaged), ""},
		{"web on 443", "TRACED_WEB_ADDR=:443\n", "443"},
		{"HEP list with a syslog port", "TRACED_HEP_ADDR=\":9060,127.0.0.1:514\"\n", "514"},
		{"web port", "TRACED_WEB_PORT=80\n", "80"},
		{"SIP on IPv6 loopback", "TRACED_SIP_ADDR='[::1]:999'\n", "999"},
		{"TLS", "  TRACED_HEP_TLS_ADDR=0.0.0.0:636\n", "636"},
		{"high ports only", "TRACED_HEP_PORT=9061\nTRACED_SIP_ADDR=:5060\nTRACED_WEB_ADDR=:9080\n", ""},
		{"commented out", "#TRACED_WEB_ADDR=:80\n  # TRACED_WEB_PORT=443\n", ""},
		{"small numbers elsewhere", "TRACED_RETENTION_DAYS=5\nTRACED_MAX_TCP_CONNS=100\n", ""},
	}
	dir := t.TempDir()
	for i, c := range cases {
		conf := filepath.Join(dir, fmt.Sprintf("settings-%d", i))
		if err := os.WriteFile(conf, []byte(c.settings), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("out-%d", i))
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, []string{"TRACED_DEFAULTS=" + conf}, "sh", "systemd/traced-generator", out, out, out)
		dropIn, err := os.ReadFile(filepath.Join(out, "traced.service.d", "50-privileged-port.conf"))
		switch {
		case c.port == "" && err == nil:
			t.Errorf("%s: drop-in written:\n%s", c.name, dropIn)
		case c.port == "" && !os.IsNotExist(err):
			t.Errorf("%s: %v", c.name, err)
		case c.port != "" && err != nil:
			t.Errorf("%s: no drop-in for port %s: %v", c.name, c.port, err)
		case c.port != "":
			s := string(dropIn)
			for _, want := range []string{"[Service]\n", "\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
				"\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n", "\nPrivateUsers=no\n", "port " + c.port + ","} {
				if !strings.Contains(s, want) {
					t.Errorf("%s: drop-in lacks %q:\n%s", c.name, want, s)
				}
			}
		}
	}
	// No settings file, or no output directory: nothing, and no failure.
	out := filepath.Join(dir, "none")
	run(t, []string{"TRACED_DEFAULTS=" + filepath.Join(dir, "missing")}, "sh", "systemd/traced-generator", out)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("generator wrote %s without a settings file", out)
	}
	run(t, nil, "sh", "systemd/traced-generator")
}

// exposure runs systemd-analyze security on a unit file and returns the
// overall exposure and the names of the settings it marks as exposed.
func exposure(t *testing.T, unit string) (float64, []string) {
	t.Helper()
	out := run(t, nil, "systemd-analyze", "security", "--offline=true", "--no-pager", unit)
	var bad []string
	score := -1.0
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "✗ "); ok {
			bad = append(bad, strings.Fields(rest)[0])
		}
		if _, s, ok := strings.Cut(l, "Overall exposure level for "); ok {
			f := strings.Fields(s)
			if len(f) >= 2 {
				score, _ = strconv.ParseFloat(f[1], 64)
			}
		}
	}
	if score < 0 {
		t.Fatalf("no overall exposure in:\n%s", out)
	}
	sort.Strings(bad)
	return score, bad
}

// explainedExposure is what the unit may leave open, each explained in it;
// false: only with the privileged-port drop-in.
var explainedExposure = map[string]bool{
	"RootDirectory=/RootImage=":                true,
	"RestrictAddressFamilies=~AF_UNIX":         true,
	"RestrictAddressFamilies=~AF_(INET|INET6)": true,
	"ProcSubset=":     true,
	"PrivateNetwork=": true,
	"DeviceAllow=":    true,
	"IPAddressDeny=":  true,
	"CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)": false, // only with a port below 1024
}

// TestUnitVerifiesAndIsHardened checks traced.service with systemd-analyze:
// verify says nothing at all, security finds nothing exposed beyond what the
// unit explains, and a port below 1024 (the generator's drop-in) adds
// CAP_NET_BIND_SERVICE and nothing else.
func TestUnitVerifiesAndIsHardened(t *testing.T) {
	needTools(t, "systemd-analyze", "man")
	unit, err := os.ReadFile("systemd/traced.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "Restart=on-failure", "User=traced",
		"EnvironmentFile=-/etc/default/traced", "StateDirectory=traced", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=",
		"SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "LimitNOFILE=65536", "ExecStart=/usr/bin/traced\n"} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("traced.service lacks %q", want)
		}
	}
	// The unit as installed, but starting the traced of this checkout.
	bin := builtTraced(t)
	man := manPages(t)
	dir := filepath.Join(t.TempDir(), "plain")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	local := strings.Replace(string(unit), "\nExecStart=/usr/bin/traced\n", "\nExecStart="+bin+"\n", 1)
	path := filepath.Join(dir, "traced.service")
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify runs man(1) for Documentation=: the pages generated here.
	if out := run(t, []string{"MANPATH=" + man}, "systemd-analyze", "verify", path); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify traced.service is not clean:\n%s", out)
	}
	score, bad := exposure(t, path)
	t.Logf("systemd-analyze security: exposure %.1f; open: %s", score, strings.Join(bad, " "))
	if score > 1.5 {
		t.Errorf("exposure %.1f, want at most 1.5", score)
	}
	for _, b := range bad {
		if !explainedExposure[b] {
			t.Errorf("systemd-analyze security: %s is exposed and not explained in the unit", b)
		}
	}
	if len(bad) < 4 {
		t.Errorf("only %d exposures parsed (%v): the output format changed?", len(bad), bad)
	}

	// With a privileged port, through the generator's drop-in beside the unit.
	priv := filepath.Join(t.TempDir(), "privileged")
	if err := os.Mkdir(priv, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(priv, "settings")
	if err := os.WriteFile(conf, []byte("TRACED_WEB_ADDR=:443\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, []string{"TRACED_DEFAULTS=" + conf}, "sh", "systemd/traced-generator", priv)
	ppath := filepath.Join(priv, "traced.service")
	if err := os.WriteFile(ppath, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := run(t, []string{"MANPATH=" + man}, "systemd-analyze", "verify", ppath); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify with the privileged-port drop-in is not clean:\n%s", out)
	}
	_, pbad := exposure(t, ppath)
	added := map[string]bool{}
	for _, b := range pbad {
		added[b] = true
	}
	for _, b := range bad {
		delete(added, b)
	}
	want := map[string]bool{"CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)": true, "AmbientCapabilities=": true, "PrivateUsers=": true}
	for b := range added {
		if !want[b] {
			t.Errorf("the privileged-port drop-in also exposes %s", b)
		}
	}
	for b := range want {
		if !added[b] {
			t.Errorf("the privileged-port drop-in does not change %s", b)
		}
	}
}

// pkgState is dpkg's state of the traced package ("installed VERSION",
// "config-files VERSION", or "" when dpkg does not know it).
func pkgState() string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", "traced").Output()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(out))
	if strings.HasPrefix(s, "not-installed") {
		return ""
	}
	return s
}

// cleanMachine makes sure no traced package, user or data is there before a
// life-cycle test, and removes whatever the test leaves, even when it fails.
func cleanMachine(t *testing.T) {
	t.Helper()
	leftover := pkgState() != ""
	if _, err := user.Lookup("traced"); err == nil {
		leftover = true
	}
	if _, err := os.Stat("/var/lib/traced"); err == nil {
		leftover = true
	}
	if leftover {
		if os.Getenv("CI") == "" {
			t.Skip("a traced package, user or /var/lib/traced is already on this machine: not touching it (CI purges it)")
		}
		t.Log("removing a traced package, user or data left on this CI machine")
		purgeAll(t)
	}
	t.Cleanup(func() { purgeAll(t) })
}

func purgeAll(t *testing.T) {
	if pkgState() != "" {
		if out, err := runErr(nil, "dpkg", "--purge", "traced"); err != nil {
			t.Errorf("cleanup: dpkg --purge traced: %v\n%s", err, out)
		}
	}
	if _, err := user.Lookup("traced"); err == nil {
		_, _ = runErr(nil, "userdel", "traced")
	}
	if _, err := user.LookupGroup("traced"); err == nil {
		_, _ = runErr(nil, "groupdel", "traced")
	}
	_ = os.RemoveAll("/var/lib/traced")
	_ = os.Remove("/etc/default/traced")
}

// fileHashes is the SHA-256 of every file under dir.
func fileHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

type tracedStatus struct {
	Version string `json:"version"`
	Stored  uint64 `json:"stored"`
	Records int64  `json:"records"`
}

// runInstalled runs the installed /usr/bin/traced as the traced user on
// /var/lib/traced (loopback ports), sends it n packets, waits for the archive
// to hold want records, and stops it. It returns the status before the stop.
func runInstalled(t *testing.T, n int, want int64) tracedStatus {
	t.Helper()
	u, err := user.Lookup("traced")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	hep, web := freePort(t), freePort(t)
	var log bytes.Buffer
	cmd := exec.Command("/usr/bin/traced", "--hep-addr", fmt.Sprintf("127.0.0.1:%d", hep), "--web-addr", fmt.Sprintf("127.0.0.1:%d", web))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TRACED_DATA=/var/lib/traced"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	status := func() (tracedStatus, error) {
		var s tracedStatus
		out, err := exec.Command("/usr/bin/tracectl", "--data", "/var/lib/traced", "status", "--json").Output()
		if err != nil {
			return s, err
		}
		return s, json.Unmarshal(out, &s)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := status(); err == nil {
			break
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("installed traced exited as the traced user: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("installed traced did not answer tracectl status\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n > 0 {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", hep))
		if err != nil {
			t.Fatal(err)
		}
		gen := sipgen.New(3, time.Now())
		for i := 0; i < n; i++ {
			if _, err := c.Write(gen.Next()); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	var s tracedStatus
	for {
		s, err = status()
		if err == nil && s.Records >= want && s.Stored >= uint64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("installed traced: status %+v (err %v), want %d records\n%s", s, err, want, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("installed traced exited with %v\n%s", err, log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("installed traced did not stop\n%s", log.String())
	}
	return s
}

// runningTraced lists the processes whose executable is /usr/bin/traced.
func runningTraced() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == "/usr/bin/traced" {
			pids = append(pids, pid)
		}
	}
	return pids
}

func mustExist(t *testing.T, path string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", path, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

func mustNotExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
}

func sameFile(t *testing.T, installed, source string) {
	t.Helper()
	a, err1 := os.ReadFile(installed)
	b, err2 := os.ReadFile(source)
	if err1 != nil || err2 != nil {
		t.Errorf("compare %s with %s: %v %v", installed, source, err1, err2)
		return
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s", installed, source)
	}
}

// TestDebPackageLifeCycle builds the package, checks it with lintian, and
// takes it through a whole life on this machine: install (files, user, data
// directory, conffile, the service enabled but not started without systemd),
// the installed traced storing packets as the traced user, an upgrade that
// keeps the data and a changed conffile, remove (data, settings and user
// kept) and purge (nothing left).
func TestDebPackageLifeCycle(t *testing.T) {
	needRoot(t)
	needTools(t, "dpkg", "dpkg-deb", "lintian", "systemd-analyze", "adduser", "man")
	deb := theDeb(t)

	// The version comes from git, in the name and the control file.
	version := strings.TrimSpace(run(t, nil, "sh", filepath.Join(repo, "packaging/deb/version.sh")))
	arch := strings.TrimSpace(run(t, nil, "dpkg", "--print-architecture"))
	if filepath.Base(deb) != fmt.Sprintf("traced_%s_%s.deb", version, arch) {
		t.Errorf("package %s, want traced_%s_%s.deb", filepath.Base(deb), version, arch)
	}
	if v := strings.TrimSpace(run(t, nil, "dpkg-deb", "--field", deb, "Version")); v != version {
		t.Errorf("control Version %q, want %q", v, version)
	}
	if !regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`).MatchString(version) {
		t.Errorf("version %q is not a Debian native version", version)
	}

	// lintian: no tag at any level, but the overridden ones.
	start := time.Now()
	out, err := runErr(nil, "lintian", "--fail-on", "error,warning,info,pedantic", "--info", "--pedantic", "--show-overrides", deb)
	t.Logf("lintian (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Errorf("lintian failed: %v", err)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 2 && l[1] == ':' && strings.ContainsRune("EWIPX", rune(l[0])) {
			t.Errorf("lintian: %s", l)
		}
	}
	overrides, err := os.ReadFile("deb/debian/traced.lintian-overrides")
	if err != nil {
		t.Fatal(err)
	}
	prevComment := false
	for _, l := range strings.Split(string(overrides), "\n") {
		if strings.HasPrefix(l, "traced: ") && !prevComment {
			t.Errorf("lintian override without a reason above it: %s", l)
		}
		prevComment = strings.HasPrefix(l, "#") || (prevComment && strings.HasPrefix(l, "traced: "))
	}

	// Install.
	cleanMachine(t)
	out = run(t, nil, "dpkg", "--install", deb)
	t.Logf("dpkg --install:\n%s", out)
	for _, want := range []string{"systemd is not running here, so traced.service was not started", "http://", ":9080/",
		"First login: admin / admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("dpkg --install does not say %q", want)
		}
	}
	if s := pkgState(); s != "installed "+version {
		t.Fatalf("after install: %q", s)
	}
	mustExist(t, "/usr/bin/traced", 0o755, 0, 0)
	mustExist(t, "/usr/bin/tracectl", 0o755, 0, 0)
	mustExist(t, "/lib/systemd/system/traced.service", 0o644, 0, 0)
	mustExist(t, "/lib/systemd/system-generators/traced-generator", 0o755, 0, 0)
	mustExist(t, "/etc/default/traced", 0o644, 0, 0)
	mustExist(t, "/usr/lib/sysctl.d/60-traced.conf", 0o644, 0, 0)
	mustExist(t, "/usr/share/man/man8/traced.8.gz", 0o644, 0, 0)
	mustExist(t, "/usr/share/man/man1/tracectl.1.gz", 0o644, 0, 0)
	mustExist(t, "/usr/share/bash-completion/completions/tracectl", 0o644, 0, 0)
	mustExist(t, "/usr/share/doc/traced/copyright", 0o644, 0, 0)
	sameFile(t, "/lib/systemd/system/traced.service", "systemd/traced.service")
	sameFile(t, "/etc/default/traced", "default/traced")
	sameFile(t, "/lib/systemd/system-generators/traced-generator", "systemd/traced-generator")
	if c := run(t, nil, "dpkg-query", "-W", "-f=${Conffiles}", "traced"); !strings.Contains(c, "/etc/default/traced ") {
		t.Errorf("/etc/default/traced is not a conffile: %q", c)
	}
	copyright, _ := os.ReadFile("/usr/share/doc/traced/copyright")
	for _, want := range []string{"License: traced", "Files: go/src/*", "Files: go/pkg/mod/github.com/coreos/go-systemd/v22/*",
		"Files: go/pkg/mod/github.com/blevesearch/bleve/v2/*"} {
		if !bytes.Contains(copyright, []byte(want)) {
			t.Errorf("copyright file lacks %q", want)
		}
	}
	if v := run(t, nil, "/usr/bin/traced", "--version"); !strings.Contains(v, version) {
		t.Errorf("traced --version: %q, want %s", v, version)
	}
	if m := run(t, []string{"MANWIDTH=80"}, "man", "-P", "cat", "traced"); !strings.Contains(m, "TRACED_HEP_ADDR") {
		t.Errorf("man traced lacks the options:\n%s", m)
	}

	u, err := user.Lookup("traced")
	if err != nil {
		t.Fatalf("no traced user: %v", err)
	}
	g, err := user.LookupGroup("traced")
	if err != nil {
		t.Fatalf("no traced group: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	if uid >= 1000 || uid == 0 || u.Gid != g.Gid || u.HomeDir != "/var/lib/traced" {
		t.Errorf("traced user: uid %d, gid %s (group %s), home %s: want a system user in group traced with home /var/lib/traced", uid, u.Gid, g.Gid, u.HomeDir)
	}
	if pw := run(t, nil, "getent", "passwd", "traced"); !strings.HasSuffix(strings.TrimSpace(pw), ":/usr/sbin/nologin") {
		t.Errorf("traced user can log in: %s", pw)
	}
	mustExist(t, "/var/lib/traced", fs.ModeDir|0o750, uid, gid)
	if pids := runningTraced(); len(pids) > 0 {
		t.Errorf("traced was started without systemd: pids %v", pids)
	}
	if l, err := os.Readlink("/etc/systemd/system/multi-user.target.wants/traced.service"); err != nil || !strings.HasSuffix(l, "/systemd/system/traced.service") {
		t.Errorf("traced.service is not enabled: %q %v", l, err)
	}
	if out := run(t, nil, "systemd-analyze", "verify", "/lib/systemd/system/traced.service"); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify of the installed unit:\n%s", out)
	}

	// The installed service under a real systemd, in a container.
	t.Run("under systemd", underSystemd)

	// The installed traced runs as the traced user and stores packets.
	const packets = 30
	before := runInstalled(t, packets, packets)
	if before.Version != version {
		t.Errorf("installed traced reports version %q, want %q", before.Version, version)
	}
	data := fileHashes(t, "/var/lib/traced/segments")
	if len(data) == 0 {
		t.Fatal("no segment file in /var/lib/traced/segments")
	}

	// An administrator changes the settings.
	f, err := os.OpenFile("/etc/default/traced", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const changed = "\n# changed by the administrator\nTRACED_RETENTION_DAYS=9\n"
	if _, err := f.WriteString(changed); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// Upgrade to a rebuilt package with a higher version.
	newVersion := version + "+1"
	tree := filepath.Join(t.TempDir(), "tree")
	run(t, nil, "dpkg-deb", "--raw-extract", deb, tree)
	control := filepath.Join(tree, "DEBIAN", "control")
	cb, err := os.ReadFile(control)
	if err != nil {
		t.Fatal(err)
	}
	cb = bytes.Replace(cb, []byte("\nVersion: "+version+"\n"), []byte("\nVersion: "+newVersion+"\n"), 1)
	if err := os.WriteFile(control, cb, 0o644); err != nil {
		t.Fatal(err)
	}
	newDeb := filepath.Join(t.TempDir(), "traced_"+newVersion+"_"+arch+".deb")
	run(t, nil, "dpkg-deb", "--root-owner-group", "--build", tree, newDeb)
	out = run(t, nil, "dpkg", "--install", newDeb)
	t.Logf("dpkg --install (upgrade):\n%s", out)
	if s := pkgState(); s != "installed "+newVersion {
		t.Fatalf("after upgrade: %q", s)
	}
	if strings.Contains(out, "admin / admin") {
		t.Errorf("the upgrade prints the first login again")
	}
	if settings, _ := os.ReadFile("/etc/default/traced"); !strings.HasSuffix(string(settings), changed) {
		t.Errorf("the upgrade lost the changed settings:\n%s", settings)
	}
	mustNotExist(t, "/etc/default/traced.dpkg-dist", "/etc/default/traced.dpkg-new", "/etc/default/traced.dpkg-old")
	if after := fileHashes(t, "/var/lib/traced/segments"); fmt.Sprint(after) != fmt.Sprint(data) {
		t.Errorf("the upgrade changed the data:\nbefore %v\nafter  %v", data, after)
	}
	if u2, err := user.Lookup("traced"); err != nil || u2.Uid != u.Uid {
		t.Errorf("traced user after upgrade: %v %v, was uid %s", u2, err, u.Uid)
	}
	if s := runInstalled(t, 0, before.Records); s.Records != before.Records {
		t.Errorf("after the upgrade traced finds %d records, had %d", s.Records, before.Records)
	}

	// Remove: the program goes, data, settings and user stay.
	run(t, nil, "dpkg", "--remove", "traced")
	if s := pkgState(); !strings.HasPrefix(s, "config-files ") {
		t.Errorf("after remove: %q", s)
	}
	mustNotExist(t, "/usr/bin/traced", "/usr/bin/tracectl", "/lib/systemd/system/traced.service",
		"/lib/systemd/system-generators/traced-generator", "/usr/share/man/man8/traced.8.gz")
	if settings, _ := os.ReadFile("/etc/default/traced"); !strings.HasSuffix(string(settings), changed) {
		t.Errorf("remove lost the settings")
	}
	if kept := fileHashes(t, "/var/lib/traced/segments"); len(kept) != len(data) {
		t.Errorf("remove deleted data: %d segment files, had %d", len(kept), len(data))
	}
	if _, err := user.Lookup("traced"); err != nil {
		t.Errorf("remove deleted the traced user")
	}

	// Purge: nothing left.
	run(t, nil, "dpkg", "--purge", "traced")
	if s := pkgState(); s != "" {
		t.Errorf("after purge: %q", s)
	}
	mustNotExist(t, "/etc/default/traced", "/var/lib/traced", "/etc/systemd/system/multi-user.target.wants/traced.service",
		"/var/lib/systemd/deb-systemd-helper-enabled/traced.service.dsh-also",
		"/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/traced.service", "/usr/share/doc/traced")
	if _, err := user.Lookup("traced"); err == nil {
		t.Errorf("purge left the traced user")
	}
	if _, err := user.LookupGroup("traced"); err == nil {
		t.Errorf("purge left the traced group")
	}
}

// TestInstallScript runs install.sh as an administrator would, with the
// package beside it: install, the same again (nothing to do), --uninstall
// (data and settings kept), install again over the kept settings, --purge.
func TestInstallScript(t *testing.T) {
	needRoot(t)
	needTools(t, "dpkg", "dpkg-deb", "adduser", "apt-get")
	deb := theDeb(t)
	version := strings.TrimSpace(run(t, nil, "dpkg-deb", "--field", deb, "Version"))
	cleanMachine(t)

	dir := t.TempDir()
	script := filepath.Join(dir, "install.sh")
	b, err := os.ReadFile(filepath.Join(repo, "install.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(deb, filepath.Join(dir, filepath.Base(deb))); err != nil {
		copyFile(t, deb, filepath.Join(dir, filepath.Base(deb)))
	}

	out := run(t, nil, "sh", script)
	t.Logf("install.sh:\n%s", out)
	if !strings.Contains(out, "installing traced "+version) || pkgState() != "installed "+version {
		t.Fatalf("install.sh did not install %s: %q", version, pkgState())
	}
	if _, err := os.Stat("/usr/bin/traced"); err != nil {
		t.Fatal(err)
	}
	marker := "/var/lib/traced/kept-by-uninstall"
	if err := os.WriteFile(marker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	out = run(t, nil, "sh", script)
	if !strings.Contains(out, "traced "+version+" is already installed") || strings.Contains(out, "Unpacking") {
		t.Errorf("second install.sh did something:\n%s", out)
	}

	out = run(t, nil, "sh", script, "--uninstall")
	if pkgState() == "installed "+version {
		t.Fatalf("install.sh --uninstall left traced installed:\n%s", out)
	}
	mustNotExist(t, "/usr/bin/traced")
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("install.sh --uninstall deleted the data: %v", err)
	}
	if _, err := os.Stat("/etc/default/traced"); err != nil {
		t.Errorf("install.sh --uninstall deleted the settings: %v", err)
	}
	if out := run(t, nil, "sh", script, "--uninstall"); !strings.Contains(out, "not installed") {
		t.Errorf("install.sh --uninstall twice: %s", out)
	}

	run(t, nil, "sh", script)
	if pkgState() != "installed "+version {
		t.Fatalf("install.sh after --uninstall: %q", pkgState())
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("reinstall lost the data: %v", err)
	}

	run(t, nil, "sh", script, "--purge")
	if s := pkgState(); s != "" {
		t.Errorf("after install.sh --purge: %q", s)
	}
	mustNotExist(t, "/var/lib/traced", "/etc/default/traced", "/usr/bin/traced")
	if _, err := user.Lookup("traced"); err == nil {
		t.Errorf("install.sh --purge left the traced user")
	}

	if _, err := runErr(nil, "sh", script, "--no-such-option"); err == nil {
		t.Errorf("install.sh accepted an unknown option")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
