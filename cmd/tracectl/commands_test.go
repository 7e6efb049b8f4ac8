package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runApp runs tracectl in-process and returns what it printed and its exit code.
func runApp(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter, app.Reader = &out, &out, strings.NewReader(stdin)
	err := app.RunContext(context.Background(), append([]string{"tracectl"}, args...))
	if err == nil {
		return out.String(), 0
	}
	code := exitCode(&out, err)
	return out.String(), code
}

// settingsCopy is a copy of the settings file the package ships, named by
// TRACED_DEFAULTS for the test, with drop-ins going to a scratch unit directory.
func settingsCopy(t *testing.T) (path, unitDir string) {
	t.Helper()
	orig, err := os.ReadFile(filepath.Join("..", "..", "packaging", "default", "traced"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path = filepath.Join(dir, "traced")
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	unitDir = filepath.Join(dir, "units")
	t.Setenv("TRACED_DEFAULTS", path)
	t.Setenv("TRACED_UNIT_DIR", unitDir)
	return path, unitDir
}

// dataDirOutsideTmp is a scratch data directory where traced.service could
// keep its data: not under /tmp, /home and the like, which run refuses. As
// root it is under /var/lib; otherwise beside the checkout, when that is not
// under such a directory itself.
func dataDirOutsideTmp(t *testing.T) string {
	t.Helper()
	var parents []string
	if os.Geteuid() == 0 {
		parents = append(parents, "/var/lib")
	}
	if repo, err := filepath.Abs(filepath.Join("..", "..")); err == nil {
		parents = append(parents, repo)
	}
	for _, parent := range parents {
		if (runPlan{dir: filepath.Join(parent, "x")}).validate() != nil {
			continue
		}
		d, err := os.MkdirTemp(parent, ".tracectl-run-test-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return filepath.Join(d, "data")
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no directory to test with among %v", parents)
	}
	t.Skipf("no writable directory outside /tmp and /home to test with among %v (CI runs this as root)", parents)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestRunWritesSettingsAndChecks(t *testing.T) {
	path, unitDir := settingsCopy(t)
	before, _ := os.ReadFile(path)
	data := dataDirOutsideTmp(t)
	web, hep := freePort(t), freePort(t)

	out, code := runApp(t, "", "run", "--no-start", "-p", data, "-k", "9", "-l", strconv.Itoa(web), "-z", strconv.Itoa(hep))
	if code != 0 {
		t.Fatalf("run --no-start: exit %d\n%s", code, out)
	}
	after, _ := os.ReadFile(path)
	s := parseSettings(after)
	for k, want := range map[string]string{"TRACED_DATA": data, "TRACED_RETENTION_DAYS": "9",
		"TRACED_WEB_PORT": strconv.Itoa(web), "TRACED_HEP_PORT": strconv.Itoa(hep)} {
		if v, ok := s.Get(k); !ok || v != want {
			t.Errorf("%s = %q (set %v), want %q", k, v, ok, want)
		}
	}
	if got, want := strings.Count(string(after), "\n#"), strings.Count(string(before), "\n#"); got != want {
		t.Errorf("comment lines: %d after, %d before", got, want)
	}
	if fi, err := os.Stat(data); err != nil || !fi.IsDir() {
		t.Errorf("the data directory was not created: %v", err)
	}
	dropIn, err := os.ReadFile(filepath.Join(unitDir, "traced.service.d", dataDropIn))
	if err != nil || !strings.Contains(string(dropIn), "ReadWritePaths="+data+"\n") {
		t.Errorf("drop-in for a data directory outside /var/lib/traced: %v\n%s", err, dropIn)
	}

	// Back to the state directory: the drop-in goes.
	if out, code := runApp(t, "", "run", "--no-start", "-p", "/var/lib/traced"); code != 0 {
		t.Fatalf("run -p /var/lib/traced: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(unitDir, "traced.service.d", dataDropIn)); !os.IsNotExist(err) {
		t.Errorf("the drop-in is left behind: %v", err)
	}
}

func TestRunRefusesBadSettings(t *testing.T) {
	path, _ := settingsCopy(t)
	busy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-l", port}, "in use by another program"},
		{[]string{"-z", port}, "in use by another program"},
		{[]string{"-l", "9060"}, "traced receives HEP on that port"},
		{[]string{"-l", "9100", "-z", "9100"}, "must differ"},
		{[]string{"-k", "-1"}, "retention"},
		{[]string{"-l", "70000"}, "not a port"},
		{[]string{"-p", "relative/dir"}, "absolute"},
		{[]string{"-p", "/tmp/traced"}, "PrivateTmp"},
		{[]string{"-p", "/home/admin/traced"}, "ProtectHome"},
		{[]string{"stray"}, "takes options"},
	} {
		before, _ := os.ReadFile(path)
		out, code := runApp(t, "", append([]string{"run", "--no-start"}, c.args...)...)
		if code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("run %v: exit %d, output %q; want a failure saying %q", c.args, code, out, c.want)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("run %v failed but changed the settings file", c.args)
		}
	}
}

// TestWithoutSystemd: where systemd is not PID 1, the service commands say so
// and end with exit status 5; run still writes its settings.
func TestWithoutSystemd(t *testing.T) {
	if systemdRunning() {
		t.Skip("systemd runs this machine: the service commands are tested under systemd by packaging's boot test")
	}
	path, _ := settingsCopy(t)
	dir := t.TempDir()
	for _, args := range [][]string{{"status"}, {"start"}, {"stop"}, {"restart"}, {"rm"}} {
		out, code := runApp(t, "", append([]string{"--data", dir}, args...)...)
		if code != exitNoSystemd || !strings.Contains(out, "systemd is not running on this machine") {
			t.Errorf("%v: exit %d, want %d with a clear message:\n%s", args, code, exitNoSystemd, out)
		}
	}
	out, _ := runApp(t, "", "--data", dir, "status")
	if !strings.Contains(out, "traced is not running") {
		t.Errorf("status does not say that no traced answers on the socket:\n%s", out)
	}
	out, code := runApp(t, "", "run", "-k", "11")
	if code != exitNoSystemd || !strings.Contains(out, "traced was not started") {
		t.Errorf("run without systemd: exit %d\n%s", code, out)
	}
	if s, _, _ := readSettings(path); s == nil {
		t.Fatal("settings file unreadable")
	} else if v, _ := s.Get("TRACED_RETENTION_DAYS"); v != "11" {
		t.Errorf("run without systemd did not write the settings: TRACED_RETENTION_DAYS=%q", v)
	}
}

func TestRmAsksBeforePurging(t *testing.T) {
	dir := dataDirOutsideTmp(t)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	out, code := runApp(t, "no\n", "--data", dir, "rm", "--purge-data")
	if code == 0 || !strings.Contains(out, "Type yes to confirm") || !strings.Contains(out, "not confirmed") {
		t.Errorf("rm --purge-data answered no: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("data deleted without confirmation: %v", err)
	}
	if err := purgeData("/"); err == nil {
		t.Error("purgeData(/) was allowed")
	}
	if err := purgeData("/var"); err == nil {
		t.Error("purgeData(/var) was allowed")
	}
}

func TestCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	bin := filepath.Join(t.TempDir(), "tracectl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	complete := func(words ...string) string {
		script := `source <("$TRACECTL" completion bash)
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _tracectl_complete; echo "${COMPREPLY[*]}"`
		cmd := exec.Command(bash, append([]string{"-c", script, "bash", "tracectl"}, words...)...)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "TRACECTL="+bin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("st"); got != "status start stop" {
		t.Errorf("tracectl st<TAB> = %q", got)
	}
	if got := complete("run", "--re"); got != "--retention-days" {
		t.Errorf("tracectl run --re<TAB> = %q", got)
	}
	for _, shell := range []string{"zsh", "fish"} {
		out, code := runApp(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, "tracectl") || !strings.Contains(out, "status") && shell == "fish" {
			t.Errorf("completion %s: exit %d\n%s", shell, code, out)
		}
	}
	if _, code := runApp(t, "", "completion", "tcsh"); code == 0 {
		t.Error("completion for an unknown shell succeeded")
	}
}
