// Package btcdtest runs a real btcd node in regtest for tests, with a
// wallet of its own: the harness holds the private keys, so tests create
// and spend outputs of every script type without a wallet RPC (btcd has
// none).
//
//	n := btcdtest.Start(t)          // skips without btcd: run `make btcd`
//	n.ActivateSoftForks()           // 431 blocks: coinbases mature, segwit and taproot on
//	wpkh := n.NewScript(btcdtest.P2WPKH)
//	tx, err := n.Send([]*wire.TxOut{wpkh.TxOut(1e8)})
//	n.Generate(1)
//	spend, err := n.Spend(wire.OutPoint{Hash: tx.TxHash(), Index: 0})
//
// The binary is found through BTCD_BIN, then PATH, then GOPATH/bin, then
// bin/btcd at the module root (where `make btcd` installs it). Without one
// the test is skipped, or fails when TRACER_REQUIRE_BTCD=1 (CI sets it).
//
// # Node
//
// btcd v0.24.2 runs with --regtest --notls --txindex --relaynonstd, RPC and
// P2P on free loopback ports, data and logs in the test's temporary
// directory and HOME pointed there too (btcd creates ~/.btcd even when told
// where its data goes). Facts that shaped it:
//   - --notls is allowed only when every --rpclisten is localhost,
//     127.0.0.1 or ::1; with TLS the client would need the generated
//     rpc.cert. rpcclient then needs HTTPPostMode and DisableTLS.
//   - The generate RPC mines to --miningaddr and fails without one.
//   - Regtest relays non-standard transactions by default
//     (chaincfg.RegressionNetParams.RelayNonStdTxs); --relaynonstd only says
//     so. Mainnet and signet reject them, so on those a nonstandard output
//     could only come from a miner.
//   - Regtest halves the subsidy every 150 blocks (50 BTC before), and a
//     coinbase can be spent by a transaction in the block 100 above it:
//     Generate(101) is enough to Send from legacy coins.
//   - Segwit and taproot are not active from genesis as on Bitcoin Core's
//     regtest: btcd activates them by BIP9 votes, from block 432 on. Until
//     then paying witness outputs works but spending them is rejected;
//     ActivateSoftForks mines there (ActivationHeight).
//   - A transaction in a block that invalidateblock takes away goes back to
//     the mempool, and the next Generate mines it again.
//   - gettxout ignores spends by mempool transactions, so the harness
//     tracks its own spends.
//
// # Scripts
//
// NewScript makes an output script of any Kind for fresh harness keys and
// remembers how to sign for it, so that Spend can spend it later: P2PKH
// (compressed and uncompressed key), P2PK (both), bare 1-of-2 multisig,
// P2SH (1-of-2 multisig, and P2SH-P2WPKH), P2WPKH, P2WSH (1-of-2
// multisig), P2TR (BIP86 key path), OP_RETURN, a nonstandard script and a
// future witness version. Keys come from a counter, so a run's addresses
// are the same every time.
package btcdtest
