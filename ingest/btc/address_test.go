package btc

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/tracerproject/tracer/chain"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vectors: mainnet outputs and the addresses explorers show for them, the
// segwit ones from BIP173 and BIP350. Script identifiers were computed with
// Python's hashlib.
var addressTests = []struct {
	name   string
	script string
	params *chaincfg.Params
	addr   string
	typ    string
}{
	{"genesis coinbase p2pk (uncompressed)", "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac",
		nil, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", chain.ScriptP2PK},
	{"block 9 coinbase p2pk", "410411db93e1dcdb8a016b49840f8c53bc1eb68a382e97b1482ecad7b148a6909a5cb2e0eaddfb84ccf9744464f82e160bfa9b8b64f9d4c03f999b8643f656b412a3ac",
		&chaincfg.MainNetParams, "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S", chain.ScriptP2PK},
	{"p2pk compressed (generator point)", "210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798ac",
		&chaincfg.MainNetParams, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH", chain.ScriptP2PK},
	{"p2pk hybrid key (generator point, even y)", "410679be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8ac",
		&chaincfg.MainNetParams, "1H7NX5uHwz2Ks5JSqeDcUpvRPNubMhLoLN", chain.ScriptP2PK},
	{"p2pk hybrid key with the wrong parity", "410779be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8ac",
		&chaincfg.MainNetParams, "s-" + sha256Hex("410779be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8ac"), chain.ScriptNonStd},
	{"p2pk compressed key off the curve", "210200000000000000000000000000000000000000000000000000000000000005ac",
		&chaincfg.MainNetParams, "s-" + sha256Hex("210200000000000000000000000000000000000000000000000000000000000005ac"), chain.ScriptNonStd},
	{"p2pk uncompressed key off the curve", "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5eac",
		&chaincfg.MainNetParams, "s-" + sha256Hex("4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5eac"), chain.ScriptNonStd},
	{"p2pkh genesis key hash", "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac",
		&chaincfg.MainNetParams, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", chain.ScriptP2PKH},
	{"p2pkh testnet", "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac",
		&chaincfg.TestNet3Params, "mpXwg4jMtRhuSpVq4xS3HFHmCmWp9NyGKt", chain.ScriptP2PKH},
	{"p2sh (btcutil vector)", "a914e8c300c87986efa84c37c0519929019ef86eb5b487",
		&chaincfg.MainNetParams, "3NukJ6fYZJ5Kk8bPjycAnruZkE5Q7UW7i8", chain.ScriptP2SH},
	{"p2wpkh BIP173", "0014751e76e8199196d454941c45d1b3a323f1433bd6",
		&chaincfg.MainNetParams, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", chain.ScriptP2WPKH},
	{"p2wsh BIP173", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
		&chaincfg.MainNetParams, "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", chain.ScriptP2WSH},
	{"p2wsh testnet BIP173", "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
		&chaincfg.TestNet3Params, "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", chain.ScriptP2WSH},
	{"p2tr BIP350", "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
		&chaincfg.MainNetParams, "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", chain.ScriptP2TR},
	{"p2tr testnet BIP350", "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
		&chaincfg.TestNet3Params, "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", chain.ScriptP2TR},
	{"witness v1, 40 bytes BIP350", "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
		&chaincfg.MainNetParams, "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", chain.ScriptWitnessUn},
	{"witness v16 BIP350", "6002751e",
		&chaincfg.MainNetParams, "bc1sw50qgdz25j", chain.ScriptWitnessUn},
	{"witness v2 BIP350", "5210751e76e8199196d454941c45d1b3a323",
		&chaincfg.MainNetParams, "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", chain.ScriptWitnessUn},
	{"pay to anchor (v1, 2 bytes)", "51024e73",
		&chaincfg.MainNetParams, "bc1pfeessrawgf", chain.ScriptWitnessUn},
	{"witness v0 of 16 bytes is unspendable", "0010751e76e8199196d454941c45d1b3a323",
		&chaincfg.MainNetParams, "s-" + sha256Hex("0010751e76e8199196d454941c45d1b3a323"), chain.ScriptNonStd},
	{"bare multisig 1-of-2", "51210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f817982102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee552ae",
		&chaincfg.MainNetParams, "s-6eb3ac1f460d34871c2b21e1ce02f0c056bcf558a6d4942052b1856a4fe54f6d", chain.ScriptMultisig},
	{"multisig with m > n is nonstandard", "53210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f817982102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee552ae",
		&chaincfg.MainNetParams, "s-" + sha256Hex("53210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f817982102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee552ae"), chain.ScriptNonStd},
	{"op_return with data", "6a0b68656c6c6f20776f726c64", &chaincfg.MainNetParams, "", chain.ScriptNullData},
	{"bare op_return", "6a", &chaincfg.MainNetParams, "", chain.ScriptNullData},
	{"empty script", "", &chaincfg.MainNetParams, "s-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", chain.ScriptNonStd},
	{"op_true", "51", &chaincfg.MainNetParams, "s-" + sha256Hex("51"), chain.ScriptNonStd},
	{"p2pkh one byte short", "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f88ac", &chaincfg.MainNetParams,
		"s-" + sha256Hex("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f88ac"), chain.ScriptNonStd},
}

func sha256Hex(scriptHex string) string {
	b, err := hex.DecodeString(scriptHex)
	if err != nil {
		panic(err)
	}
	return ScriptID(b)[len(chain.ScriptIDPrefix):]
}

func TestScriptAddress(t *testing.T) {
	for _, tc := range addressTests {
		t.Run(tc.name, func(t *testing.T) {
			addr, typ := ScriptAddress(mustHex(t, tc.script), tc.params)
			if addr != tc.addr || typ != tc.typ {
				t.Errorf("got %q %s, want %q %s", addr, typ, tc.addr, tc.typ)
			}
		})
	}
}

func TestScriptID(t *testing.T) {
	a, b := mustHex(t, "51"), mustHex(t, "52")
	if ScriptID(a) != ScriptID([]byte{0x51}) {
		t.Error("same script: got different identifiers")
	}
	if ScriptID(a) == ScriptID(b) {
		t.Error("different scripts: got the same identifier")
	}
	if got := ScriptID(nil); got != "s-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty script: got %s, want s- and the SHA-256 of nothing", got)
	}
}

// txscriptType maps txscript's classes to ours where they agree by
// definition.
var txscriptType = map[txscript.ScriptClass]string{
	txscript.PubKeyHashTy:          chain.ScriptP2PKH,
	txscript.ScriptHashTy:          chain.ScriptP2SH,
	txscript.WitnessV0PubKeyHashTy: chain.ScriptP2WPKH,
	txscript.WitnessV0ScriptHashTy: chain.ScriptP2WSH,
	txscript.WitnessV1TaprootTy:    chain.ScriptP2TR,
	txscript.PubKeyTy:              chain.ScriptP2PK,
	txscript.NullDataTy:            chain.ScriptNullData,
}

// TestScriptAddressMatchesTxscript checks the byte patterns against btcd's
// txscript on every output of the real blocks, and of the first 14132
// mainnet blocks (mostly P2PK) when btcd's module has them.
func TestScriptAddressMatchesTxscript(t *testing.T) {
	for _, rb := range realBlocks {
		t.Run(rb.name, func(t *testing.T) {
			matchTxscript(t, [][]byte{rb.raw(t)})
		})
	}
	t.Run("mainnet 0-14131", func(t *testing.T) {
		matchTxscript(t, records(t, readData(t, btcdFile(t, btcd14131))))
	})
}

func matchTxscript(t *testing.T, raws [][]byte) {
	params := &chaincfg.MainNetParams
	counts := map[string]int{}
	for _, raw := range raws {
		for _, tx := range decode(t, raw).Transactions {
			for _, out := range tx.TxOut {
				addr, typ := ScriptAddress(out.PkScript, params)
				counts[typ]++
				class, addrs, _, _ := txscript.ExtractPkScriptAddrs(out.PkScript, params)
				want, ok := txscriptType[class]
				switch {
				case ok && class == txscript.PubKeyTy && len(addrs) == 0:
					// txscript could not parse the key: nonstandard for us.
					if typ != chain.ScriptNonStd {
						t.Errorf("script %x: got %s, want nonstandard (invalid key)", out.PkScript, typ)
					}
				case ok:
					if typ != want {
						t.Errorf("script %x: got type %s, want %s", out.PkScript, typ, want)
						continue
					}
					wantAddr := ""
					if len(addrs) == 1 {
						wantAddr = addrs[0].EncodeAddress()
						if class == txscript.PubKeyTy {
							wantAddr = addrs[0].(*btcutil.AddressPubKey).AddressPubKeyHash().EncodeAddress()
						}
					}
					if addr != wantAddr {
						t.Errorf("script %x: got address %q, want %q", out.PkScript, addr, wantAddr)
					}
				case class == txscript.MultiSigTy:
					if typ != chain.ScriptMultisig && typ != chain.ScriptNonStd {
						t.Errorf("script %x: got %s, want multisig", out.PkScript, typ)
					}
				default:
					if typ != chain.ScriptNonStd && typ != chain.ScriptNullData && typ != chain.ScriptWitnessUn {
						t.Errorf("script %x (txscript %s): got %s", out.PkScript, class, typ)
					}
				}
				if (typ == chain.ScriptMultisig || typ == chain.ScriptNonStd) && !strings.HasPrefix(addr, chain.ScriptIDPrefix) {
					t.Errorf("script %x: got address %q for %s, want a script identifier", out.PkScript, addr, typ)
				}
			}
		}
	}
	t.Logf("script types: %v", counts)
}

func FuzzScriptAddress(f *testing.F) {
	for _, tc := range addressTests {
		b, _ := hex.DecodeString(tc.script)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		addr, typ := ScriptAddress(script, &chaincfg.MainNetParams)
		switch typ {
		case chain.ScriptNullData:
			if addr != "" {
				t.Fatalf("nulldata with address %q", addr)
			}
		case chain.ScriptMultisig, chain.ScriptNonStd:
			if addr != ScriptID(script) {
				t.Fatalf("%s: got %q, want the script identifier", typ, addr)
			}
		default:
			if addr == "" || strings.HasPrefix(addr, chain.ScriptIDPrefix) {
				t.Fatalf("%s: got address %q", typ, addr)
			}
		}
	})
}

// TestSegwitAddressMatchesBech32 compares the hand-rolled encoder with
// btcutil's bech32 package for every witness version and program length of
// BIP141, on every network's HRP, with random programs.
func TestSegwitAddressMatchesBech32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams, &chaincfg.SigNetParams} {
		for version := byte(0); version <= 16; version++ {
			for n := 2; n <= 40; n++ {
				prog := make([]byte, n)
				for i := range prog {
					prog[i] = byte(rng.Uint32())
				}
				conv, err := bech32.ConvertBits(prog, 8, 5, true)
				if err != nil {
					t.Fatal(err)
				}
				data := append([]byte{version}, conv...)
				var want string
				if version == 0 {
					want, err = bech32.Encode(p.Bech32HRPSegwit, data)
				} else {
					want, err = bech32.EncodeM(p.Bech32HRPSegwit, data)
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := segwitAddress(p.Bech32HRPSegwit, version, prog, version != 0); got != want {
					t.Errorf("%s v%d %x: got %s, want %s", p.Name, version, prog, got, want)
				}
			}
		}
	}
}
