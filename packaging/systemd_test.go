package packaging

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"traced/internal/sipgen"
)

// container is systemd booted as PID 1 of a container (systemd-nspawn) whose
// /usr is this machine's, read-only, with the traced package installed; /etc
// a copy of this machine's (the traced user, the enabled unit,
// /etc/default/traced); /var empty; and a network of its own.
type container struct {
	t      *testing.T
	root   string
	cmd    *exec.Cmd
	done   chan error
	out    *lockedBuffer
	leader int
	data   string // the data directory's own file system, if any
	frozen string // the file system under fsfreeze, if any
	mounts []string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bootContainer boots the container, or skips the test when this machine
// cannot run one. dropIn is added to traced.service in the container. The
// data directory is a small ext4 file system of its own (c.data), which can
// be frozen, when loop devices are available.
func bootContainer(t *testing.T, dropIn string) *container {
	t.Helper()
	needTools(t, "systemd-nspawn", "nsenter", "mount", "umount")
	for _, l := range []string{"/bin", "/lib", "/sbin"} {
		if fi, err := os.Lstat(l); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not a link into /usr: the container needs a merged /usr", l)
			}
			t.Skipf("%s is not a link into /usr: the container needs a merged /usr (skipped outside CI)", l)
		}
	}
	root, err := os.MkdirTemp("", "traced-ct-")
	if err != nil {
		t.Fatal(err)
	}
	c := &container{t: t, root: root, out: &lockedBuffer{}}
	t.Cleanup(c.destroy)
	if err := os.Chmod(root, 0o755); err != nil { // the container's /
		t.Fatal(err)
	}
	for _, d := range []string{"usr", "var/lib", "var/log", "var/tmp", "tmp", "dev", "proc", "sys", "run", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "lib", "lib64", "sbin"} {
		if target, err := os.Readlink("/" + l); err == nil {
			if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(t, nil, "cp", "-a", "/etc", filepath.Join(root, "etc"))
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), []byte(hex.EncodeToString(id)+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	// Only traced starts in the container.
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	ents, _ := os.ReadDir(wants)
	for _, e := range ents {
		if e.Name() != "traced.service" {
			os.Remove(filepath.Join(wants, e.Name()))
		}
	}
	if dropIn != "" {
		dir := filepath.Join(root, "etc/systemd/system/traced.service.d")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "50-test.conf"), []byte(dropIn), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.mount("--bind", "/usr", filepath.Join(root, "usr"))
	c.mount("-o", "remount,bind,ro", filepath.Join(root, "usr"))
	img := filepath.Join(t.TempDir(), "data.img")
	data := filepath.Join(root, "var/lib/traced")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := runErr(nil, "sh", "-c", `truncate -s 64M "$0" && mkfs.ext4 -q -F "$0" && mount -o loop "$0" "$1"`, img, data); err == nil {
		c.mounts = append(c.mounts, data)
		c.data = data
	} else {
		t.Logf("no loop device for a data file system of its own: %v\n%s", err, out)
	}

	c.cmd = exec.Command("systemd-nspawn", "-D", root, "--register=no", "--keep-unit", "--private-network",
		"-M", "tracedtest", "--console=passive", "-b")
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-c.done:
			c.done <- err
			if os.Getenv("CI") != "" {
				t.Fatalf("systemd-nspawn exited: %v\n%s", err, c.out.String())
			}
			t.Skipf("this machine cannot boot a container: %v\n%s", err, c.out.String())
		default:
		}
		if c.leader == 0 {
			c.leader = childOf(c.cmd.Process.Pid, "systemd")
		}
		state := ""
		if c.leader != 0 {
			state, _ = c.execErr("systemctl", "is-system-running")
			if s := strings.TrimSpace(state); s == "running" || s == "degraded" {
				return c
			}
		}
		if time.Now().After(deadline) {
			jobs, _ := c.execErr("systemctl", "list-jobs", "--no-pager")
			j, _ := c.execErr("journalctl", "-b", "--no-pager", "-n", "60")
			jobs += j
			t.Fatalf("the container's systemd (pid %d) did not finish booting: %s\n%s\n%s", c.leader, state, jobs, c.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *container) mount(args ...string) {
	c.t.Helper()
	run(c.t, nil, "mount", args...)
	target := args[len(args)-1]
	for _, m := range c.mounts {
		if m == target {
			return
		}
	}
	c.mounts = append(c.mounts, target)
}

// childOf returns the child of pid named comm.
func childOf(pid int, comm string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.HasPrefix(s[strings.IndexByte(s, '(')+1:], comm+")") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			return p
		}
	}
	return 0
}

