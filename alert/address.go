package alert

import (
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
)

var _ AddressCheck = CanonicalAddress

// CanonicalAddress validates a watched address and gives the form the
// chain's records use: Bitcoin bech32 in lower case, script ids in lower
// case, base58 as it is.
func CanonicalAddress(chainName, s string) (string, error) {
	switch chainName {
	case chain.BTC:
	case chain.ETH:
		// Lower case; mixed case must pass EIP-55.
		return labels.CanonicalAddress(chain.ETH, s)
	default:
		return "", fmt.Errorf("chain %q: alerts watch btc and eth addresses", chainName)
	}
	s = strings.TrimSpace(s)
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, chain.ScriptIDPrefix) {
		if err := chain.CheckBTCAddress(lower); err != nil {
			return "", err
		}
		return lower, nil
	}
	// One decode with the network the address's prefix names (a watch
	// list of a million addresses loads in seconds).
	var params *chaincfg.Params
	switch {
	case strings.HasPrefix(lower, "bcrt1"):
		params = &chaincfg.RegressionNetParams
	case strings.HasPrefix(lower, "bc1"), strings.HasPrefix(s, "1"), strings.HasPrefix(s, "3"):
		params = &chaincfg.MainNetParams
	case strings.HasPrefix(lower, "tb1"), strings.HasPrefix(s, "m"), strings.HasPrefix(s, "n"), strings.HasPrefix(s, "2"):
		params = &chaincfg.TestNet3Params // testnet4, signet and regtest base58 share its version bytes
	}
	if params != nil {
		if addr, err := btcutil.DecodeAddress(s, params); err == nil && addr.IsForNet(params) {
			if _, ok := addr.(*btcutil.AddressPubKey); ok {
				return s, nil
			}
			return addr.EncodeAddress(), nil
		}
	}
	if err := chain.CheckBTCAddress(s); err != nil {
		return "", err
	}
	return s, nil
}
