package shm_test

import (
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/shm"
)

func TestKeyOf(t *testing.T) {
	tests := []struct {
		dev, ino uint64
		projID   int
		want     uint32 // as ipcs(1) prints it
	}{
		{0, 0, 1, 0x01000000},
		{0x12, 0x3456, 'A', 0x41123456},
		{0xabcd, 0x12345678, 'A', 0x41cd5678},        // only the low 8 bits of dev, 16 of ino
		{0x803, 0xffff_ffff_ffff, 0x1ff, 0xff03ffff}, // proj_id's low 8 bits; negative as a key_t
		{7, 9, 0x100 | 0x7f, 0x7f070009},
		{7, 9, -1, 0xff070009}, // proj_id -1 & 0xff = 0xff
	}
	for _, tt := range tests {
		if got := shm.KeyOf(tt.dev, tt.ino, tt.projID); got != shm.Key(int32(tt.want)) {
			t.Errorf("KeyOf(%#x, %#x, %#x) = %v, want %#08x", tt.dev, tt.ino, tt.projID, got, tt.want)
		}
	}
}

func TestKeyString(t *testing.T) {
	tests := []struct {
		k    shm.Key
		want string
	}{
		{0x41123456, "0x41123456"},
		{1, "0x00000001"},
		{-1, "0xffffffff"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Key(%d).String() = %q, want %q", int32(tt.k), got, tt.want)
		}
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		seg  string
		want string
	}{
		{"hello\x00world", "hello"},
		{"\x00rest", ""},
		{"", ""},
		{"no nul at all", "no nul at all"},
	}
	for _, tt := range tests {
		if got := shm.Message([]byte(tt.seg)); got != tt.want {
			t.Errorf("Message(%q) = %q, want %q", tt.seg, got, tt.want)
		}
	}
}

func TestPut(t *testing.T) {
	seg := []byte(strings.Repeat("x", 8))
	if err := shm.Put(seg, "abc"); err != nil || string(seg) != "abc\x00xxxx" {
		t.Errorf("Put(8 bytes, %q) = %v, segment %q, want %q", "abc", err, seg, "abc\x00xxxx")
	}
	if err := shm.Put(seg, "1234567"); err != nil || string(seg) != "1234567\x00" {
		t.Errorf("Put(8 bytes, %q) = %v, segment %q, want it to fit with its NUL", "1234567", err, seg)
	}
	if err := shm.Put(seg, "12345678"); err == nil {
		t.Errorf("Put(8 bytes, %q) = nil, want an error: no room for the NUL", "12345678")
	}
}
