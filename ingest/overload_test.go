package ingest

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"traced/segment"
)

// gatedStore blocks every Append while the gate is closed: a store that cannot
// keep up.
type gatedStore struct {
	*memStore
	mu   sync.Mutex
	open chan struct{}
}

func (g *gatedStore) Append(r segment.Record) error {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
	return g.memStore.Append(r)
}

// When packets come faster than the store takes them, the listener sheds load
// visibly (the kernel's drops on traced's socket are counted) with bounded
// memory, and stores again by itself once the store keeps up.
func TestOverloadShedsVisiblyAndRecovers(t *testing.T) {
	st := &gatedStore{memStore: newMemStore(), open: make(chan struct{})}
	s, err := New(Config{HEPAddrs: []string{"127.0.0.1:0"}, Store: st, UDPReadBuffer: 256 << 10, LogEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := net.Dial("udp", s.UDPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const flood = 20000
	for i := 0; i < flood; i++ {
		c.Write(hepPacket(fmt.Sprintf("flood-%d@test", i), ""))
	}
	waitFor(t, "kernel drops", func() bool { return s.KernelDrops()["udp"] > 0 })
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	if grew := int64(during.HeapInuse) - int64(before.HeapInuse); grew > 64<<20 {
		t.Errorf("heap grew by %d MiB while the store was blocked", grew>>20)
	}

	close(st.open) // the store keeps up again
	waitFor(t, "the backlog in hand to drain", func() bool {
		recv := s.Stats().Received["udp"]
		return recv > 0 && s.Stats().Accepted == recv
	})
	drops := s.KernelDrops()["udp"]
	recv := s.Stats().Received["udp"]
	if recv+drops != flood {
		t.Errorf("received %d + dropped %d != sent %d: load was lost without being counted", recv, drops, flood)
	}
	n := st.len()
	c.Write(hepPacket("after@test", ""))
	waitFor(t, "a packet after the overload", func() bool { return st.len() == n+1 })
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
