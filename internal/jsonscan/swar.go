package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// SWAR ("SIMD within a register") helpers: look at 8 bytes at once for the
// bytes that end a run of plain string content. JSON text in Entra records
// has a quote every few bytes, and after two layers of escaping a backslash
// every few more, so the speed of intake is mostly the speed of finding the
// next one of those.

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialMask has the top bit set in the first byte of x (little endian)
// that is '"', '\\' or a control character; bits above the first one may be
// wrong, so callers use only the lowest.
func specialMask(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	zq := (q - lsb) &^ q
	zb := (b - lsb) &^ b
	ctl := (x - lsb*0x20) &^ x
	return (zq | zb | ctl) & msb
}

// quoteOrBackslash is specialMask without the control characters, for
// skipping strings (whose content is not checked).
func quoteOrBackslash(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((q-lsb)&^q | (b-lsb)&^b) & msb
}

// nextSpecial returns the index of the first byte at or after i that is
// '"', '\\' or a control character, or len(b).
func nextSpecial(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := specialMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && !special[b[i]] {
		i++
	}
	return i
}

// nextQuoteOrBackslash is nextSpecial for SkipString.
func nextQuoteOrBackslash(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := quoteOrBackslash(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && b[i] != '"' && b[i] != '\\' {
		i++
	}
	return i
}
