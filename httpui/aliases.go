package httpui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// AliasesFile is the aliases' file name in the data directory.
const AliasesFile = "aliases.json"

// Aliases names hosts for the ladder: an alias set for an IP:port wins over one
// for the IP. They live in DATA/aliases.json, replaced atomically on change.
type Aliases struct {
	path string
	mu   sync.RWMutex
	m    map[string]string // "10.0.0.1" or "10.0.0.1:5060" or "[2001:db8::1]:5060" → name
}

// Alias is one entry.
type Alias struct {
	Address string `json:"address"`
	Name    string `json:"name"`
}

// OpenAliases loads dir's aliases (none when the file does not exist).
func OpenAliases(dir string) (*Aliases, error) {
	a := &Aliases{path: filepath.Join(dir, AliasesFile), m: map[string]string{}}
	b, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read aliases: %w", err)
	}
	var list []Alias
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("read aliases %s: %w", a.path, err)
	}
	for _, e := range list {
		a.m[e.Address] = e.Name
	}
	return a, nil
}

// normAddress accepts "IP" or "IP:port" (IPv6 in brackets with a port) and
// returns its canonical form.
func normAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return ip.Unmap().String(), nil
	}
	return "", fmt.Errorf("%q is not an IP address or IP:port", s)
}

// Name returns the alias of a host, or "".
func (a *Aliases) Name(ap netip.AddrPort) string {
	if a == nil {
		return ""
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if n, ok := a.m[ap.String()]; ok {
		return n
	}
	return a.m[ap.Addr().Unmap().String()]
}

// List returns every alias, sorted by address.
func (a *Aliases) List() []Alias {
	if a == nil {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]Alias, 0, len(a.m))
	for k, v := range a.m {
		out = append(out, Alias{Address: k, Name: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// Set adds or changes an alias; an empty name removes it.
func (a *Aliases) Set(address, name string) error {
	if a == nil {
		return errors.New("aliases are not available")
	}
	addr, err := normAddress(address)
	if err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	if len(name) > 64 || strings.ContainsAny(name, "\r\n") {
		return fmt.Errorf("alias %q: at most 64 characters on one line", name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old, had := a.m[addr]
	if name == "" {
		delete(a.m, addr)
	} else {
		a.m[addr] = name
	}
	if err := a.save(); err != nil {
		if had {
			a.m[addr] = old
		} else {
			delete(a.m, addr)
		}
		return err
	}
	return nil
}

// save writes the file atomically: temp file, fsync, rename, fsync the directory.
func (a *Aliases) save() error {
	list := make([]Alias, 0, len(a.m))
	for k, v := range a.m {
		list = append(list, Alias{Address: k, Name: v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Address < list[j].Address })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(a.path)
	f, err := os.CreateTemp(dir, ".aliases-*.tmp")
	if err != nil {
		return fmt.Errorf("save aliases: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), a.path)
	}
	if err != nil {
		return fmt.Errorf("save aliases: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
