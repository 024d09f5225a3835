package chain

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
)

// ScriptIDPrefix starts the identifier the Bitcoin normalizer gives scripts
// that have no address: bare multisig and nonstandard scripts.
const ScriptIDPrefix = "s-"

// CheckBTCAddress reports whether s is something the store can hold for an
// output: an address of a known network with a valid checksum, or a script
// identifier (ScriptIDPrefix and 64 hex digits).
func CheckBTCAddress(s string) error {
	if rest, ok := strings.CutPrefix(s, ScriptIDPrefix); ok {
		if b, err := hex.DecodeString(rest); err != nil || len(b) != 32 {
			return fmt.Errorf("btc: %q is not a script id (%s followed by 64 hex digits)", s, ScriptIDPrefix)
		}
		return nil
	}
	for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams, &chaincfg.SigNetParams} {
		if _, err := btcutil.DecodeAddress(s, p); err == nil {
			return nil
		}
	}
	return fmt.Errorf("btc: %q is not a Bitcoin address (base58 or bech32 with a valid checksum, any network) nor a script id (%s<64 hex digits>)", s, ScriptIDPrefix)
}
