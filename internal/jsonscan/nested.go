package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// UnescapeStringArray decodes, in one pass, the shape the Functions host
// gives an Event Hubs batch of strings: a JSON string (src[0] is its
// opening quote) whose content is a JSON array of JSON strings. Each
// element's content, unescaped twice, is decoded into scratch and handed to
// elem; elem must copy what it keeps, for the slice is only valid until it
// returns (scratch is reused from element to element, and replaced by a
// larger buffer when an element does not fit). It returns the index in src
// just past the outer string's closing quote.
//
// Unwrapping the layers one after the other costs two full passes and a
// buffer the size of the whole batch in between. Here both layers are
// undone together: an element's quote is `\\\"` in src (4 bytes for 1) and
// its end is `\"`, and everything else is copied eight bytes at a time. And
// the one element at a time being decoded stays in the cache until elem has
// copied it: writing straight into a buffer for the whole batch (which must
// be allocated, zeroed, before it is known how much of it the batch needs)
// costs more in memory traffic than the copy.
//
// It only takes the well-trodden road. On anything else, malformed input or
// a form it does not decode (a \u escape in the outer layer, whitespace or
// trailing text it does not expect, elements that are not strings), it
// stops and returns ok=false; the caller must then take the two-pass path
// (Unescape the outer string, then each element), which decodes the rare
// forms and reports the errors. Where this succeeds, the two-pass path
// gives byte-identical contents (FuzzFusedMatchesTwoPass in
// internal/invocation holds them to that).
func UnescapeStringArray(scratch, src []byte, elem func(idx int, content []byte)) (end int, ok bool) {
	n := len(src)
	if n < 2 || src[0] != '"' {
		return 0, false
	}
	o := scratch[:cap(scratch)]
	i := ws1(src, 1)
	if i >= n || src[i] != '[' {
		return 0, false
	}
	i = ws1(src, i+1)
	if i < n && src[i] == ']' {
		i++
	} else {
		for idx := 0; ; idx++ {
			// An element opens with an escaped quote.
			if i+1 >= n || src[i] != '\\' || src[i+1] != '"' {
				return 0, false
			}
			i += 2
			j := 0
			// The element's content, until its closing `\"`.
		content:
			for {
				// Output never outruns input, so while i < lim there is
				// room for the eight-byte stores (and the four bytes of a
				// \u escape) at j.
				lim := min(n, i+len(o)-j-16)
				if lim <= i {
					if i >= n {
						return 0, false // the input ends inside the element
					}
					grown := make([]byte, 2*len(o)+64)
					copy(grown, o[:j])
					o = grown
					continue
				}
				// Eight bytes at a time up to the next special byte. The
				// escaped quote `\\\"` is so common (one every 13 bytes or
				// so) that it is handled here, without the detour through
				// the general case.
				for i+12 <= lim {
					x := binary.LittleEndian.Uint64(src[i:])
					binary.LittleEndian.PutUint64(o[j:], x)
					if m := specialMask(x); m != 0 {
						k := bits.TrailingZeros64(m) >> 3
						if binary.LittleEndian.Uint32(src[i+k:]) == '\\'|'\\'<<8|'\\'<<16|'"'<<24 {
							o[j+k] = '"'
							i += k + 4
							j += k + 1
							continue
						}
						i += k
						j += k
						goto special
					}
					i += 8
					j += 8
				}
				for i+8 <= lim {
					x := binary.LittleEndian.Uint64(src[i:])
					binary.LittleEndian.PutUint64(o[j:], x)
					if m := specialMask(x); m != 0 {
						k := bits.TrailingZeros64(m) >> 3
						i += k
						j += k
						goto special
					}
					i += 8
					j += 8
				}
				for i < lim && !special[src[i]] {
					o[j] = src[i]
					i++
					j++
				}
				if i == lim && lim < n {
					continue // out of room, not of input
				}
			special:
				// src[i] is '"' (the outer string ends inside an element),
				// a control character, '\\', or i == n: only '\\' goes on.
				if i+1 >= n || src[i] != '\\' {
					return 0, false
				}
				switch src[i+1] {
				case '\\':
					// An escape of the inner layer. By far the most common
					// is an escaped quote: `\\\"`.
					if i+3 < n && src[i+2] == '\\' && src[i+3] == '"' {
						o[j] = '"'
						i += 4
						j++
						continue
					}
					i += 2
					if i >= n {
						return 0, false
					}
					// The inner escape's letter, itself plain or escaped.
					e := src[i]
					if e == '\\' {
						if i+1 >= n {
							return 0, false
						}
						switch e = src[i+1]; e {
						case '\\', '/', '"':
							i += 2
						default:
							return 0, false
						}
					} else if e == '"' {
						// A bare quote ends the outer string.
						return 0, false
					} else {
						i++
					}
					switch e {
					case '"', '\\', '/':
						o[j] = e
					case 'n':
						o[j] = '\n'
					case 't':
						o[j] = '\t'
					case 'r':
						o[j] = '\r'
					case 'b':
						o[j] = '\b'
					case 'f':
						o[j] = '\f'
					case 'u':
						r, ok := hex4(src, i)
						if !ok {
							return 0, false
						}
						i += 4
						if r >= 0xD800 && r < 0xDC00 {
							// A high surrogate pairs with an escaped low one
							// (`\\uDCxx` here), as in Unescape.
							if i+2 < n && src[i] == '\\' && src[i+1] == '\\' && src[i+2] == 'u' {
								if r2, ok := hex4(src, i+3); ok && r2 >= 0xDC00 && r2 < 0xE000 {
									r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
									i += 7
								} else {
									r = utf8.RuneError
								}
							} else {
								r = utf8.RuneError
							}
						} else if r >= 0xDC00 && r < 0xE000 {
							r = utf8.RuneError
						}
						j += utf8.EncodeRune(o[j:], r)
						continue
					default:
						return 0, false
					}
					j++
				case '"':
					// The element's closing quote.
					i += 2
					break content
				case '/':
					o[j] = '/'
					i += 2
					j++
				default:
					// \n, \t, ... would put a control character in the
					// element (invalid); \u is left to the two-pass path.
					return 0, false
				}
			}
			elem(idx, o[:j:j])
			i = ws1(src, i)
			if i >= n {
				return 0, false
			}
			if src[i] == ',' {
				i = ws1(src, i+1)
				continue
			}
			if src[i] != ']' {
				return 0, false
			}
			i++
			break
		}
	}
	i = ws1(src, i)
	if i >= n || src[i] != '"' {
		return 0, false
	}
	return i + 1, true
}

// ws1 skips whitespace of the inner layer: plain spaces and the escapes
// \n, \r and \t of the outer one.
func ws1(src []byte, i int) int {
	for i < len(src) {
		switch src[i] {
		case ' ':
			i++
		case '\\':
			if i+1 < len(src) && (src[i+1] == 'n' || src[i+1] == 'r' || src[i+1] == 't') {
				i += 2
				continue
			}
			return i
		default:
			return i
		}
	}
	return i
}
