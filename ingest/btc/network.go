package btc

import (
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

// TestNet4 is the network magic of testnet4 (BIP94), which btcd v0.24 does
// not define. On disk it reads 1c 16 3f 28.
const TestNet4 wire.BitcoinNet = 0x283f161c

// SigNet is the network magic of the default public signet (0a 03 cf 40 on
// disk). btcd derives it from the signet challenge in chaincfg.SigNetParams
// and has no wire constant for it. Custom signets have other magics and are
// not recognised in blk files.
const SigNet wire.BitcoinNet = 0x40cf030a

// TestNet4Params are testnet3's parameters with testnet4's name, magic, port
// and genesis block: enough to encode addresses (testnet4 shares testnet3's
// version bytes and HRP) and to recognise the chain's root. They are not
// consensus parameters: btcd v0.24 cannot validate testnet4.
var TestNet4Params = func() chaincfg.Params {
	p := chaincfg.TestNet3Params
	p.Name = "testnet4"
	p.Net = TestNet4
	p.DefaultPort = "48333"
	p.DNSSeeds = nil
	p.Checkpoints = nil
	p.GenesisBlock = testNet4Genesis()
	h := p.GenesisBlock.BlockHash()
	p.GenesisHash = &h
	return p
}()

// testNet4Genesis builds testnet4's genesis block as Core's chainparams.cpp
// does: the usual coinbase with a 2024 headline and a zero pubkey. Its hash
// is 00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043 (tested).
func testNet4Genesis() *wire.MsgBlock {
	const msg = "03/May/2024 000000000000000000001ebd58c244970b3aa9d783bb001011fbe8ea8e98e00e"
	// nBits 486604799 and CScriptNum(4), then the message with OP_PUSHDATA1
	// (it is 76 bytes long).
	sigScript := append([]byte{0x04, 0xff, 0xff, 0x00, 0x1d, 0x01, 0x04, 0x4c, byte(len(msg))}, msg...)
	pkScript := make([]byte, 35)
	pkScript[0], pkScript[34] = 0x21, 0xac // OP_DATA_33 <33 zero bytes> OP_CHECKSIG
	tx := wire.NewMsgTx(1)
	tx.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  sigScript,
		Sequence:         wire.MaxTxInSequenceNum,
	})
	tx.AddTxOut(wire.NewTxOut(50_0000_0000, pkScript))
	return &wire.MsgBlock{
		Header: wire.BlockHeader{
			Version:    1,
			MerkleRoot: tx.TxHash(), // one transaction: the root is its txid
			Timestamp:  time.Unix(1714777860, 0),
			Bits:       0x1d00ffff,
			Nonce:      393743547,
		},
		Transactions: []*wire.MsgTx{tx},
	}
}

// paramsForNet maps a blk file magic to its network.
func paramsForNet(n wire.BitcoinNet) *chaincfg.Params {
	switch n {
	case wire.MainNet:
		return &chaincfg.MainNetParams
	case wire.TestNet3:
		return &chaincfg.TestNet3Params
	case TestNet4:
		return &TestNet4Params
	case SigNet:
		return &chaincfg.SigNetParams
	case wire.TestNet:
		return &chaincfg.RegressionNetParams
	}
	return nil
}

// ParamsByName returns the parameters of a network by the name operators
// give it (--network): mainnet (main), testnet3 (testnet), testnet4, signet
// or regtest.
func ParamsByName(name string) (*chaincfg.Params, error) {
	switch name {
	case "mainnet", "main":
		return &chaincfg.MainNetParams, nil
	case "testnet3", "testnet":
		return &chaincfg.TestNet3Params, nil
	case "testnet4":
		return &TestNet4Params, nil
	case "signet":
		return &chaincfg.SigNetParams, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	}
	return nil, fmt.Errorf("--network %q: want mainnet, testnet3, testnet4, signet or regtest", name)
}
