package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"traced/internal/sipgen"
)

// container is Debian's systemd booted as PID 1 of fresh PID, mount, network,
// UTS and IPC namespaces (unshare), with the traced package installed on this
// machine. Inside, /run and /tmp are empty file systems of their own; the
// machine's /etc/default and /etc/systemd/system are replaced by copies, so
// that what tracectl and systemctl change there stays inside; the data
// directory is a small file system of its own (ext4 on a loop device, which
// can be frozen, or tmpfs); and the target it boots wants only the journal,
// D-Bus and traced.service. Commands run inside through nsenter.
type container struct {
	t      *testing.T
	root   string
	cmd    *exec.Cmd
	done   chan error
	out    *lockedBuffer
	leader int             // the namespace's PID 1, as this machine numbers it
	data   string          // the data directory's own file system, when it can be frozen
	frozen string          // the file system under fsfreeze, if any
	before map[string]bool // unit-named cgroups that existed before the boot
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

// bootTarget is the unit the namespace's systemd starts.
const bootTarget = `[Unit]
Description=traced under systemd, for its tests
Wants=systemd-journald.socket dbus.socket traced.service
`

// maskedUnits would change this machine rather than the namespace (kernel
// settings, binfmt, modules, devices) and are masked inside.
var maskedUnits = []string{
	"systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket", "systemd-udev-trigger.service",
	"systemd-udev-settle.service", "systemd-sysctl.service", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
	"proc-sys-fs-binfmt_misc.mount", "systemd-modules-load.service", "systemd-remount-fs.service", "kmod-static-nodes.service",
	"systemd-random-seed.service", "systemd-hwdb-update.service", "systemd-firstboot.service", "systemd-machine-id-commit.service",
	"systemd-timesyncd.service", "systemd-logind.service", "getty.target", "console-getty.service", "serial-getty@.service",
	"sys-kernel-config.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-fs-fuse-connections.mount",
	"dev-hugepages.mount", "dev-mqueue.mount", "systemd-pstore.service", "apt-daily.timer", "apt-daily-upgrade.timer",
	"e2scrub_reap.service", "e2scrub_all.timer", "fstrim.timer", "man-db.timer", "logrotate.timer", "cron.service",
}

// bootScript runs as the namespace's first process and becomes its systemd.
const bootScript = `set -eu
root=$1
ip link set lo up
hostname tracedtest
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/system/traced.service.d
cp "$root/traced-test.target" /run/systemd/system/
cp "$root/50-test.conf" /run/systemd/system/traced.service.d/
for u in $(cat "$root/masked"); do ln -s /dev/null "/run/systemd/system/$u"; done
cp -a /etc/default "$root/etc-default"
mount --bind "$root/etc-default" /etc/default
cp -a /etc/systemd/system "$root/etc-systemd-system"
mount --bind "$root/etc-systemd-system" /etc/systemd/system
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
if mount -o loop "$root/data.img" /var/lib/traced 2>/dev/null; then
	echo "data: ext4"
else
	mount -t tmpfs -o size=64m tmpfs /var/lib/traced
	echo "data: tmpfs"
fi
chown traced:traced /var/lib/traced
chmod 0750 /var/lib/traced
mount -t tmpfs -o mode=1777 tmpfs /tmp
exec /lib/systemd/systemd --system --unit=traced-test.target
`

// bootContainer boots the namespace's systemd, or skips the test (fails it
// under CI) when this machine cannot. dropIn is added to traced.service inside.
func bootContainer(t *testing.T, dropIn string) *container {
	t.Helper()
	needTools(t, "unshare", "nsenter", "mount", "ip", "dbus-daemon", "mkfs.ext4")
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		unavailable(t, "systemd is not installed")
	}
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		t.Log("systemd runs this machine; the test boots another one in namespaces of its own")
	}
	root, err := os.MkdirTemp("", "traced-boot-")
	if err != nil {
		t.Fatal(err)
	}
	c := &container{t: t, root: root, out: &lockedBuffer{}, before: unitCgroups()}
	t.Cleanup(c.destroy)
	for name, body := range map[string]string{
		"traced-test.target": bootTarget,
		"50-test.conf":       dropIn,
		"masked":             strings.Join(maskedUnits, "\n") + "\n",
		"boot.sh":            bootScript,
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(root, "data.img")
	if out, err := runErr(nil, "sh", "-c", `truncate -s 64M "$0" && mkfs.ext4 -q -F "$0"`, img); err != nil {
		t.Logf("no ext4 image for the data directory: %v\n%s", err, out)
	}

	c.cmd = exec.Command("unshare", "--fork", "--pid", "--mount", "--net", "--uts", "--ipc", "--mount-proc",
		"sh", filepath.Join(root, "boot.sh"), root)
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
			unavailable(t, fmt.Sprintf("systemd did not boot in fresh namespaces: %v\n%s", err, c.out.String()))
		default:
		}
		if c.leader == 0 {
			c.leader = childOf(c.cmd.Process.Pid, "systemd")
		}
		state := ""
		if c.leader != 0 {
			state, _ = c.execErr("systemctl", "is-system-running")
			if s := strings.TrimSpace(state); s == "running" || s == "degraded" {
				if strings.Contains(c.out.String(), "data: ext4") {
					c.data = "/var/lib/traced"
				}
				return c
			}
		}
		if time.Now().After(deadline) {
			jobs, _ := c.execErr("systemctl", "list-jobs", "--no-pager")
			j, _ := c.execErr("journalctl", "-b", "--no-pager", "-n", "60")
			t.Fatalf("systemd (pid %d) did not finish booting: %s\n%s\n%s\n%s", c.leader, state, jobs, j, c.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// unitCgroups lists the unit-named cgroup directories (*.slice, *.scope,
// *.service, *.mount) under /sys/fs/cgroup.
func unitCgroups() map[string]bool {
	found := map[string]bool{}
	_ = filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if unitNamed(d.Name()) {
			found[path] = true
		}
		return nil
	})
	return found
}

