package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// defaultsPath is the settings file traced.service reads (EnvironmentFile=).
// TRACED_DEFAULTS names another one, as for the unit's generator.
func defaultsPath() string {
	if p := os.Getenv("TRACED_DEFAULTS"); p != "" {
		return p
	}
	return "/etc/default/traced"
}

// settings is a KEY=VALUE file as systemd's EnvironmentFile= reads it, kept line
// by line so that an edit changes only the lines it must: comments, blank lines,
// order and other settings stay as the administrator left them.
type settings struct {
	lines []string
	crlf  bool
}

func parseSettings(b []byte) *settings {
	s := &settings{crlf: bytes.Contains(b, []byte("\r\n"))}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	text = strings.TrimSuffix(text, "\n")
	if text != "" {
		s.lines = strings.Split(text, "\n")
	}
	return s
}

func (s *settings) bytes() []byte {
	nl := "\n"
	if s.crlf {
		nl = "\r\n"
	}
	if len(s.lines) == 0 {
		return nil
	}
	return []byte(strings.Join(s.lines, nl) + nl)
}

// assignment splits a line into its key and raw value. commented says the line
// is a commented-out assignment ("#KEY=value", as the shipped file has them).
func assignment(line string) (key, value string, commented, ok bool) {
	l := strings.TrimLeft(line, " \t")
	if strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
		commented = true
		l = strings.TrimLeft(l[1:], " \t")
	}
	l = strings.TrimPrefix(l, "export ")
	eq := strings.IndexByte(l, '=')
	if eq <= 0 {
		return "", "", false, false
	}
	key = strings.TrimSpace(l[:eq])
	for _, r := range key {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return "", "", false, false
		}
	}
	return key, strings.TrimSpace(l[eq+1:]), commented, true
}

// Get returns the value in effect for key (the last uncommented assignment, as
// systemd reads it), unquoted.
func (s *settings) Get(key string) (string, bool) {
	val, found := "", false
	for _, l := range s.lines {
		if k, v, commented, ok := assignment(l); ok && !commented && k == key {
			val, found = unquote(v), true
		}
	}
	return val, found
}

// Set makes key=value the setting in effect. The last uncommented assignment of
// key is rewritten in place and earlier ones are commented out; with none, the
// last commented-out "#KEY=..." line (the documented default) is followed by the
// new line, keeping the documentation above it; otherwise the line is appended.
func (s *settings) Set(key, value string) {
	line := key + "=" + quote(value)
	last, lastCommented := -1, -1
	for i, l := range s.lines {
		k, _, commented, ok := assignment(l)
		if !ok || k != key {
			continue
		}
		if commented {
			lastCommented = i
		} else {
			last = i
		}
	}
	switch {
	case last >= 0:
		for i, l := range s.lines {
			if k, _, commented, ok := assignment(l); ok && !commented && k == key && i != last {
				s.lines[i] = "#" + l
			}
		}
		s.lines[last] = line
	case lastCommented >= 0:
		s.lines = append(s.lines[:lastCommented+1], append([]string{line}, s.lines[lastCommented+1:]...)...)
	default:
		s.lines = append(s.lines, line)
	}
}

// quote returns v as EnvironmentFile= reads it back: bare when it is plain,
// single-quoted otherwise.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\"'\\$#;") {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// readSettings reads the settings file; a missing file is an empty one.
func readSettings(path string) (*settings, os.FileMode, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return parseSettings(nil), 0o644, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read settings: %w", err)
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	return parseSettings(b), mode, nil
}

// writeSettings replaces the settings file atomically, keeping its mode.
func writeSettings(path string, s *settings, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".traced-settings-*")
	if err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(s.bytes()); err != nil {
		f.Close()
		return fmt.Errorf("write settings %s: %w", f.Name(), err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write settings: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write settings: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	return nil
}