// exec runs a command in the container (every namespace of its systemd).
func (c *container) exec(args ...string) string {
	c.t.Helper()
	out, err := c.execErr(args...)
	if err != nil {
		c.t.Fatalf("in the container, %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *container) execErr(args ...string) (string, error) {
	return runErr(nil, "nsenter", append([]string{"-t", strconv.Itoa(c.leader), "-a"}, args...)...)
}

func (c *container) show(prop string) string {
	c.t.Helper()
	return strings.TrimSpace(c.exec("systemctl", "show", "traced.service", "-p", prop, "--value"))
}

// waitFor polls cond until it holds or timeout passes.
func (c *container) waitFor(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("in the container: %s did not happen within %s; traced.service: %s %s, status %q\n%s",
				what, timeout, c.show("ActiveState"), c.show("SubState"), c.show("StatusText"), c.journal(""))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *container) journal(priority string) string {
	args := []string{"journalctl", "-u", "traced.service", "--no-pager", "-o", "cat"}
	if priority != "" {
		args = append(args, "-p", priority)
	}
	out, _ := c.execErr(args...)
	return out
}

func (c *container) destroy() {
	t := c.t
	if c.frozen != "" {
		_, _ = runErr(nil, "fsfreeze", "-u", c.frozen)
	}
	if c.cmd != nil && c.cmd.Process != nil {
		if c.leader != 0 {
			_, _ = c.execErr("systemctl", "poweroff")
		}
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	for i := len(c.mounts) - 1; i >= 0; i-- {
		if out, err := runErr(nil, "umount", c.mounts[i]); err != nil {
			t.Errorf("cleanup: umount %s: %v\n%s", c.mounts[i], err, out)
		}
	}
	// Never remove a tree that still has something mounted in it.
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil || bytes.Contains(mi, []byte(" "+c.root+"/")) {
		t.Errorf("cleanup: %s still has mounts: left in place", c.root)
		return
	}
	os.RemoveAll(c.root)
}

// sendHEP sends n HEP packets to traced's UDP port inside the container.
func (c *container) sendHEP(n int, seed uint64) {
	c.t.Helper()
	dir := c.t.TempDir()
	gen := sipgen.New(seed, time.Now())
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d", i)), gen.Next(), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	// The container's network namespace only: the files are this machine's.
	run(c.t, nil, "nsenter", "-t", strconv.Itoa(c.leader), "-n", "bash", "-c",
		`for f in "$0"/*; do cat "$f" > /dev/udp/127.0.0.1/9060; done`, dir)
}

// underSystemd runs the installed package's traced.service under a real
// systemd: started as Type=notify with everything bound, as the traced user
// with no capability and a seccomp filter; STATUS= counts what it stores;
// its log levels reach the journal; a frozen data file system stops the
// watchdog pings and systemd restarts traced; a port below 1024 gets
// CAP_NET_BIND_SERVICE through the generator; stop is clean.
func underSystemd(t *testing.T) {
	// A short watchdog, so that the test sees it fire within seconds.
	c := bootContainer(t, "[Service]\nWatchdogSec=6s\n")

	freezable := c.data
	if freezable == "" {
		t.Log("no data file system of its own to freeze: the watchdog part is left out")
	}

	c.waitFor("traced.service active", 30*time.Second, func() bool {
		return c.show("ActiveState") == "active" && c.show("SubState") == "running"
	})
	if s := c.show("StatusText"); !strings.Contains(s, "pkt/s") {
		t.Errorf("STATUS=%q", s)
	}
	if r := c.show("NRestarts"); r != "0" {
		t.Errorf("traced restarted %s times while healthy\n%s", r, c.journal(""))
	}
	pid := c.show("MainPID")
	st := c.exec("cat", "/proc/"+pid+"/status")
	uid := strings.TrimSpace(run(t, nil, "id", "-u", "traced"))
	for _, want := range []string{"\nUid:\t" + uid + "\t", "\nCapEff:\t0000000000000000\n", "\nCapBnd:\t0000000000000000\n",
		"\nCapAmb:\t0000000000000000\n", "\nNoNewPrivs:\t1\n", "\nSeccomp:\t2\n"} {
		if !strings.Contains(st, want) {
			t.Errorf("traced's /proc status lacks %q:\n%s", strings.TrimSpace(want), st)
		}
	}

	// Packets: stored and counted in STATUS=, and seen by tracectl.
	const n = 25
	c.sendHEP(n, 5)
	c.waitFor(fmt.Sprintf("STATUS= with stored %d", n), 20*time.Second, func() bool {
		return strings.Contains(c.show("StatusText"), fmt.Sprintf("stored %d,", n))
	})
	if out := c.exec("tracectl", "status"); !strings.Contains(out, fmt.Sprintf("stored:      %d", n)) {
		t.Errorf("tracectl status in the container:\n%s", out)
	}

	// Log levels: warnings are warnings in the journal, information is not.
	warn := c.journal("warning")
	if !strings.Contains(warn, "web login is admin/admin") || strings.Contains(warn, "traced ready") {
		t.Errorf("journalctl -p warning:\n%s", warn)
	}
	if info := c.journal("info"); !strings.Contains(info, "msg=\"traced ready\"") || strings.Contains(info, "time=") {
		t.Errorf("journalctl -p info (want traced ready, without time=):\n%s", info)
	}

	// A frozen data file system: writes hang, the pings stop, systemd kills
	// traced and starts it again once the file system thaws.
	if freezable != "" {
		run(t, nil, "fsfreeze", "-f", freezable)
		c.frozen = freezable
		c.sendHEP(5, 6)
		notAlive := ""
		frozeAt := time.Now()
		c.waitFor("the watchdog timeout", 40*time.Second, func() bool {
			if s := c.show("StatusText"); strings.HasPrefix(s, "NOT ALIVE") {
				notAlive = s
			}
			return strings.Contains(c.journal(""), "Watchdog timeout")
		})
		t.Logf("data file system frozen: watchdog timeout after %s; STATUS=%q", time.Since(frozeAt).Round(100*time.Millisecond), notAlive)
		if notAlive == "" && !strings.Contains(c.journal("err"), "watchdog pings withheld") {
			t.Errorf("no NOT ALIVE status or error log before the watchdog fired\n%s", c.journal(""))
		}
		run(t, nil, "fsfreeze", "-u", freezable)
		c.frozen = ""
		c.waitFor("traced restarted", 60*time.Second, func() bool {
			return c.show("NRestarts") == "1" && c.show("ActiveState") == "active" && c.show("SubState") == "running"
		})
		if j := c.journal(""); !strings.Contains(j, "Failed with result 'watchdog'") {
			t.Errorf("the journal does not say the watchdog failed traced:\n%s", j)
		}
		if e := c.journal("err"); !strings.Contains(e, "watchdog pings withheld") {
			t.Errorf("traced did not log, as an error, why it withheld the pings:\n%s", e)
		}
		t.Logf("thawed: traced restarted by systemd (Restart=on-failure), %s", c.show("StatusText"))
	}

	// A port below 1024: the generator grants CAP_NET_BIND_SERVICE alone.
	f, err := os.OpenFile(filepath.Join(c.root, "etc/default/traced"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("TRACED_WEB_ADDR=127.0.0.1:80\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c.exec("systemctl", "daemon-reload")
	c.exec("systemctl", "restart", "traced.service")
	c.waitFor("traced.service active on port 80", 30*time.Second, func() bool { return c.show("SubState") == "running" })
	st = c.exec("cat", "/proc/"+c.show("MainPID")+"/status")
	if !strings.Contains(st, "\nCapEff:\t0000000000000400\n") || !strings.Contains(st, "\nCapBnd:\t0000000000000400\n") {
		t.Errorf("with web on port 80, traced's capabilities are not CAP_NET_BIND_SERVICE alone:\n%s", st)
	}
	if out := c.exec("ss", "-ltn"); !strings.Contains(out, "127.0.0.1:80 ") {
		t.Errorf("traced does not listen on port 80:\n%s", out)
	}

	// Stop: STOPPING=1, a clean exit.
	c.exec("systemctl", "stop", "traced.service")
	if s, r := c.show("ActiveState"), c.show("Result"); s != "inactive" || r != "success" {
		t.Errorf("after stop: %s, result %s\n%s", s, r, c.journal(""))
	}
	if j := c.journal(""); !strings.Contains(j, "msg=stopped") {
		t.Errorf("traced did not log its stop:\n%s", j)
	}
}
