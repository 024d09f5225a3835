package btc

import (
	"errors"
	"fmt"
)

// Errors of normalization and of the blocks directory. Match them with
// errors.Is; the errors returned carry the details (txid, outpoint, file,
// offset).
var (
	// ErrPrevoutNotFound is returned (wrapped) by a PrevoutLookup that does
	// not know the output an input spends.
	ErrPrevoutNotFound = errors.New("btc: spent output not found")
	// ErrBlockNotFound means a blocks directory has no block with the hash
	// or at the height asked for.
	ErrBlockNotFound = errors.New("btc: block not found")
	// ErrTruncatedRecord means a blk file ends inside a record: Core was
	// stopped while writing it, or the file was copied while being written.
	ErrTruncatedRecord = errors.New("btc: truncated block record")
	// ErrBadMagic means a record does not start with the network magic.
	ErrBadMagic = errors.New("btc: bad network magic")
	// ErrRecordSize means a record's size field cannot be that of a block.
	ErrRecordSize = errors.New("btc: bad block record size")
	// ErrBadMerkleRoot means a block's transactions do not hash to the
	// merkle root of its header (or to its witness commitment).
	ErrBadMerkleRoot = errors.New("btc: merkle root mismatch")
)

// RecordError is an error in a blk file, at the offset of the record (its
// magic) that could not be read.
type RecordError struct {
	File   string
	Offset int64
	Err    error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s at offset %d: %v", e.File, e.Offset, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }
