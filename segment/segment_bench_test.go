package segment

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// benchRecords returns n SIP INVITEs of about 700 bytes whose Call-IDs, tags,
// branches, addresses and SDP vary as in real traffic.
func benchRecords(n int) []Record {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]Record, n)
	t0 := baseTime().UnixMicro()
	for i := range out {
		user, host := 1000+rng.IntN(9000), rng.IntN(254)+1
		data := fmt.Appendf(nil, "INVITE sip:%d@10.20.%d.%d:5060 SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 192.168.%d.%d:5060;branch=z9hG4bK%016x;rport\r\n"+
			"Max-Forwards: 70\r\n"+
			"From: \"%d\" <sip:%d@pbx.example.com>;tag=%08x\r\n"+
			"To: <sip:%d@pbx.example.com>\r\n"+
			"Call-ID: %016x%016x@192.168.%d.%d\r\n"+
			"CSeq: %d INVITE\r\n"+
			"Contact: <sip:%d@192.168.%d.%d:5060>\r\n"+
			"User-Agent: PortSIP VoIP SDK 19.2\r\n"+
			"Content-Type: application/sdp\r\nContent-Length: 228\r\n\r\n"+
			"v=0\r\no=- %d %d IN IP4 192.168.%d.%d\r\ns=-\r\nc=IN IP4 192.168.%d.%d\r\nt=0 0\r\n"+
			"m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
			"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
			user, host, rng.IntN(254)+1, host, rng.IntN(254)+1, rng.Uint64(),
			user+1, user+1, rng.Uint32(), user, rng.Uint64(), rng.Uint64(), host, rng.IntN(254)+1,
			rng.IntN(100)+1, user+1, host, rng.IntN(254)+1,
			rng.Uint32(), rng.Uint32(), host, rng.IntN(254)+1, host, rng.IntN(254)+1, 10000+2*rng.IntN(10000))
		out[i] = Record{Time: t0 + int64(i)*10, Data: data}
	}
	return out
}

func avgSize(recs []Record) int64 {
	var n int64
	for _, r := range recs {
		n += int64(len(r.Data))
	}
	return n / int64(len(recs))
}

// BenchmarkAppend measures Append including compression, writing and the fsyncs
// of the flush ticker. Run with -cpu 1 for the one-core figure.
func BenchmarkAppend(b *testing.B) {
	recs := benchRecords(4096)
	for _, bs := range []int{64 << 10, 256 << 10, 1 << 20} {
		for _, lvl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
			b.Run(fmt.Sprintf("block=%dK/level=%s", bs>>10, lvl), func(b *testing.B) {
				d, err := Open(b.TempDir(), Options{BlockSize: bs, Level: lvl, Now: newClock(baseTime()).Now})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(avgSize(recs))
				i := 0
				for b.Loop() {
					if err := d.Append(recs[i%len(recs)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
				if err := d.Flush(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
				st := d.Stats()
				b.ReportMetric(float64(st.Appended*avgSize(recs))/float64(st.BytesOnDisk), "ratio")
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkAppendParallel measures Append from many goroutines at once.
func BenchmarkAppendParallel(b *testing.B) {
	recs := benchRecords(4096)
	d, err := Open(b.TempDir(), Options{Now: newClock(baseTime()).Now})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(avgSize(recs))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(recs))
		for pb.Next() {
			if err := d.Append(recs[i%len(recs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	if err := d.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.StopTimer()
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
}

// benchSealedDir writes n records in blocks of 256 KiB into a sealed file and
// returns the directory and the blocks.
func benchSealedDir(b *testing.B, n int) (string, []BlockInfo) {
	b.Helper()
	dir := b.TempDir()
	d, err := Open(dir, Options{Now: newClock(baseTime()).Now})
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(4096)
	for i := range n {
		if err := d.Append(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	d, err = Open(dir, Options{Now: newClock(baseTime().Add(2 * time.Hour)).Now})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	return dir, blockInfos(b, d, baseHour())
}

// BenchmarkReadBlock reads random blocks of 256 KiB: cold decodes every block
// from the file (in the page cache), warm hits the block cache.
func BenchmarkReadBlock(b *testing.B) {
	dir, infos := benchSealedDir(b, 64*370)
	for _, c := range []struct {
		name  string
		cache int
	}{{name: "cold", cache: -1}, {name: "warm", cache: len(infos)}} {
		b.Run(c.name, func(b *testing.B) {
			d, err := Open(dir, Options{CacheBlocks: c.cache, Now: newClock(baseTime().Add(2 * time.Hour)).Now})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			for _, bi := range infos {
				if _, err := d.ReadBlock(bi.Ref); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(3, 4))
			b.ReportAllocs()
			b.SetBytes(int64(infos[0].RawLen))
			for b.Loop() {
				if _, err := d.ReadBlock(infos[rng.IntN(len(infos))].Ref); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// BenchmarkRecover opens a directory whose unsealed file of about 64 MiB was
// left by a crash: the scan checks every frame's CRC, decodes the last block,
// and seals the file. MB/s is of file bytes.
func BenchmarkRecover(b *testing.B) {
	dir := b.TempDir()
	d, err := Open(dir, Options{Now: newClock(baseTime()).Now, Level: zstd.SpeedFastest})
	if err != nil {
		b.Fatal(err)
	}
	// Incompressible payloads make a large file quickly.
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 700)
	for d.Stats().BytesOnDisk < 64<<20 {
		for range 4096 {
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			if err := d.Append(Record{Time: 1, Data: data}); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	d.abandon()
	part := filepath.Join(dir, partName(baseHour()))
	partBytes, err := os.ReadFile(part)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(partBytes)))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := os.Remove(filepath.Join(dir, sealedName(baseHour()))); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		if err := os.WriteFile(part, partBytes, 0o640); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		d, err := Open(dir, Options{Now: newClock(baseTime()).Now})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if len(d.Stats().Recovered) != 0 {
			b.Fatal("clean part reported lost data")
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
