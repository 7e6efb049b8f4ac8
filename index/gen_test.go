package index

import (
	"fmt"
	"math/rand/v2"

	"traced/segment"
)

// traffic generates the terms of realistic blocks: calls of several messages
// each, with random Call-IDs, subscriber numbers drawn from a large population,
// a few dozen IP addresses, methods, statuses and user agents.
type traffic struct {
	rng   *rand.Rand
	calls int // calls started so far, for unique ids
}

func newTraffic(seed uint64) *traffic {
	return &traffic{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// block returns the fields of one block of n records from about calls calls,
// and the records' time range starting at t0 (Unix µs).
func (g *traffic) block(n, calls int, t0 int64) Fields {
	methods := [...]string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "UPDATE"}
	statuses := [...]string{"100", "180", "183", "200", "401", "407", "486", "487", "503"}
	agents := [...]string{
		"PortSIP VoIP SDK 19.2", "Yealink SIP-T46S 66.86.0.15", "Grandstream GXP2170 1.0.11.3",
		"FreeSWITCH-mod_sofia/1.10.11", "Asterisk PBX 20.5.0", "Linphone/5.2.0", "Zoiper rv2.10.19",
		"Cisco-CP8865/14.2.1", "PolycomVVX-VVX_450-UA/6.4.6", "MicroSIP/3.21.3",
	}
	var f Fields
	type call struct {
		id, sid, xcid, from, to, ruri, pai, src, dst, ua string
	}
	cs := make([]call, calls)
	for i := range cs {
		g.calls++
		c := &cs[i]
		c.id = fmt.Sprintf("%016x%08x@%d.%d.%d.%d", g.rng.Uint64(), g.calls, 10, g.rng.IntN(4), g.rng.IntN(256), g.rng.IntN(256))
		if g.rng.IntN(3) == 0 {
			c.sid = fmt.Sprintf("%032x", g.rng.Uint64())
		}
		if g.rng.IntN(4) == 0 {
			c.xcid = fmt.Sprintf("x-%x", g.rng.Uint64())
		}
		c.from = fmt.Sprintf("+4930%07d", g.rng.IntN(1_000_000))
		c.to = fmt.Sprintf("+4989%07d", g.rng.IntN(1_000_000))
		c.ruri = c.to
		if g.rng.IntN(2) == 0 {
			c.pai = c.from
		}
		c.src = fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(2), g.rng.IntN(4), g.rng.IntN(8))
		c.dst = fmt.Sprintf("192.0.2.%d", g.rng.IntN(32))
		c.ua = agents[g.rng.IntN(len(agents))]
	}
	for i := range n {
		c := &cs[g.rng.IntN(calls)]
		f.CallIDs = append(f.CallIDs, c.id)
		if c.sid != "" {
			f.SessionIDs = append(f.SessionIDs, c.sid)
		}
		if c.xcid != "" {
			f.XCIDs = append(f.XCIDs, c.xcid)
		}
		f.FromUsers = append(f.FromUsers, c.from)
		f.ToUsers = append(f.ToUsers, c.to)
		f.RURIUsers = append(f.RURIUsers, c.ruri)
		if c.pai != "" {
			f.PAIUsers = append(f.PAIUsers, c.pai)
		}
		if i%2 == 0 {
			f.SrcIPs, f.DstIPs = append(f.SrcIPs, c.src), append(f.DstIPs, c.dst)
		} else {
			f.SrcIPs, f.DstIPs = append(f.SrcIPs, c.dst), append(f.DstIPs, c.src)
		}
		if g.rng.IntN(2) == 0 {
			f.Methods = append(f.Methods, methods[g.rng.IntN(len(methods))])
		} else {
			f.Statuses = append(f.Statuses, statuses[g.rng.IntN(len(statuses))])
		}
		f.UserAgents = append(f.UserAgents, c.ua)
		f.Nodes = append(f.Nodes, "2001", "pbx1")
		f.Types = append(f.Types, "1")
	}
	f.MinTime, f.MaxTime = t0, t0+int64(g.rng.IntN(1_000_000))
	return f
}

// entries returns n consecutive blocks of hour h starting at file offset off,
// each of recs records from calls calls.
func (g *traffic) entries(h segment.Hour, off int64, n, recs, calls int) []Entry {
	es := make([]Entry, n)
	t0 := h.Time().UnixMicro()
	for i := range es {
		f := g.block(recs, calls, t0+off)
		size := int64(20_000 + g.rng.IntN(2000))
		es[i] = Entry{
			Info: segment.BlockInfo{
				Ref:      segment.BlockRef{Hour: h, Off: off},
				Next:     off + size,
				FrameLen: uint32(size - 48),
				RawLen:   uint32(recs * 650),
				NRec:     uint32(recs),
				CRC:      g.rng.Uint32(),
				MinTime:  f.MinTime,
				MaxTime:  f.MaxTime,
			},
			Fields: f,
		}
		off += size
	}
	return es
}
