package btc

import "testing"

func TestParamsByName(t *testing.T) {
	for name, want := range map[string]string{"mainnet": "mainnet", "main": "mainnet", "testnet": "testnet3", "testnet3": "testnet3", "testnet4": "testnet4", "signet": "signet", "regtest": "regtest"} {
		p, err := ParamsByName(name)
		if err != nil || p.Name != want {
			t.Errorf("%s: got %v, %v; want %s", name, p, err, want)
		}
	}
	if _, err := ParamsByName("litecoin"); err == nil {
		t.Error("litecoin: got no error")
	}
}
