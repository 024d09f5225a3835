package eth

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// TransferTopic is keccak256("Transfer(address,address,uint256)"), topic 0
// of ERC-20 (and ERC-721) Transfer events.
var TransferTopic = common.BytesToHash(crypto.Keccak256([]byte("Transfer(address,address,uint256)")))

// Reasons a log is not an ERC-20 transfer. Only logs whose topic 0 is
// TransferTopic get a reason other than SkipNotTransfer.
const (
	SkipNone        = ""
	SkipNotTransfer = "not-transfer"  // another event
	SkipTopics      = "topics"        // Transfer with other than 3 topics (ERC-721 has 4)
	SkipData        = "data"          // data is not one 32-byte word
	SkipPadding     = "address-bytes" // an address topic with non-zero upper 12 bytes
	SkipToken       = "token"         // a token not selected by --tokens
)

// TokenLog is a decoded ERC-20 Transfer.
type TokenLog struct {
	From, To string // canonical
	Value    *big.Int
}

// DecodeTransferLog decodes an ERC-20 Transfer(address indexed from,
// address indexed to, uint256 value) log: three topics and one 32-byte data
// word. Anything else returns a reason, never a panic.
func DecodeTransferLog(topics []common.Hash, data []byte) (TokenLog, string) {
	if len(topics) == 0 || topics[0] != TransferTopic {
		return TokenLog{}, SkipNotTransfer
	}
	if len(topics) != 3 {
		return TokenLog{}, SkipTopics
	}
	if len(data) != 32 {
		return TokenLog{}, SkipData
	}
	for _, t := range topics[1:3] {
		for _, b := range t[:12] {
			if b != 0 {
				return TokenLog{}, SkipPadding
			}
		}
	}
	return TokenLog{
		From:  hexAddr(topics[1][12:]),
		To:    hexAddr(topics[2][12:]),
		Value: new(big.Int).SetBytes(data),
	}, SkipNone
}
