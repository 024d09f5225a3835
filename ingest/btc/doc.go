// Package btc ingests Bitcoin: it reads blocks from a node over JSON-RPC
// (RPCSource) or straight from Bitcoin Core's blocks directory (BlocksDir),
// normalizes them into ingest records (Normalize, ScriptAddress), keeps the
// chain state that lets every input carry the address and value it spends
// (ChainState), and follows the best chain through reorgs (Ingestor).
//
// # Blocks directory
//
// Bitcoin Core stores blocks in blocks/blk?????.dat, each a sequence of
// records: the 4-byte network magic, the block's size as a little-endian
// uint32, then the serialized block. Core preallocates files, so a file may
// end in zeros; it writes blocks in the order it receives them, not in height
// order, and keeps blocks of stale branches. Core 28+ obfuscates the files
// with the 8-byte key in blocks/xor.dat. FileReader reads one file;
// BlocksDir indexes a whole directory from the 80-byte headers alone and
// serves the best chain by height.
//
// # Addresses
//
// Every output gets a script type and, except OP_RETURN outputs, an address:
// the standard encoding for P2PKH, P2SH and segwit outputs, the P2PKH
// address of the key for P2PK, and for bare multisig and nonstandard scripts
// a script identifier "s-" followed by the hex SHA-256 of the script (see
// ScriptAddress).
package btc
