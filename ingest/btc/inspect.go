package btc

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire"
)

// DecodeRawBlock decodes one serialized block given as binary or as hex
// (whitespace anywhere is ignored, a leading 0x too), either bare or framed
// as in a blk file (network magic, little-endian size, block). The input
// must hold exactly one block: trailing bytes are an error.
func DecodeRawBlock(data []byte) (*wire.MsgBlock, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("btc: decoding block: empty input")
	}
	if isHexText(data) {
		digits := make([]byte, 0, len(data))
		for _, c := range data {
			if !isSpace(c) {
				digits = append(digits, c)
			}
		}
		digits = bytes.TrimPrefix(bytes.TrimPrefix(digits, []byte("0x")), []byte("0X"))
		if len(digits)%2 != 0 {
			return nil, fmt.Errorf("btc: decoding block: the input looks like hex but has an odd number of digits (%d)", len(digits))
		}
		raw := make([]byte, len(digits)/2)
		if _, err := hex.Decode(raw, digits); err != nil {
			return nil, fmt.Errorf("btc: decoding block from hex: %w", err)
		}
		data = raw
	}
	what := "block"
	if len(data) >= recordPrefix+wire.MaxBlockHeaderPayload && knownNet(wire.BitcoinNet(binary.LittleEndian.Uint32(data))) {
		// A version field never equals a network magic in practice: take
		// it as a blk file record.
		size := binary.LittleEndian.Uint32(data[4:8])
		if left := len(data) - recordPrefix; int64(size) != int64(left) {
			return nil, fmt.Errorf("btc: decoding framed block: the record prefix says %d bytes, %d follow it (a whole blk file? it holds many blocks)", size, left)
		}
		data = data[recordPrefix:]
		what = "framed block"
	}
	if len(data) < wire.MaxBlockHeaderPayload {
		return nil, fmt.Errorf("btc: decoding %s: %d bytes is shorter than a block header", what, len(data))
	}
	rd := bytes.NewReader(data)
	var b wire.MsgBlock
	if err := b.Deserialize(rd); err != nil {
		return nil, fmt.Errorf("btc: decoding %s of %d bytes: %w", what, len(data), err)
	}
	if rd.Len() != 0 {
		return nil, fmt.Errorf("btc: decoding %s: %d trailing bytes after the %d byte block", what, rd.Len(), len(data)-rd.Len())
	}
	return &b, nil
}

// isHexText reports whether data is hex digits and whitespace only (with an
// optional 0x). A binary block never is: its header alone has bytes outside
// that set with overwhelming probability.
func isHexText(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n\v\f")
	if len(data) >= 2 && data[0] == '0' && (data[1] == 'x' || data[1] == 'X') {
		data = data[2:]
	}
	digits := 0
	for _, c := range data {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			digits++
		case isSpace(c):
		default:
			return false
		}
	}
	return digits > 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
