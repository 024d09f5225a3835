// Package eth reads Ethereum from any node's JSON-RPC (HTTP or WebSocket,
// through go-ethereum's rpc client) and turns each block into normalized
// account-model transfers (chain.Transfer): the ETH value of every
// top-level transaction with its fee and success flag, ERC-20
// Transfer(address,address,uint256) logs of the selected tokens, and, with
// call traces, the ETH moved by calls inside transactions.
//
// Nothing the node says is taken on trust where the chain can prove it: a
// block's transactions must hash to its header's transactions root, its
// receipts to the receipts root, the header to the block hash, and senders
// are recovered from the signatures. A block that fails a check is an
// error, and nothing of it is stored.
//
// The replies are read in one pass each by a scanner that slices them in
// place (jsonscan.go), with go-ethereum's hexutil for every value and its
// required-field rules, so that JSON no longer costs more than the checks
// themselves; the one signature recovery per transaction (native
// libsecp256k1 through cgo) is now most of a block's cost.
//
// The chain state (hash by height, event counter, outbox) lives in Pebble,
// like ingest/btc's; reorgs are found by parent hash and undone newest
// first, before the blocks of the new branch.
package eth
