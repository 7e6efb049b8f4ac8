package qos

import "testing"

func benchDecode(b *testing.B, file string, decode func([]byte) error) {
	data := readFixture(b, file)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRTCPBinary(b *testing.B) {
	benchDecode(b, "rtcp-frame529.bin", func(d []byte) error { _, err := DecodeBinaryRTCP(d); return err })
}

func BenchmarkDecodeRTCPJSON(b *testing.B) {
	benchDecode(b, "rtcp-json-heplify.json", func(d []byte) error { _, err := DecodeRTCPJSON(d); return err })
}

func BenchmarkDecodeVQ(b *testing.B) {
	benchDecode(b, "vq-rfc6035.txt", func(d []byte) error { _, err := DecodeVQ(d); return err })
}

func BenchmarkDecodeShort(b *testing.B) {
	benchDecode(b, "short-35.json", func(d []byte) error { _, err := DecodeShort(d); return err })
}

func BenchmarkDecodeStatHeader(b *testing.B) {
	benchDecode(b, "stat-headers.txt", func(d []byte) error {
		_, err := DecodeStatHeader("X-RTP-Stat", "PS=1234,OS=34560,PR=1236,OR=24720,JI=1,DU=1230,PL=0,EN=G711U,DE=G711U,MOS=4.0")
		return err
	})
}
