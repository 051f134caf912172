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

// eqMask has the top bit set in exactly the bytes of x equal to the byte
// repeated in pat (no false positives, unlike the borrow trick above).
func eqMask(x, pat uint64) uint64 {
	t := x ^ pat
	return ^((t&^msb + lsb*0x7f) | t) & msb
}

// bracketMask has the top bit set in the bytes of x that are '{', '}', '['
// or ']', and maybe in others: x|0x20 maps the square brackets onto the
// curly ones, the low bits 0b110 that tell '{' from '}' are masked (which
// lets 'Y', 'y', '_' and DEL in too), and the borrow trick flags bytes above
// a match as well. It never misses a bracket; callers look at each flagged
// byte again.
func bracketMask(x uint64) uint64 {
	t := (x | lsb*0x20) ^ (lsb * '{')
	t &^= lsb * 0x06
	return (t - lsb) &^ t & msb
}

// skipContainerFast skips the object or array at b[i] eight bytes at a
// time: per word it finds the quotes, turns them into an in-string mask by
// a prefix XOR (carried from word to word), and only looks at the brackets
// that stand outside strings, so the ten or so strings a 64-byte stretch of
// a record holds cost no branches. A word holding a backslash (or starting
// inside an escape) is walked byte by byte. It reports false, instead of
// an error, for anything but a well-formed container, and for a container
// nested deeper than maxDepth.
func skipContainerFast(b []byte, i int) (int, bool) {
	var stack [maxDepth / 64]uint64
	depth := 0
	n := len(b)
	var inStr uint64 // msb when the last byte looked at is inside a string
	esc := false     // the next byte is escaped (byte-by-byte walk only)
	// bracket handles one bracket outside strings: it returns whether the
	// container is closed (end valid) or broken.
	bracket := func(c byte) (closed, bad bool) {
		switch c {
		case '{', '[':
			if depth >= maxDepth {
				return false, true
			}
			if c == '{' {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
		case '}', ']':
			if depth == 0 || (stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0) != (c == '}') {
				return false, true
			}
			depth--
			return depth == 0, false
		}
		return false, false
	}
	// step walks one byte the slow way.
	step := func(c byte) (closed, bad bool) {
		if inStr != 0 {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = 0
			}
			return false, false
		}
		if c == '"' {
			inStr = msb
			return false, false
		}
		return bracket(c)
	}
	for i+8 <= n {
		// Sixteen bytes at a time while there is no backslash: in a
		// record, a stretch of sixteen bytes holds a bracket outside
		// strings only one time in five, so most pass with one branch.
		if i+16 <= n && !esc {
			x := binary.LittleEndian.Uint64(b[i:])
			y := binary.LittleEndian.Uint64(b[i+8:])
			tx, ty := x^(lsb*'\\'), y^(lsb*'\\')
			if ((tx-lsb)&^tx|(ty-lsb)&^ty)&msb == 0 {
				qx := eqMask(x, lsb*'"')
				qy := eqMask(y, lsb*'"')
				qx ^= qx << 8
				qy ^= qy << 8
				qx ^= qx << 16
				qy ^= qy << 16
				qx ^= qx << 32
				qy ^= qy << 32
				px := uint64(int64(qx)>>63) & msb
				inx := qx ^ inStr
				iny := qy ^ inStr ^ px
				inStr ^= px ^ uint64(int64(qy)>>63)&msb
				bx := bracketMask(x) &^ inx
				by := bracketMask(y) &^ iny
				if bx|by == 0 {
					i += 16
					continue
				}
				for ; bx != 0; bx &= bx - 1 {
					k := bits.TrailingZeros64(bx) >> 3
					if closed, bad := bracket(b[i+k]); bad {
						return i + k, false
					} else if closed {
						return i + k + 1, true
					}
				}
				for ; by != 0; by &= by - 1 {
					k := 8 + bits.TrailingZeros64(by)>>3
					if closed, bad := bracket(b[i+k]); bad {
						return i + k, false
					} else if closed {
						return i + k + 1, true
					}
				}
				i += 16
				continue
			}
		}
		x := binary.LittleEndian.Uint64(b[i:])
		if esc || eqMask(x, lsb*'\\') != 0 {
			for end := i + 8; i < end; i++ {
				if closed, bad := step(b[i]); bad {
					return i, false
				} else if closed {
					return i + 1, true
				}
			}
			continue
		}
		q := eqMask(x, lsb*'"')
		q ^= q << 8
		q ^= q << 16
		q ^= q << 32
		// Top bit of each byte: inside a string (or its opening quote).
		// The carry to the next word is the parity of this word's quotes,
		// worked out apart from the carry in so the chain from word to
		// word is a single XOR.
		in := q ^ inStr
		inStr ^= uint64(int64(q)>>63) & msb
		for br := bracketMask(x) &^ in; br != 0; br &= br - 1 {
			k := bits.TrailingZeros64(br) >> 3
			if closed, bad := bracket(b[i+k]); bad {
				return i + k, false
			} else if closed {
				return i + k + 1, true
			}
		}
		i += 8
	}
	for ; i < n; i++ {
		if closed, bad := step(b[i]); bad {
			return i, false
		} else if closed {
			return i + 1, true
		}
	}
	return i, false
}
