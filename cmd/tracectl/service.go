package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

const unitName = "traced.service"

// Exit codes of tracectl, after the LSB's for status: 3 traced is not running,
// 4 traced is not installed, 5 systemd is not running here; 1 any other error.
const (
	exitNotRunning   = 3
	exitNotInstalled = 4
	exitNoSystemd    = 5
)

// exitError is an error with the exit code tracectl ends with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitf(code int, format string, a ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, a...)}
}

// systemdRunning says whether systemd is this machine's init, as
// sd_booted(3) tells it.
func systemdRunning() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

func initName() string {
	b, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

var errNoSystemd = errors.New("systemd is not running")

// manager is traced.service as systemd's D-Bus API shows it.
type manager struct {
	conn *sdbus.Conn
}

// connect opens systemd's D-Bus API: the system bus, or as root systemd's own
// socket when the bus is down.
func connect(ctx context.Context) (*manager, error) {
	if !systemdRunning() {
		return nil, &exitError{code: exitNoSystemd, err: fmt.Errorf(
			"%w on this machine (PID 1 is %q), so traced.service cannot be managed here: run traced yourself (traced --help)",
			errNoSystemd, initName())}
	}
	conn, err := sdbus.NewWithContext(ctx)
	if err != nil {
		hint := ""
		if os.Geteuid() != 0 {
			hint = " (as root, tracectl can also use systemd's private socket)"
		}
		return nil, fmt.Errorf("connect to systemd over D-Bus%s: %w", hint, err)
	}
	return &manager{conn: conn}, nil
}

func (m *manager) Close() { m.conn.Close() }

// unitState is what status shows of the unit.
type unitState struct {
	Load      string    `json:"load_state"`   // loaded, not-found, masked
	Active    string    `json:"active_state"` // active, inactive, failed, activating, ...
	Sub       string    `json:"sub_state"`    // running, dead, ...
	Result    string    `json:"result"`       // success, watchdog, exit-code, ...
	FileState string    `json:"unit_file_state"`
	MainPID   uint32    `json:"main_pid"`
	Restarts  uint32    `json:"restarts"`
	Status    string    `json:"status_text"` // traced's STATUS=
	Since     time.Time `json:"since,omitzero"`
}

func (m *manager) state(ctx context.Context) (unitState, error) {
	var s unitState
	props, err := m.conn.GetAllPropertiesContext(ctx, unitName)
	if err != nil {
		return s, fmt.Errorf("ask systemd about %s: %w", unitName, err)
	}
	str := func(k string) string { v, _ := props[k].(string); return v }
	u32 := func(k string) uint32 { v, _ := props[k].(uint32); return v }
	s.Load, s.Active, s.Sub = str("LoadState"), str("ActiveState"), str("SubState")
	s.Result, s.FileState, s.Status = str("Result"), str("UnitFileState"), str("StatusText")
	s.MainPID, s.Restarts = u32("MainPID"), u32("NRestarts")
	if us, ok := props["ActiveEnterTimestamp"].(uint64); ok && us > 0 && s.Active == "active" {
		s.Since = time.UnixMicro(int64(us)).UTC()
	}
	return s, nil
}

// installed fails with exit code 4 when systemd knows no traced.service.
func (m *manager) installed(ctx context.Context) (unitState, error) {
	s, err := m.state(ctx)
	if err != nil {
		return s, err
	}
	if s.Load == "not-found" {
		return s, exitf(exitNotInstalled, "%s is not installed (install the traced package: sh install.sh, or apt install ./traced_*.deb)", unitName)
	}
	return s, nil
}

// job runs a start, stop or restart job and waits for it to finish. A started
// unit of Type=notify is active only once traced said READY=1.
func (m *manager) job(ctx context.Context, verb string) error {
	ch := make(chan string, 1)
	var err error
	switch verb {
	case "start":
		_, err = m.conn.StartUnitContext(ctx, unitName, "replace", ch)
	case "stop":
		_, err = m.conn.StopUnitContext(ctx, unitName, "replace", ch)
	case "restart":
		_, err = m.conn.RestartUnitContext(ctx, unitName, "replace", ch)
	default:
		return fmt.Errorf("unknown job %q", verb)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w%s", verb, unitName, err, rootHint(err))
	}
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("%s %s: the job ended %q: see tracectl logs", verb, unitName, res)
		}
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", verb, unitName, ctx.Err())
	}
	return nil
}

func rootHint(err error) string {
	if strings.Contains(err.Error(), "Access denied") || strings.Contains(err.Error(), "Interactive authentication required") {
		return " (run tracectl as root)"
	}
	return ""
}

func (m *manager) enable(ctx context.Context) error {
	if _, _, err := m.conn.EnableUnitFilesContext(ctx, []string{unitName}, false, false); err != nil {
		return fmt.Errorf("enable %s: %w%s", unitName, err, rootHint(err))
	}
	return m.reload(ctx) // as systemctl enable does

}

func (m *manager) disable(ctx context.Context) error {
	if _, err := m.conn.DisableUnitFilesContext(ctx, []string{unitName}, false); err != nil {
		return fmt.Errorf("disable %s: %w%s", unitName, err, rootHint(err))
	}
	return m.reload(ctx) // as systemctl disable does

}

func (m *manager) reload(ctx context.Context) error {
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("reload systemd's units: %w%s", err, rootHint(err))
	}
	return nil
}

// describe is the unit's state in a line, as systemctl status words it.
func (s unitState) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", s.Active, s.Sub)
	if !s.Since.IsZero() {
		fmt.Fprintf(&b, " since %s (%s)", s.Since.Format(time.RFC3339), time.Since(s.Since).Round(time.Second))
	}
	if s.Active == "failed" && s.Result != "" {
		fmt.Fprintf(&b, ", result %s", s.Result)
	}
	if s.MainPID != 0 {
		fmt.Fprintf(&b, ", main PID %d", s.MainPID)
	}
	if s.FileState != "" {
		fmt.Fprintf(&b, ", %s at boot", s.FileState)
	}
	if s.Restarts > 0 {
		fmt.Fprintf(&b, ", restarted %d times", s.Restarts)
	}
	return b.String()
}
