package gethtest

import (
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// The contracts below are assembled here from EVM opcodes (no compiler,
// no opaque hex): a minimal ERC-20 and an ETH forwarder.

// asm assembles opcodes with labels. Items: a byte (opcode), a []byte
// (pushed as-is after its PUSH opcode), a label string "@x" (jump target
// pushed with PUSH2) or ":x" (JUMPDEST defining x).
func asm(items ...any) []byte {
	labels := map[string]int{}
	assemble := func() []byte {
		var out []byte
		for _, it := range items {
			switch v := it.(type) {
			case byte:
				out = append(out, v)
			case int: // an opcode constant
				out = append(out, byte(v))
			case []byte:
				out = append(out, byte(0x5f+len(v)))
				out = append(out, v...)
			case string:
				if v[0] == ':' {
					labels[v[1:]] = len(out)
					out = append(out, 0x5b) // JUMPDEST
				} else {
					out = append(out, 0x61) // PUSH2
					out = binary.BigEndian.AppendUint16(out, uint16(labels[v[1:]]))
				}
			default:
				panic(fmt.Sprintf("asm: %T", it))
			}
		}
		return out
	}
	assemble() // first pass: label offsets (PUSH2 has a fixed size)
	return assemble()
}

const (
	opSUB, opLT, opEQ, opSHR                    = 0x03, 0x10, 0x14, 0x1c
	opCALLER, opCALLVALUE, opCALLDATALOAD       = 0x33, 0x34, 0x35
	opCODECOPY, opGAS                           = 0x39, 0x5a
	opPOP, opMSTORE, opSLOAD, opSSTORE, opJUMPI = 0x50, 0x52, 0x54, 0x55, 0x57
	opDUP1, opDUP2, opDUP3, opSWAP1, opADD      = 0x80, 0x81, 0x82, 0x90, 0x01
	opLOG3, opCALL, opRETURN, opREVERT, opSTOP  = 0xa3, 0xf1, 0xf3, 0xfd, 0x00
)

func b1(v byte) []byte { return []byte{v} }

// TransferTopic is keccak256("Transfer(address,address,uint256)").
var TransferTopic = crypto.Keccak256([]byte("Transfer(address,address,uint256)"))

// tokenRuntime: balances live at slot = holder address.
//
//	transfer(address to, uint256 amount) 0xa9059cbb: reverts when the
//	  sender's balance is short; else moves it, emits Transfer(sender, to,
//	  amount) and returns true. A zero amount is a valid transfer.
//	balanceOf(address) 0x70a08231.
//	anything else (and plain ETH) reverts.
var tokenRuntime = asm(
	b1(0), opCALLDATALOAD, b1(0xe0), opSHR,
	opDUP1, []byte{0xa9, 0x05, 0x9c, 0xbb}, opEQ, "@transfer", opJUMPI,
	opDUP1, []byte{0x70, 0xa0, 0x82, 0x31}, opEQ, "@balance", opJUMPI,
	b1(0), opDUP1, opREVERT,
	":balance",
	b1(4), opCALLDATALOAD, opSLOAD, b1(0), opMSTORE, b1(32), b1(0), opRETURN,
	":transfer",
	b1(36), opCALLDATALOAD, // amount
	opCALLER, opSLOAD, // amount bal
	opDUP2, opDUP2, opLT, "@fail", opJUMPI, // bal < amount
	opDUP2, opSWAP1, opSUB, opCALLER, opSSTORE, // balances[sender] = bal - amount
	b1(4), opCALLDATALOAD, opDUP1, opSLOAD, opDUP3, opADD, opSWAP1, opSSTORE, // balances[to] += amount
	b1(0), opMSTORE,
	b1(4), opCALLDATALOAD, opCALLER, TransferTopic, b1(32), b1(0), opLOG3,
	b1(1), b1(0), opMSTORE, b1(32), b1(0), opRETURN,
	":fail",
	b1(0), opDUP1, opREVERT,
)

// TokenCode is the creation code of the token: the whole supply goes to
// the creator.
func TokenCode(supply *big.Int) []byte {
	return deployer(asm(common.LeftPadBytes(supply.Bytes(), 32), opCALLER, opSSTORE), tokenRuntime)
}

// forwarderRuntime sends the call's ETH to the address in the first
// calldata word (an internal transfer) and stops, whatever the call did.
var forwarderRuntime = asm(
	b1(0), opDUP1, opDUP1, opDUP1, opCALLVALUE, b1(0), opCALLDATALOAD, opGAS, opCALL, opPOP, opSTOP,
)

// ForwarderCode is the creation code of the forwarder.
func ForwarderCode() []byte { return deployer(nil, forwarderRuntime) }

// deployer runs prologue, then returns runtime as the contract's code.
func deployer(prologue, runtime []byte) []byte {
	// PUSH2 len DUP1 PUSH2 off PUSH1 0 CODECOPY PUSH1 0 RETURN: 13 bytes.
	off := len(prologue) + 13
	code := append([]byte{}, prologue...)
	code = append(code, 0x61, byte(len(runtime)>>8), byte(len(runtime)), opDUP1, 0x61, byte(off>>8), byte(off), 0x60, 0, opCODECOPY, 0x60, 0, opRETURN)
	return append(code, runtime...)
}

// TransferCall is the calldata of transfer(to, amount).
func TransferCall(to common.Address, amount *big.Int) []byte {
	d := []byte{0xa9, 0x05, 0x9c, 0xbb}
	d = append(d, common.LeftPadBytes(to.Bytes(), 32)...)
	return append(d, common.LeftPadBytes(amount.Bytes(), 32)...)
}

// ForwardCall is the calldata of the forwarder.
func ForwardCall(to common.Address) []byte { return common.LeftPadBytes(to.Bytes(), 32) }