func unitNamed(name string) bool {
	for _, suf := range []string{".slice", ".scope", ".service", ".mount"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
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

// destroy ends the namespace by killing its PID 1, which ends everything in
// it and releases its mounts, then removes the empty cgroups its systemd
// created: unit-named directories that were not there before the boot, the
// deepest first. rmdir(2) removes only empty cgroups; no other is touched.
func (c *container) destroy() {
	t := c.t
	if c.frozen != "" && c.leader != 0 {
		_, _ = c.execErr("fsfreeze", "-u", c.frozen)
	}
	if c.cmd != nil && c.cmd.Process != nil {
		if c.leader != 0 {
			_ = syscall.Kill(c.leader, syscall.SIGKILL)
		}
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			t.Errorf("cleanup: the namespace's processes did not end")
		}
	}
	if c.before != nil {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var left []string
			for p := range unitCgroups() {
				if !c.before[p] {
					left = append(left, p)
				}
			}
			sort.Slice(left, func(i, j int) bool { return strings.Count(left[i], "/") > strings.Count(left[j], "/") })
			var errs []string
			for _, p := range left {
				if err := syscall.Rmdir(p); err != nil {
					errs = append(errs, p+": "+err.Error())
				}
			}
			if len(errs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("cleanup: cgroups left behind:\n%s", strings.Join(errs, "\n"))
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
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

// testDropIn shortens the watchdog so that the test sees it fire within
// seconds, and makes READY=1 checkable: ExecStartPost= runs only once traced
// said it is ready, and fails the start unless HEP port 9060 (0x2364) is then
// bound on UDP and TCP (IPv6 sockets, which take IPv4 too, or IPv4 ones).
const testDropIn = `[Service]
WatchdogSec=6s
TimeoutAbortSec=10s
ExecStartPost=/bin/sh -c 'cat /proc/net/udp /proc/net/udp6 | grep -qi ":2364 " && cat /proc/net/tcp /proc/net/tcp6 | grep -qi ":2364 "'
`

// underSystemd runs the installed package's traced.service under a real
// systemd, and tracectl's service commands through systemd's D-Bus API.
func underSystemd(t *testing.T) {
	c := bootContainer(t, testDropIn)

	// READY=1 only with the listeners bound (the ExecStartPost= check), and
	// active only after READY=1.
	c.waitFor("traced.service active", 30*time.Second, func() bool {
		return c.show("ActiveState") == "active" && c.show("SubState") == "running"
	})
	started, _ := strconv.ParseUint(c.show("ExecMainStartTimestampMonotonic"), 10, 64)
	active, _ := strconv.ParseUint(c.show("ActiveEnterTimestampMonotonic"), 10, 64)
	if started == 0 || active <= started {
		t.Errorf("active at %d µs, started at %d µs: not after READY", active, started)
	}
	if j := c.journal(""); strings.Index(j, "traced ready") < 0 || strings.Index(j, "traced ready") > strings.LastIndex(j, "Started ") {
		t.Errorf("the journal does not show traced ready before systemd's Started:\n%s", j)
	}
	if s := c.show("StatusText"); !strings.Contains(s, "pkt/s") {
		t.Errorf("STATUS=%q", s)
	}
	if r := c.show("NRestarts"); r != "0" {
		t.Errorf("traced restarted %s times while healthy\n%s", r, c.journal(""))
	}

	// Hardening: the traced user, no capability, seccomp, and a read-only
	// file system but for the state directory.
	pid := c.show("MainPID")
	st := c.exec("cat", "/proc/"+pid+"/status")
	uid := strings.TrimSpace(run(t, nil, "id", "-u", "traced"))
	for _, want := range []string{"\nUid:\t" + uid + "\t", "\nCapEff:\t0000000000000000\n", "\nCapBnd:\t0000000000000000\n",
		"\nCapAmb:\t0000000000000000\n", "\nNoNewPrivs:\t1\n", "\nSeccomp:\t2\n"} {
		if !strings.Contains(st, want) {
			t.Errorf("traced's /proc status lacks %q:\n%s", strings.TrimSpace(want), st)
		}
	}
	for _, dir := range []string{"/etc", "/usr/bin", "/var/lib", "/var/log", "/root", "/home"} {
		out, err := c.execErr("nsenter", "-t", pid, "-m", "sh", "-c", "touch "+dir+"/traced-probe")
		if err == nil {
			t.Errorf("in traced's view of the file system, %s is writable", dir)
			_, _ = c.execErr("nsenter", "-t", pid, "-m", "rm", "-f", dir+"/traced-probe")
		} else if !strings.Contains(out, "Read-only file system") && !strings.Contains(out, "No such file or directory") &&
			!strings.Contains(out, "Permission denied") {
			t.Errorf("writing in %s from traced's view: %s", dir, out)
		}
	}
	c.exec("nsenter", "-t", pid, "-m", "sh", "-c", "touch /var/lib/traced/probe && rm /var/lib/traced/probe")

	// Packets sent on the namespace's loopback: stored, counted in STATUS=,
	// and shown by tracectl status with systemd's view of the unit.
	const n = 25
	c.sendHEP(n, 5)
	c.waitFor(fmt.Sprintf("STATUS= with stored %d", n), 20*time.Second, func() bool {
		return strings.Contains(c.show("StatusText"), fmt.Sprintf("stored %d,", n))
	})
	out := c.exec("tracectl", "status")
	for _, want := range []string{"traced.service: active (running)", "main PID " + pid, "enabled at boot", fmt.Sprintf("stored:      %d", n)} {
		if !strings.Contains(out, want) {
			t.Errorf("tracectl status lacks %q:\n%s", want, out)
		}
	}

	// Log levels in the journal; tracectl logs shows the unit's journal.
	warn := c.journal("warning")
	if !strings.Contains(warn, "web login is admin/admin") || strings.Contains(warn, "traced ready") {
		t.Errorf("journalctl -p warning:\n%s", warn)
	}
	if info := c.journal("info"); !strings.Contains(info, "msg=\"traced ready\"") || strings.Contains(info, "time=") {
		t.Errorf("journalctl -p info (want traced ready, without time=):\n%s", info)
	}
	if logs := c.exec("tracectl", "logs", "-n", "0"); !strings.Contains(logs, "traced ready") {
		t.Errorf("tracectl logs:\n%s", logs)
	}

	// stop, start, restart through tracectl (systemd's D-Bus API).
	out = c.exec("tracectl", "stop")
	if s := c.show("ActiveState"); s != "inactive" || !strings.Contains(out, "inactive (dead)") {
		t.Errorf("after tracectl stop: %s\n%s", s, out)
	}
	if j := c.journal(""); !strings.Contains(j, "msg=stopped") {
		t.Errorf("traced did not log its stop:\n%s", j)
	}
	out, err := c.execErr("tracectl", "status")
	if code := exitStatus(err); code != 3 || !strings.Contains(out, "traced.service: inactive (dead)") {
		t.Errorf("tracectl status of a stopped traced: exit %d, want 3\n%s", code, out)
	}
	c.exec("tracectl", "start")
	if s := c.show("ActiveState"); s != "active" {
		t.Errorf("after tracectl start: %s", s)
	}
	if out := c.exec("tracectl", "status"); !strings.Contains(out, fmt.Sprintf("stored:      0")) && !strings.Contains(out, "segments:    ") {
		t.Errorf("tracectl status after start:\n%s", out)
	}
	before := c.show("MainPID")
	c.exec("tracectl", "restart")
	if after := c.show("MainPID"); after == before || c.show("ActiveState") != "active" {
		t.Errorf("after tracectl restart: main PID %s (was %s), %s", after, before, c.show("ActiveState"))
	}

	// tracectl run -k 9 -l PORT: the settings file inside is edited, traced
	// restarted with them and listening on the new web port.
	const webPort = 9180
	out = c.exec("tracectl", "run", "-k", "9", "-l", strconv.Itoa(webPort))
	if !strings.Contains(out, fmt.Sprintf(":%d/", webPort)) {
		t.Errorf("tracectl run output:\n%s", out)
	}
	settings := c.exec("cat", "/etc/default/traced")
	if !strings.Contains(settings, "\nTRACED_RETENTION_DAYS=9\n") || !strings.Contains(settings, fmt.Sprintf("\nTRACED_WEB_PORT=%d\n", webPort)) ||
		!strings.Contains(settings, "#TRACED_RETENTION_DAYS=5\n") {
		t.Errorf("/etc/default/traced after tracectl run:\n%s", settings)
	}
	if host, _ := os.ReadFile("/etc/default/traced"); bytes.Contains(host, []byte(fmt.Sprintf("TRACED_WEB_PORT=%d", webPort))) {
		t.Error("tracectl run inside the namespace changed this machine's /etc/default/traced")
	}
	if js := c.exec("tracectl", "status", "--json"); !strings.Contains(js, `"retention_days": 9`) {
		t.Errorf("tracectl status --json after run -k 9:\n%s", js)
	}
	if _, err := c.execErr("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", webPort)); err != nil {
		t.Errorf("nothing listens on the web port %d after tracectl run: %v", webPort, err)
	}
	if out, err := c.execErr("tracectl", "run", "-l", "9060"); err == nil || !strings.Contains(out, "HEP") {
		t.Errorf("tracectl run -l 9060 (the HEP port) was not refused:\n%s", out)
	}

	// A wedged traced (SIGSTOP): no more pings, systemd's watchdog aborts it
	// and Restart=on-failure starts it again.
	restarts := c.show("NRestarts")
	pid = c.show("MainPID")
	c.exec("kill", "-STOP", pid)
	stoppedAt := time.Now()
	c.waitFor("the watchdog restart of a stopped traced", 40*time.Second, func() bool {
		return c.show("NRestarts") != restarts && c.show("ActiveState") == "active" && c.show("SubState") == "running"
	})
	t.Logf("SIGSTOP: restarted by the watchdog after %s", time.Since(stoppedAt).Round(100*time.Millisecond))
	if j := c.journal(""); !strings.Contains(j, "Watchdog timeout") {
		t.Errorf("the journal does not show the watchdog timeout:\n%s", j)
	}

	// A frozen data file system: writes hang, traced withholds the pings and
	// says why; systemd restarts it once the file system thaws.
	if c.data != "" {
		restarts = c.show("NRestarts")
		c.exec("fsfreeze", "-f", c.data)
		c.frozen = c.data
		c.sendHEP(5, 6)
		notAlive := ""
		c.waitFor("the watchdog timeout on a frozen disk", 40*time.Second, func() bool {
			if s := c.show("StatusText"); strings.HasPrefix(s, "NOT ALIVE") {
				notAlive = s
			}
			return strings.Count(c.journal(""), "Watchdog timeout") >= 2
		})
		if notAlive == "" && !strings.Contains(c.journal("err"), "watchdog pings withheld") {
			t.Errorf("no NOT ALIVE status or error log before the watchdog fired\n%s", c.journal(""))
		}
		c.exec("fsfreeze", "-u", c.data)
		c.frozen = ""
		c.waitFor("traced restarted after the thaw", 60*time.Second, func() bool {
			return c.show("NRestarts") != restarts && c.show("ActiveState") == "active" && c.show("SubState") == "running"
		})
		if e := c.journal("err"); !strings.Contains(e, "watchdog pings withheld") {
			t.Errorf("traced did not log, as an error, why it withheld the pings:\n%s", e)
		}
	} else {
		t.Log("the data directory is tmpfs (no loop device): the frozen-disk part is left out")
	}

	// rm: stopped, disabled, data kept.
	out = c.exec("tracectl", "rm")
	if s, f := c.show("ActiveState"), c.show("UnitFileState"); s != "inactive" || f != "disabled" {
		t.Errorf("after tracectl rm: %s, %s\n%s", s, f, out)
	}
	if segs := c.exec("ls", "/var/lib/traced/segments"); !strings.Contains(segs, ".seg") {
		t.Errorf("tracectl rm did not keep the data: %q", segs)
	}
	out, err = c.execErr("tracectl", "status")
	if code := exitStatus(err); code != 3 {
		t.Errorf("tracectl status after rm: exit %d, want 3\n%s", code, out)
	}
	// and run brings it back.
	c.exec("tracectl", "run")
	if s, f := c.show("ActiveState"), c.show("UnitFileState"); s != "active" || f != "enabled" {
		t.Errorf("after tracectl run following rm: %s, %s", s, f)
	}
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
