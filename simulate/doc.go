// Package simulate generates a synthetic Bitcoin chain with a planted
// fentanyl-precursor money flow and the ground truth to score the tracer
// against, for demos, tests and benchmarks.
//
// The chain is real wire format: valid txids and merkle roots, a witness
// commitment in every coinbase, headers linked by PrevBlock, BIP34 heights,
// and every input spending an output that exists and is still unspent, with
// the values adding up. Scripts are not signed (signatures and most keys are
// random bytes of the realistic size); no consumer of the chain validates
// them. Output scripts are standard, and the keys in P2PK and bare multisig
// scripts are points of the curve, so address extractors accept them.
//
// The traffic is shaped like mainnet: mostly P2WPKH with P2PKH, P2SH,
// P2WSH and P2TR mixed in and a sprinkling of P2PK, bare multisig and
// OP_RETURN outputs; 1-in/2-out payments with change (sometimes back to the
// spending address), consolidations, exchange deposit sweeps and batch
// payouts, peel chains, CoinJoin-like equal-output transactions and address
// reuse. At mainnet density (Config.TxsPerBlock = 2500) a transaction has
// about 2.3 inputs and 2.6 outputs on average.
//
// Planted in that traffic: buyers pay precursor brokers fixed amounts again
// and again; brokers move the proceeds through one to three intermediary hops
// (simple forwards or peels) to their exchange deposit addresses and to cartel
// wallets; cartels top up the buyers. Truth records every entity with all of
// its addresses (the owner of every address on the chain but the genesis
// block's), named as ingest/btc.ScriptAddress names them, every planted flow
// with its path of txids, and the CoinJoin and batch payout txids.
//
// Height 0 is the network's own genesis block (its prev hash is zero), so
// that readers which, like Core, look for the genesis block accept the
// chain. The coinbases of the next few blocks (Truth.PremineBlocks: one per
// 20,000 coins) hand out the starting coins to every entity, a premine
// which, unlike coinbase outputs on a real chain, can be spent at once. Every
// later coinbase pays exactly the subsidy plus the fees, carries its
// BIP34 height and matures after CoinbaseMaturity blocks. On regtest the
// headers also meet the target: the pow limit is met by every other hash.
//
// The generator tracks a bounded working set of unspent outputs: each
// wallet holds at most a fixed number of coins and, when full, forgets its
// smallest one, and users put a share of what they receive away for good.
// Those coins stay unspent on the chain, as lost and long-held coins do on
// mainnet, whose UTXO set grows by about 0.3 outputs a transaction. What
// grows with the chain is the ownership table behind Truth (5 bytes an
// address) and the planted-flow records.
//
// All randomness comes from Config.Seed through integer arithmetic, so the
// same Config yields byte-identical blocks on every platform.
package simulate
