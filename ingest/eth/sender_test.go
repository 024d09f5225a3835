package eth

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// TestSenderFrontierHighS: an unprotected transaction signed with a high s
// (valid before Homestead) has its sender recovered, the same one as its
// low-s twin; a protected one still needs its chain's signer.
func TestSenderFrontierHighS(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	want := crypto.PubkeyToAddress(key.PublicKey)
	to := common.HexToAddress("0x1111111111111111111111111111111111111111")
	tx, err := types.SignTx(types.NewTx(&types.LegacyTx{Nonce: 1, GasPrice: big.NewInt(1), Gas: 21000, To: &to, Value: big.NewInt(5)}), types.HomesteadSigner{}, key)
	if err != nil {
		t.Fatal(err)
	}
	v, r, s := tx.RawSignatureValues()
	// The twin signature: s' = N - s, the recovery id flipped.
	n := crypto.S256().Params().N
	sig := make([]byte, 65)
	r.FillBytes(sig[:32])
	new(big.Int).Sub(n, s).FillBytes(sig[32:64])
	sig[64] = byte(1 - (v.Uint64() - 27))
	high, err := tx.WithSignature(types.FrontierSigner{}, sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := types.Sender(types.HomesteadSigner{}, high); err == nil {
		t.Fatal("Homestead accepts the high-s twin: the test does not test anything")
	}
	for name, tx := range map[string]*types.Transaction{"low s": tx, "high s": high} {
		got, err := sender(tx)
		if err != nil || got != want {
			t.Errorf("%s: sender %s, %v; want %s", name, got.Hex(), err, want.Hex())
		}
	}
	protected, err := types.SignTx(types.NewTx(&types.LegacyTx{Nonce: 2, GasPrice: big.NewInt(1), Gas: 21000, To: &to, Value: big.NewInt(5)}), types.NewEIP155Signer(big.NewInt(1)), key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sender(protected); err != nil || got != want {
		t.Errorf("EIP-155: sender %s, %v; want %s", got.Hex(), err, want.Hex())
	}
}
